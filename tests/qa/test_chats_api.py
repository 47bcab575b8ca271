"""Chats in the API mirror (`/api/v1/p/<slug>/chats`, SPEC §5 and §9) against the stand-in provider over
real HTTP: the conversation doors as on the page, cursor pages, the history, a message answered through
the gateway (`source=chat`), and refusals in the LLM error shapes. Who may call which route is the
parity test's (tests/test_doors_parity.py) and the isolation walk's (tests/api/test_mirror_isolation.py).
"""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from byok.standin import REPLY_PREFIX
from projects.models import ApiKey, AuditEvent
from qa.models import Conversation, Memory, Message
from tests.api.conftest import ApiClient
from tests.factories import PLATFORM_KEY, make_spend
from usage.models import LlmUsageLog

QUESTION = "Which endpoints of the shop need a login?"


@pytest.fixture
def key(cast) -> tuple[ApiKey, str]:
    """A write key locked to cast.project, made by its owner."""
    return ApiKey.issue(
        organization=cast.org, project=cast.project, name="CI", scope="write", created_by=cast.owner
    )


@pytest.fixture
def api(key) -> ApiClient:
    return ApiClient(key[1])


def chats_url(project, *rest) -> str:
    return "/".join([f"/api/v1/p/{project.slug}/chats", *map(str, rest)])


def a_chat(project, title="Login coverage", user=None) -> Conversation:
    return Conversation.objects.create(project=project, title=title, created_by=user)


def rows(project) -> list[LlmUsageLog]:
    return list(LlmUsageLog.objects.filter(project=project).order_by("pk"))


def error(response) -> tuple[int, str]:
    return response.status_code, response.json()["error"]["code"]


# --- conversations ----------------------------------------------------------------------------------


def test_a_key_starts_a_conversation_in_its_creators_name(cast, api):
    response = api.post(chats_url(cast.project), json={})
    assert response.status_code == 201
    body = response.json()
    chat = Conversation.objects.get(project=cast.project)
    assert body["id"] == chat.pk
    assert (body["title"], body["message_count"], body["created_by"]) == (
        "New conversation",
        0,
        cast.owner.email,
    )
    assert set(body) == {"id", "title", "message_count", "created_by", "created_at", "updated_at"}
    assert AuditEvent.objects.filter(action="chat.created", project=cast.project).count() == 1


def test_a_title_given_at_the_start_is_cleaned_and_a_long_one_refused(cast, api):
    assert api.post(chats_url(cast.project), json={"title": "  Checkout   flow "}).json()["title"] == (
        "Checkout flow"
    )
    refused = api.post(chats_url(cast.project), json={"title": "x" * 201})
    assert error(refused) == (422, "validation_failed")
    assert "title" in refused.json()["error"]["fields"]
    assert Conversation.objects.filter(project=cast.project).count() == 1


def test_the_list_pages_newest_first_and_shows_only_this_projects_conversations(cast, api):
    made = [a_chat(cast.project, f"Chat {number}", cast.member) for number in range(5)]
    Message.objects.create(conversation=made[-1], role="user", content="Hello")
    a_chat(cast.other_project, "Globex secrets")
    first = api.get(chats_url(cast.project), limit=3).json()
    assert [item["title"] for item in first["items"]] == ["Chat 4", "Chat 3", "Chat 2"]
    assert first["items"][0]["message_count"] == 1
    assert first["items"][0]["created_by"] == cast.member.email
    second = api.get(chats_url(cast.project), limit=3, cursor=first["next_cursor"]).json()
    assert [item["title"] for item in second["items"]] == ["Chat 1", "Chat 0"]
    assert second["next_cursor"] is None
    assert error(api.get(chats_url(cast.project), cursor="bogus")) == (400, "invalid_cursor")


def test_the_list_costs_the_same_queries_for_2_or_30_conversations(cast, api, django_assert_num_queries):
    for number in range(2):
        a_chat(cast.project, f"Chat {number}", cast.member)
    api.get(chats_url(cast.project))  # the key's first use writes last_used_at once
    with CaptureQueriesContext(connection) as few:
        assert api.get(chats_url(cast.project)).status_code == 200
    for number in range(28):
        chat = a_chat(cast.project, f"More {number}", cast.admin if number % 2 else None)
        Message.objects.create(conversation=chat, role="user", content="Hi")
    with django_assert_num_queries(len(few)):
        assert len(api.get(chats_url(cast.project)).json()["items"]) == 30


