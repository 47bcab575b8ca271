"""The OpenAI-compatible endpoint (SPEC §5): the real `openai` SDK against the live server, whose platform
provider is the stand-in, over real HTTP at both ends."""

from __future__ import annotations

import logging
from datetime import timedelta
from decimal import Decimal

import openai
import pytest

from byok.models import ProviderCredential
from projects.models import ApiKey
from tests.factories import PLATFORM_KEY, make_project, make_spend
from usage.models import LlmUsageLog

OWN_KEY = "sk-own-project-key-11111111"
HELLO = [{"role": "user", "content": "Say hello"}]


def issue(cast, *, project=None, scope="write") -> tuple[ApiKey, str]:
    return ApiKey.issue(
        organization=cast.org, project=project, name="sdk", scope=scope, created_by=cast.owner
    )


@pytest.fixture
def locked(cast) -> tuple[ApiKey, str]:
    """A write key locked to cast.project."""
    return issue(cast, project=cast.project)


@pytest.fixture
def sdk(live_server):
    """`sdk(raw_key, **headers)` → the official client pointed at this server, without retries."""
    clients: list[openai.OpenAI] = []

    def _sdk(raw: str, *, max_retries: int = 0, **headers: str) -> openai.OpenAI:
        clients.append(
            openai.OpenAI(
                base_url=f"{live_server.url}/api/v1/llm",
                api_key=raw,
                max_retries=max_retries,
                default_headers=headers or None,
            )
        )
        return clients[-1]

    yield _sdk
    # A kept-alive connection holds its server thread, and that thread's database connection, open.
    for client in clients:
        client.close()


def rows(project) -> list[LlmUsageLog]:
    return list(LlmUsageLog.objects.filter(project=project).order_by("pk"))


def test_a_completion_through_the_sdk_returns_the_reply_and_writes_one_api_row_with_the_key(
    cast, platform, locked, sdk
):
    key, raw = locked
    completion = sdk(raw).chat.completions.create(
        model="gpt-4o-mini", messages=HELLO, temperature=0.2, max_tokens=50, top_p=0.9, stop=["\n\n"]
    )
    assert completion.object == "chat.completion"
    assert completion.id.startswith("chatcmpl-") and completion.created > 0
    assert completion.model == "gpt-4o-mini"
    assert completion.choices[0].message.role == "assistant"
    assert completion.choices[0].message.content == "Stand-in reply to: Say hello"
    assert completion.choices[0].finish_reason == "stop"
    (row,) = rows(cast.project)
    assert (row.source, row.funding, row.outcome, row.api_key, row.user) == (
        "api",
        "platform",
        "ok",
        key,
        None,
    )
    assert completion.usage.prompt_tokens == row.input_tokens > 0
    assert completion.usage.completion_tokens == row.output_tokens > 0
    assert completion.usage.total_tokens == row.input_tokens + row.output_tokens
    sent = platform.requests[-1]
    assert sent.api_key == PLATFORM_KEY
    assert sent.body["temperature"] == 0.2 and sent.body["max_tokens"] == 50
    assert sent.body["top_p"] == 0.9 and sent.body["stop"] == ["\n\n"]


def test_without_a_model_the_projects_default_answers(cast, platform, locked, sdk):
    completion = sdk(locked[1]).chat.completions.create(model=None, messages=HELLO)
    assert completion.model == "gpt-4o-mini"  # the platform provider's default
    assert platform.requests[-1].body["model"] == "gpt-4o-mini"


def test_unknown_parameters_reach_the_provider_as_they_are(cast, platform, locked, sdk):
    sdk(locked[1]).chat.completions.create(
        model="gpt-4o-mini", messages=HELLO, user="end-user-7", extra_body={"vendor_knob": {"a": 1}}
    )
    sent = platform.requests[-1].body
    assert sent["user"] == "end-user-7" and sent["vendor_knob"] == {"a": 1}


def test_streaming_through_the_sdk_gives_the_text_the_usage_and_one_row(cast, platform, locked, sdk):
    key, raw = locked
    chunks = list(
        sdk(raw).chat.completions.create(
            model="gpt-4o-mini", messages=HELLO, stream=True, stream_options={"include_usage": True}
        )
    )
    text = "".join(chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices)
    assert text == "Stand-in reply to: Say hello"
    assert all(chunk.object == "chat.completion.chunk" and chunk.model == "gpt-4o-mini" for chunk in chunks)
    assert len({chunk.id for chunk in chunks}) == 1
    assert chunks[0].choices[0].delta.role == "assistant"
    assert [chunk.choices[0].finish_reason for chunk in chunks if chunk.choices][-1] == "stop"
    assert chunks[-1].choices == []
    (row,) = rows(cast.project)
    assert (row.source, row.outcome, row.api_key) == ("api", "ok", key)
    assert chunks[-1].usage.prompt_tokens == row.input_tokens
    assert chunks[-1].usage.completion_tokens == row.output_tokens


