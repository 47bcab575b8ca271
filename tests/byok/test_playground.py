"""The playground (/p/<slug>/playground/, SPEC §9) against the stand-in provider over real HTTP: the
no-JS POST, the server-sent-event stream, refusals, who may send, and prompts kept out of URLs."""

from __future__ import annotations

import re
from decimal import Decimal

from django.urls import reverse

from byok.models import ProviderCredential
from projects.management.commands.rundemo import start_offline_llm
from tests.factories import PLATFORM_KEY
from tests.sse import events, stream_url
from usage.models import LlmUsageLog

PROMPT = "Log in as alice with password hunter2-s3cret"
HTMX = {"HTTP_HX_REQUEST": "true"}


def page_url(project) -> str:
    return reverse("projects:playground", kwargs={"slug": project.slug})


def form(**changes) -> dict:
    return {
        "model": "gpt-4o-mini",
        "system": "Answer briefly.",
        "prompt": PROMPT,
        "temperature": "0.7",
        "max_tokens": "200",
        **changes,
    }


def rows(project) -> list[LlmUsageLog]:
    return list(LlmUsageLog.objects.filter(project=project).order_by("pk"))


def test_a_member_sending_without_javascript_sees_the_whole_reply_and_its_figures(cast, login, platform):
    response = login(cast.member).post(page_url(cast.project), form())
    assert response.status_code == 200
    (row,) = rows(cast.project)
    assert (row.source, row.user, row.outcome, row.model) == ("playground", cast.member, "ok", "gpt-4o-mini")
    sent = platform.requests[-1].body
    assert sent["messages"] == [
        {"role": "system", "content": "Answer briefly."},
        {"role": "user", "content": PROMPT},
    ]
    assert (sent["temperature"], sent["max_tokens"]) == (0.7, 200)
    page = response.content.decode()
    assert f"Stand-in reply to: {PROMPT}" in page
    assert f"{row.input_tokens}</span> in ({row.cached_tokens} cached)" in page
    assert f"{row.output_tokens}</span> out" in page
    assert f"{row.latency_ms} ms" in page
    assert row.cost_usd is not None and f"${row.cost_usd:.8f}" in page


def test_the_stream_delivers_the_deltas_then_the_figures(cast, login, platform):
    client = login(cast.member)
    posted = client.post(page_url(cast.project), form(), **HTMX)
    assert posted.status_code == 200
    assert rows(cast.project) == []  # posting only holds the prompt; the stream makes the call
    response = client.get(stream_url(posted))
    assert response["Content-Type"] == "text/event-stream"
    received = events(response)
    deltas = [data for name, data in received if name == "delta"]
    assert len(deltas) > 1
    assert "".join(deltas) == f"Stand-in reply to: {PROMPT}"
    name, done = received[-1]
    assert name == "done"
    (row,) = rows(cast.project)
    assert (row.source, row.user, row.outcome) == ("playground", cast.member, "ok")
    assert f"{row.input_tokens}</span> in" in done["html"]
    assert f"{row.output_tokens}</span> out" in done["html"]
    assert f"{row.latency_ms} ms" in done["html"]
    assert f"${row.cost_usd:.8f}" in done["html"]
    assert "gpt-4o-mini" in done["html"]


def test_a_held_prompt_streams_once(cast, login, platform):
    client = login(cast.member)
    url = stream_url(client.post(page_url(cast.project), form(), **HTMX))
    events(client.get(url))
    assert events(client.get(url)) == [
        ("refusal", {"message": "This prompt expired or was already answered. Send it again."})
    ]
    assert len(rows(cast.project)) == 1


def test_a_cap_refusal_shows_its_message_and_keeps_the_prompt(cast, login, platform):
    cast.project.cap_5h_usd = Decimal("0")
    cast.project.save(update_fields=["cap_5h_usd"])
    client = login(cast.member)
    response = client.post(page_url(cast.project), form())
    page = response.content.decode()
    assert "reached its 5-hour platform limit" in page
    assert PROMPT in page  # back in the textarea
    assert "Stand-in reply" not in page
    # Streamed: the refusal comes as an event; the form the user typed in is not replaced.
    posted = client.post(page_url(cast.project), form(), **HTMX)
    assert PROMPT in posted.content.decode()
    ((name, data),) = events(client.get(stream_url(posted)))
    assert name == "refusal" and "reached its 5-hour platform limit" in data["message"]
    assert [row.outcome for row in rows(cast.project)] == ["cap_exceeded", "cap_exceeded"]
    assert platform.requests == []


def test_a_reply_that_breaks_off_mid_stream_ends_with_the_reason_and_one_error_row(cast, login, platform):
    platform.behave(stream_fault="cut")
    client = login(cast.member)
    posted = client.post(page_url(cast.project), form(), **HTMX)
    assert PROMPT in posted.content.decode()  # the form keeps the prompt
    *deltas, (name, data) = events(client.get(stream_url(posted)))
    assert deltas and {event for event, _ in deltas} == {"delta"}
    assert name == "refusal"
    assert data["message"].startswith("The connection to the provider dropped in the middle of the reply.")
    (row,) = rows(cast.project)
    assert (row.source, row.outcome, row.error_code, row.cost_usd) == (
        "playground",
        "error",
        "provider_error",
        None,
    )