def test_one_conversation_comes_with_its_history_and_the_usage_of_each_reply(cast, api, platform):
    chat = a_chat(cast.project, title="New conversation")
    api.post(chats_url(cast.project, chat.pk, "messages"), json={"text": "First question"})
    cast.project.cap_5h_usd = Decimal("0")
    cast.project.save(update_fields=["cap_5h_usd"])
    api.post(chats_url(cast.project, chat.pk, "messages"), json={"text": QUESTION})  # refused
    body = api.get(chats_url(cast.project, chat.pk)).json()
    assert (body["title"], body["message_count"]) == ("First question", 3)
    question, answer, unanswered = body["messages"]
    assert (question["role"], question["content"], question["unanswered"]) == (
        "user",
        "First question",
        False,
    )
    assert question["usage"] is None
    row = rows(cast.project)[0]
    assert (answer["role"], answer["content"]) == ("assistant", f"{REPLY_PREFIX}First question")
    assert answer["usage"] == {
        "model": row.model,
        "input_tokens": row.input_tokens,
        "cached_tokens": row.cached_tokens,
        "output_tokens": row.output_tokens,
        "latency_ms": row.latency_ms,
        "cost_usd": None if row.cost_usd is None else str(row.cost_usd),
    }
    assert (unanswered["content"], unanswered["unanswered"]) == (QUESTION, True)


def test_a_conversations_history_costs_the_same_queries_for_2_or_30_messages(cast, api, platform):
    chat = a_chat(cast.project)
    api.post(chats_url(cast.project, chat.pk, "messages"), json={"text": QUESTION})
    with CaptureQueriesContext(connection) as few:
        api.get(chats_url(cast.project, chat.pk))
    for number in range(14):
        api.post(chats_url(cast.project, chat.pk, "messages"), json={"text": f"{QUESTION} {number}"})
    with CaptureQueriesContext(connection) as many:
        assert len(api.get(chats_url(cast.project, chat.pk)).json()["messages"]) == 30
    assert len(many) == len(few)


def test_renaming_goes_through_the_door_and_a_blank_title_changes_nothing(cast, api):
    chat = a_chat(cast.project)
    renamed = api.patch(chats_url(cast.project, chat.pk), json={"title": "Checkout"})
    assert renamed.status_code == 200 and renamed.json()["title"] == "Checkout"
    refused = api.patch(chats_url(cast.project, chat.pk), json={"title": "   "})
    assert error(refused) == (422, "validation_failed")
    assert refused.json()["error"]["fields"] == {"title": ["Give the conversation a title."]}
    assert Conversation.objects.get(pk=chat.pk).title == "Checkout"
    assert AuditEvent.objects.filter(action="chat.renamed").count() == 1
    assert error(api.patch(chats_url(cast.project, chat.pk), json={})) == (422, "validation_failed")


def test_deleting_removes_the_messages_but_keeps_the_spend(cast, api, platform):
    chat = a_chat(cast.project)
    api.post(chats_url(cast.project, chat.pk, "messages"), json={"text": QUESTION})
    response = api.delete(chats_url(cast.project, chat.pk))
    assert response.status_code == 204
    assert not Conversation.objects.filter(pk=chat.pk).exists()
    assert not Message.objects.filter(conversation_id=chat.pk).exists()
    assert len(rows(cast.project)) == 1
    assert error(api.delete(chats_url(cast.project, chat.pk))) == (404, "conversation_not_found")
    assert AuditEvent.objects.filter(action="chat.deleted").count() == 1


def test_another_projects_conversation_is_not_found_through_this_slug(cast, api, platform):
    theirs = a_chat(cast.other_project, "Globex secrets")
    for method, rest, body in [
        ("GET", (), None),
        ("PATCH", (), {"title": "Mine"}),
        ("DELETE", (), None),
        ("POST", ("messages",), {"text": QUESTION}),
    ]:
        response = api.request(method, chats_url(cast.project, theirs.pk, *rest), json=body)
        assert error(response) == (404, "conversation_not_found"), method
    assert Conversation.objects.get(pk=theirs.pk).title == "Globex secrets"
    assert not Message.objects.filter(conversation=theirs).exists()
    assert platform.requests == []


def test_viewers_and_read_keys_read_but_cannot_change_anything(cast, client, platform):
    chat = a_chat(cast.project)
    client.force_login(cast.viewer)
    _, read = ApiKey.issue(organization=cast.org, project=cast.project, name="ro", scope="read")
    for caller in (ApiClient(client=client), ApiClient(read)):
        assert caller.get(chats_url(cast.project)).status_code == 200
        assert caller.get(chats_url(cast.project, chat.pk)).status_code == 200
        response = caller.post(chats_url(cast.project, chat.pk, "messages"), json={"text": QUESTION})
        assert response.status_code == 403
    assert not Message.objects.filter(conversation=chat).exists()
    assert platform.requests == []


# --- messages ---------------------------------------------------------------------------------------