def test_a_stream_is_server_sent_events_with_no_usage_chunk_unless_asked(cast, platform, locked, sdk):
    raw = sdk(locked[1]).chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=HELLO, stream=True
    )
    assert raw.headers["Content-Type"].startswith("text/event-stream")
    chunks = list(raw.parse())
    assert all(chunk.choices and chunk.usage is None for chunk in chunks)
    assert len(rows(cast.project)) == 1


def test_a_stream_the_provider_breaks_before_any_text_is_a_502_not_an_empty_reply(
    cast, platform, locked, sdk
):
    # The stand-in sends its role chunk, then a line that isn't JSON: no text ever arrives.
    with pytest.raises(openai.InternalServerError) as failed:
        sdk(locked[1]).chat.completions.create(
            model="gpt-4o-mini?malformed=not_json", messages=HELLO, stream=True
        )
    assert failed.value.status_code == 502
    assert "isn’t a chat completion" in failed.value.body["message"]
    (row,) = rows(cast.project)
    assert (row.outcome, row.error_code) == ("error", "provider_error")


def test_a_stream_the_provider_breaks_after_some_text_ends_with_an_error_event(cast, platform, locked, sdk):
    stream = sdk(locked[1]).chat.completions.create(
        model="gpt-4o-mini?stream_fault=cut", messages=HELLO, stream=True
    )
    received = []
    with pytest.raises(openai.APIError) as failed:
        for chunk in stream:
            received += [choice.delta.content or "" for choice in chunk.choices]
    assert "".join(received) and "Stand-in reply to: Say hello".startswith("".join(received))
    assert failed.value.message.startswith("The connection to the provider dropped in the middle")
    assert failed.value.body["code"] == "provider_error"
    (row,) = rows(cast.project)
    assert (row.source, row.outcome, row.error_code) == ("api", "error", "provider_error")


def test_the_models_the_project_can_use_are_listed(cast, platform, locked, sdk):
    listed = sdk(locked[1]).models.list()
    assert [model.id for model in listed] == platform.models
    assert {(model.object, model.owned_by) for model in listed} == {("model", "standin")}
    assert rows(cast.project) == []  # listing costs nothing


def test_a_read_key_lists_models_but_may_not_spend(cast, platform, sdk):
    _, raw = issue(cast, project=cast.project, scope="read")
    assert len(sdk(raw).models.list().data) == len(platform.models)
    with pytest.raises(openai.PermissionDeniedError) as refused:
        sdk(raw).chat.completions.create(model="gpt-4o-mini", messages=HELLO)
    assert refused.value.body == {
        "code": "insufficient_scope",
        "message": refused.value.body["message"],
        "type": "permission_error",
    }
    assert rows(cast.project) == []
    assert not [request for request in platform.requests if request.path.endswith("/chat/completions")]


def test_an_org_wide_key_names_its_project_with_x_project_id(cast, platform, sdk):
    second = make_project(cast.org, "Checkout", slug="checkout")
    key, raw = issue(cast)
    with pytest.raises(openai.BadRequestError) as refused:
        sdk(raw).chat.completions.create(model="gpt-4o-mini", messages=HELLO)
    assert refused.value.body["code"] == "project_required"
    assert refused.value.body["type"] == "invalid_request_error"

    sdk(raw, **{"X-Project-ID": second.public_id}).chat.completions.create(
        model="gpt-4o-mini", messages=HELLO
    )
    (row,) = rows(second)
    assert (row.api_key, row.source) == (key, "api")
    assert rows(cast.project) == []


def test_a_locked_key_never_reaches_another_project(cast, platform, locked, sdk):
    second = make_project(cast.org, "Checkout", slug="checkout")
    with pytest.raises(openai.PermissionDeniedError) as refused:
        sdk(locked[1], **{"X-Project-ID": second.public_id}).chat.completions.create(
            model="gpt-4o-mini", messages=HELLO
        )
    assert refused.value.body["code"] == "project_forbidden"
    assert rows(second) == [] and rows(cast.project) == []


def test_an_invalid_key_is_a_401_with_the_openai_type(cast, platform, sdk):
    with pytest.raises(openai.AuthenticationError) as refused:
        sdk("qdx_" + "x" * 40).chat.completions.create(model="gpt-4o-mini", messages=HELLO)
    assert refused.value.body["code"] == "invalid_api_key"
    assert refused.value.body["type"] == "authentication_error"