def test_a_provider_that_rejects_the_key_is_explained(cast, login, platform):
    platform.behave(status=401)
    page = login(cast.member).post(page_url(cast.project), form()).content.decode()
    assert "The provider refused the key (401)" in page
    assert PROMPT in page
    assert PLATFORM_KEY not in page


def test_bad_input_is_refused_with_messages_and_sends_nothing(cast, login, platform):
    response = login(cast.member).post(
        page_url(cast.project), form(prompt="", temperature="2.5", max_tokens="5000", model="not-listed")
    )
    assert response.status_code == 400
    page = response.content.decode()
    assert "Write a prompt to send." in page
    assert "less than or equal to 2" in page
    assert "less than or equal to 4096" in page
    assert "Select a valid choice" in page
    assert rows(cast.project) == [] and platform.requests == []


def test_viewers_see_the_form_disabled_and_cannot_send(cast, login, platform):
    client = login(cast.viewer)
    page = client.get(page_url(cast.project)).content.decode()
    assert "Only members, admins and owners can send prompts here" in page
    assert re.search(r"<fieldset[^>]* disabled>", page)
    assert client.post(page_url(cast.project), form()).status_code == 403
    assert client.post(page_url(cast.project), form(), **HTMX).status_code == 403
    # Even holding a stream URL a member got, a viewer's GET is refused before anything is looked up.
    member = login(cast.member)
    url = stream_url(member.post(page_url(cast.project), form(), **HTMX))
    assert login(cast.viewer).get(url).status_code == 403
    assert rows(cast.project) == [] and platform.requests == []


def test_members_see_an_enabled_form_with_the_platform_models(cast, login, platform):
    page = login(cast.member).get(page_url(cast.project)).content.decode()
    assert "<fieldset" in page and not re.search(r"<fieldset[^>]* disabled>", page)
    assert '<option value="gpt-4o-mini" selected>' in page  # the provider's default model comes first
    assert '<option value="gpt-4o">' in page  # from the price table
    assert "claude" not in page  # another provider's models are not offered
    assert platform.requests == []  # the page asks the provider nothing


def test_the_prompt_is_never_in_a_url(cast, login, platform):
    client = login(cast.member)
    posted = client.post(page_url(cast.project), form(), **HTMX)
    urls = re.findall(r'(?:href|src|action|hx-post|hx-get|data-stream)="([^"]*)"', posted.content.decode())
    assert stream_url(posted) in urls
    for word in ("hunter2", "alice", "Answer"):
        assert all(word not in url for url in urls), urls
    assert PROMPT not in posted.get("Location", "")


def test_an_unpriced_model_shows_unpriced(cast, login, llm_standin):
    ProviderCredential.objects.create(
        project=cast.project,
        provider="openai",
        api_key="sk-own-project-key-11111111",
        base_url=llm_standin.url,
        default_model="house-model-unpriced",
    )
    cast.project.llm_mode, cast.project.llm_provider = "byok", "openai"
    cast.project.save(update_fields=["llm_mode", "llm_provider"])
    response = login(cast.member).post(page_url(cast.project), form(model="house-model-unpriced"))
    page = response.content.decode()
    assert "Calls use this project’s own OpenAI key." in page
    assert "Stand-in reply to:" in page
    assert '<dd data-figure="cost">unpriced</dd>' in page
    (row,) = rows(cast.project)
    assert (row.funding, row.cost_usd) == ("byok", None)


def test_a_byok_project_without_a_key_is_told_to_add_one(cast, login, platform):
    cast.project.llm_mode = "byok"
    cast.project.save(update_fields=["llm_mode"])
    client = login(cast.member)
    assert "<fieldset" in client.get(page_url(cast.project)).content.decode()
    page = client.post(page_url(cast.project), form(model="")).content.decode()
    assert "set to use its own LLM key, but none is saved" in page
    assert PROMPT in page
    assert [row.error_code for row in rows(cast.project)] == ["byok_not_configured"]
    assert platform.requests == []


def test_under_rundemo_without_a_platform_key_the_playground_answers_from_the_offline_standin(
    cast, login, settings
):
    settings.DEBUG = True
    settings.QODEX_PLATFORM_PROVIDER = "openai"
    settings.QODEX_PLATFORM_API_KEY = ""
    settings.QODEX_PLATFORM_BASE_URL = ""
    standin = start_offline_llm()
    try:
        assert standin is not None
        client = login(cast.member)
        page = client.get(page_url(cast.project)).content.decode()
        assert "standin-mini — offline demo model (stand-in)" in page
        response = client.post(page_url(cast.project), form(model="standin-mini"))
        page = response.content.decode()
        assert f"Stand-in reply to: {PROMPT}" in page
        (row,) = rows(cast.project)
        assert (row.provider, row.model) == ("standin", "standin-mini")
        assert row.cost_usd is not None  # the price file prices the stand-in's models
    finally:
        standin.stop()


def test_rundemo_leaves_a_configured_platform_key_alone(settings):
    settings.DEBUG = True
    settings.QODEX_PLATFORM_API_KEY = PLATFORM_KEY
    assert start_offline_llm() is None
    settings.DEBUG = False
    settings.QODEX_PLATFORM_API_KEY = ""
    assert start_offline_llm() is None
    assert settings.QODEX_PLATFORM_API_KEY == ""