def test_a_message_is_answered_through_the_gateway_with_the_key_on_the_usage_row(cast, api, key, platform):
    Memory.objects.add(project=cast.project, content="Test accounts live in the staging tenant")
    chat = a_chat(cast.project, title="New conversation")
    response = api.post(chats_url(cast.project, chat.pk, "messages"), json={"text": QUESTION})
    assert response.status_code == 201
    body = response.json()
    (row,) = rows(cast.project)
    assert (row.source, row.api_key, row.user, row.outcome) == ("chat", key[0], None, "ok")
    question, answer = Message.objects.filter(conversation=chat).order_by("pk")
    assert body["message"]["id"] == question.pk and body["message"]["content"] == QUESTION
    assert (question.created_by, answer.usage) == (cast.owner, row)  # the key acts for its creator
    assert body["reply"]["id"] == answer.pk
    assert body["reply"]["content"] == f"{REPLY_PREFIX}{QUESTION}"
    assert body["reply"]["usage"]["output_tokens"] == row.output_tokens
    # The same context as the page sends: who the assistant is, the memories, the history.
    sent = platform.requests[-1].body["messages"]
    assert cast.project.name in sent[0]["content"]
    assert "Test accounts live in the staging tenant" in sent[1]["content"]
    assert sent[-1] == {"role": "user", "content": QUESTION}
    assert Conversation.objects.get(pk=chat.pk).title == QUESTION
    assert PLATFORM_KEY not in response.content.decode()


def test_a_members_session_spends_in_their_own_name(cast, client, platform):
    chat = a_chat(cast.project)
    client.force_login(cast.member)
    response = ApiClient(client=client).post(
        chats_url(cast.project, chat.pk, "messages"), json={"text": QUESTION}
    )
    assert response.status_code == 201
    (row,) = rows(cast.project)
    assert (row.user, row.api_key) == (cast.member, None)


def test_a_reached_cap_is_a_429_with_retry_after_and_the_message_is_kept_for_a_retry(cast, api, platform):
    cast.project.cap_5h_usd = Decimal("1.00")
    cast.project.save(update_fields=["cap_5h_usd"])
    make_spend(cast.project, "1.50", ago=timedelta(hours=1))
    chat = a_chat(cast.project)
    response = api.post(chats_url(cast.project, chat.pk, "messages"), json={"text": QUESTION})
    assert error(response) == (429, "cap_exceeded")
    assert "5-hour platform limit" in response.json()["error"]["message"]
    # The spend ages out of the 5-hour window with its hour bucket: in 4 to 5 hours.
    assert 4 * 3600 - 60 < int(response["Retry-After"]) <= 5 * 3600
    (question,) = Message.objects.filter(conversation=chat)
    assert question.content == QUESTION
    assert platform.requests == []
    # Once the cap allows it, the same text answers the same message: no copy.
    cast.project.cap_5h_usd = None
    cast.project.save(update_fields=["cap_5h_usd"])
    retried = api.post(chats_url(cast.project, chat.pk, "messages"), json={"text": QUESTION})
    assert retried.status_code == 201 and retried.json()["message"]["id"] == question.pk
    assert [m.role for m in Message.objects.filter(conversation=chat).order_by("pk")] == ["user", "assistant"]


def test_byok_without_a_key_is_a_400_naming_it(cast, api, platform):
    cast.project.llm_mode, cast.project.llm_provider = "byok", "openai"
    cast.project.save()
    chat = a_chat(cast.project)
    response = api.post(chats_url(cast.project, chat.pk, "messages"), json={"text": QUESTION})
    assert error(response) == (400, "byok_not_configured")
    assert "type" not in response.json()["error"]  # OpenAI's `type` is for /api/v1/llm/ only


@pytest.mark.parametrize(
    ("switches", "status", "code"),
    [
        ({"status": 500}, 502, "provider_error"),
        ({"status": 401}, 502, "provider_auth_failed"),
        ({"stream_fault": "cut"}, 502, "provider_error"),  # the answer's body cut short
        ({"hang": 3}, 504, "provider_timeout"),
    ],
)
def test_provider_faults_are_502_and_a_timeout_504(cast, api, platform, settings, switches, status, code):
    settings.QODEX_LLM_TIMEOUT_SECONDS = 0.5
    platform.behave(**switches)
    chat = a_chat(cast.project)
    response = api.post(chats_url(cast.project, chat.pk, "messages"), json={"text": QUESTION})
    assert error(response) == (status, code)
    assert PLATFORM_KEY not in response.content.decode()
    assert PLATFORM_KEY[-4:] not in response.json()["error"]["message"]
    (row,) = rows(cast.project)
    assert row.error_code == code
    assert [m.role for m in Message.objects.filter(conversation=chat)] == ["user"]


@pytest.mark.parametrize("body", [{"text": "   "}, {"text": "x" * 20_001}, {}, {"text": None}])
def test_bad_text_is_refused_and_saves_and_spends_nothing(cast, api, platform, body):
    chat = a_chat(cast.project)
    response = api.post(chats_url(cast.project, chat.pk, "messages"), json=body)
    assert error(response) == (422, "validation_failed")
    assert "text" in json.dumps(response.json()["error"].get("fields", {}))
    assert not Message.objects.filter(conversation=chat).exists()
    assert platform.requests == [] and rows(cast.project) == []