def test_a_reached_cap_is_a_rate_limit_error_with_retry_after(cast, platform, locked, sdk):
    cast.project.cap_5h_usd = Decimal("1.00")
    cast.project.save()
    make_spend(cast.project, "1.50", ago=timedelta(hours=1))
    with pytest.raises(openai.RateLimitError) as refused:
        sdk(locked[1]).chat.completions.create(model="gpt-4o-mini", messages=HELLO)
    error = refused.value
    assert error.status_code == 429
    assert (error.body["code"], error.body["type"]) == ("cap_exceeded", "rate_limit_error")
    assert "5-hour platform limit" in error.body["message"]
    # The spend ages out of the 5-hour window with its hour bucket: in 4 to 5 hours.
    assert 4 * 3600 - 60 < int(error.response.headers["Retry-After"]) <= 5 * 3600
    assert error.response.headers["X-Should-Retry"] == "false"
    assert rows(cast.project)[-1].outcome == "cap_exceeded"
    assert platform.requests == []


def test_the_sdk_does_not_retry_a_reached_cap(cast, platform, locked, sdk):
    cast.project.cap_5h_usd = Decimal("0")
    cast.project.save()
    with pytest.raises(openai.RateLimitError):
        sdk(locked[1], max_retries=2).chat.completions.create(model="gpt-4o-mini", messages=HELLO)
    assert len(rows(cast.project)) == 1


def test_byok_without_a_key_is_a_bad_request_naming_it(cast, platform, locked, sdk):
    cast.project.llm_mode, cast.project.llm_provider = "byok", "openai"
    cast.project.save()
    with pytest.raises(openai.BadRequestError) as refused:
        sdk(locked[1]).chat.completions.create(model="gpt-4o-mini", messages=HELLO)
    assert (refused.value.body["code"], refused.value.body["type"]) == (
        "byok_not_configured",
        "invalid_request_error",
    )
    with pytest.raises(openai.BadRequestError):
        sdk(locked[1]).models.list()


def test_byok_uses_the_projects_own_key_for_calls_and_models(cast, platform, locked, sdk):
    ProviderCredential.objects.create(
        project=cast.project, provider="openai", api_key=OWN_KEY, base_url=platform.url
    )
    cast.project.llm_mode, cast.project.llm_provider = "byok", "openai"
    cast.project.save()
    sdk(locked[1]).chat.completions.create(model="gpt-4o-mini", messages=HELLO)
    sdk(locked[1]).models.list()
    assert {request.api_key for request in platform.requests} == {OWN_KEY}
    assert rows(cast.project)[0].funding == "byok"


def test_a_provider_fault_is_a_502_and_a_timeout_a_504(cast, platform, locked, sdk, settings):
    with pytest.raises(openai.InternalServerError) as failed:
        sdk(locked[1]).chat.completions.create(model="gpt-4o-mini?status=500", messages=HELLO)
    assert failed.value.status_code == 502
    assert (failed.value.body["code"], failed.value.body["type"]) == ("provider_error", "api_error")

    settings.QODEX_LLM_TIMEOUT_SECONDS = 0.5
    with pytest.raises(openai.InternalServerError) as failed:
        sdk(locked[1]).chat.completions.create(model="gpt-4o-mini?hang=3", messages=HELLO)
    assert failed.value.status_code == 504
    assert (failed.value.body["code"], failed.value.body["type"]) == ("provider_timeout", "timeout_error")
    assert [row.error_code for row in rows(cast.project)] == ["provider_error", "provider_timeout"]

    platform.behave(status=500)
    with pytest.raises(openai.InternalServerError) as failed:
        sdk(locked[1]).models.list()
    assert failed.value.status_code == 502


def test_a_provider_rejecting_the_request_is_a_400(cast, platform, locked, sdk):
    with pytest.raises(openai.BadRequestError) as refused:
        sdk(locked[1]).chat.completions.create(model="gpt-4o-mini?status=400", messages=HELLO)
    assert refused.value.body["code"] == "invalid_request"


def test_requests_the_gateway_cant_answer_in_full_are_refused_before_any_call(cast, platform, locked, sdk):
    client = sdk(locked[1])
    tool = {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}
    with pytest.raises(openai.BadRequestError) as refused:
        client.chat.completions.create(model="gpt-4o-mini", messages=HELLO, tools=[tool])
    assert "`tools` isn’t supported" in refused.value.body["message"]
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="gpt-4o-mini", messages=HELLO, n=2)
    with pytest.raises(openai.UnprocessableEntityError) as refused:
        client.chat.completions.create(model="gpt-4o-mini", messages=[])
    assert (
        refused.value.body["type"] == "invalid_request_error" and "messages" in refused.value.body["fields"]
    )
    assert platform.requests == [] and rows(cast.project) == []


def test_a_session_call_records_the_user_and_no_key(cast, platform, login):
    client = login(cast.member)
    response = client.post(
        "/api/v1/llm/chat/completions",
        {"messages": HELLO},
        content_type="application/json",
        headers={"X-Project-ID": cast.project.public_id},
    )
    assert response.status_code == 200, response.content
    assert response.json()["choices"][0]["message"]["content"] == "Stand-in reply to: Say hello"
    (row,) = rows(cast.project)
    assert (row.user, row.api_key, row.source) == (cast.member, None, "api")


def test_a_viewers_session_may_not_spend(cast, platform, login):
    response = login(cast.viewer).post(
        "/api/v1/llm/chat/completions",
        {"messages": HELLO},
        content_type="application/json",
        headers={"X-Project-ID": cast.project.public_id},
    )
    assert response.status_code == 403
    assert response.json()["error"]["type"] == "permission_error"


def test_no_key_ever_appears_in_a_response_or_a_log_line(cast, platform, locked, sdk, caplog, settings):
    caplog.set_level(logging.DEBUG)
    raw = locked[1]
    ProviderCredential.objects.create(
        project=cast.project, provider="openai", api_key=OWN_KEY, base_url=platform.url
    )
    platform.rejected_keys.add(OWN_KEY)
    client = sdk(raw)
    seen: list[str] = []
    client.chat.completions.create(model="gpt-4o-mini", messages=HELLO).model_dump_json()
    seen.append(client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=HELLO).text)
    for model in ("gpt-4o-mini?status=401", "gpt-4o-mini?status=500"):
        with pytest.raises(openai.APIStatusError) as failed:
            client.chat.completions.create(model=model, messages=HELLO)
        seen.append(failed.value.response.text)
    cast.project.llm_mode, cast.project.llm_provider = "byok", "openai"
    cast.project.save()
    for call in (
        lambda: client.chat.completions.create(model="gpt-4o-mini", messages=HELLO),
        lambda: client.chat.completions.create(model="gpt-4o-mini", messages=HELLO, stream=True),
        lambda: client.models.list(),
    ):
        with pytest.raises(openai.APIStatusError) as failed:
            call()
        assert failed.value.status_code == 502
        seen.append(failed.value.response.text)
    assert caplog.records  # the SDKs and the server did log
    logged = [record.getMessage() for record in caplog.records]
    for secret in (PLATFORM_KEY, OWN_KEY, raw, OWN_KEY[-12:], raw[4:]):
        assert not [text for text in seen + logged if secret in text], secret


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b"{not json", 400, "invalid_json"),
        (b'["a list"]', 422, "validation_failed"),
        (b'{"messages": "hi"}', 422, "validation_failed"),
        (b'{"messages": ["hi"]}', 422, "validation_failed"),
        (b'{"model": 7, "messages": [{"role": "user", "content": "x"}]}', 422, "validation_failed"),
        (b'{"messages": [{"role": "user", "content": "x"}], "temperature": "hot"}', 422, "validation_failed"),
        (b'{"messages": [{"role": "user", "content": "x"}], "max_tokens": 0}', 422, "validation_failed"),
        (
            b'{"messages": [{"role": "user", "content": "x"}], "stream_options": "on"}',
            422,
            "validation_failed",
        ),
        (b'{"messages": [{"role": "user", "content": "x"}], "seed": 1e999}', 400, "invalid_number"),
        (b'{"messages": [{"role": "user", "content": "x"}], "n": 3}', 400, "invalid_request"),
    ],
)
def test_a_bad_body_is_refused_in_our_shape_with_the_openai_type_and_costs_nothing(
    cast, platform, locked, client, body, status, code
):
    response = client.post(
        "/api/v1/llm/chat/completions",
        body,
        content_type="application/json",
        headers={"Authorization": f"Bearer {locked[1]}"},
    )
    assert response.status_code == status, response.content
    error = response.json()["error"]
    assert (error["code"], error["type"]) == (code, "invalid_request_error")
    assert error["message"]
    assert platform.requests == [] and rows(cast.project) == []


def test_other_methods_and_paths_under_llm_answer_our_shape_with_the_openai_type(cast, locked, client):
    bearer = {"Authorization": f"Bearer {locked[1]}"}
    wrong_method = client.get("/api/v1/llm/chat/completions", headers=bearer)
    assert wrong_method.status_code == 405
    assert wrong_method.json()["error"]["type"] == "invalid_request_error"
    missing = client.post("/api/v1/llm/embeddings", {"input": "x"}, "application/json", headers=bearer)
    assert missing.status_code == 404
    assert missing.json()["error"] == {
        "code": "not_found",
        "message": missing.json()["error"]["message"],
        "type": "not_found_error",
    }
    # Elsewhere the shape stays as it was.
    assert "type" not in client.get("/api/v1/nowhere", headers=bearer).json()["error"]
