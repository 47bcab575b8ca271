"""The chat (/p/<slug>/chat/, SPEC §9) against the stand-in provider over real HTTP: conversations made,
renamed and deleted by role, a message exchange with its usage row, the memories sent as context,
refusals that keep the text, isolation and constant query counts."""

from __future__ import annotations

import json
import re
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from projects.models import AuditEvent
from qa.models import Conversation, Memory, Message
from tests.factories import PLATFORM_KEY
from tests.sse import events, stream_url
from usage.models import LlmUsageLog

HTMX = {"HTTP_HX_REQUEST": "true"}
QUESTION = "Which endpoints of the shop need a login?"


def list_url(project) -> str:
    return reverse("projects:chat", kwargs={"slug": project.slug})


def chat_url(chat) -> str:
    return reverse("projects:chat_conversation", kwargs={"slug": chat.project.slug, "pk": chat.pk})


def a_chat(project, title="Login coverage", user=None) -> Conversation:
    return Conversation.objects.create(project=project, title=title, created_by=user)


def rows(project) -> list[LlmUsageLog]:
    return list(LlmUsageLog.objects.filter(project=project).order_by("pk"))


# --- the list and the conversation doors ------------------------------------------------------------


def test_an_empty_list_offers_a_new_conversation_to_members_only(cast, login):
    page = login(cast.member).get(list_url(cast.project)).content.decode()
    assert "No conversations yet." in page and "New conversation" in page
    page = login(cast.viewer).get(list_url(cast.project)).content.decode()
    assert "No conversations yet." in page and "New conversation" not in page


def test_a_member_starts_a_conversation_and_lands_on_it(cast, login):
    response = login(cast.member).post(list_url(cast.project), {"action": "new"})
    chat = Conversation.objects.get(project=cast.project)
    assert response.status_code == 302 and response["Location"] == chat_url(chat)
    assert (chat.title, chat.created_by) == ("New conversation", cast.member)
    assert AuditEvent.objects.filter(action="chat.created", project=cast.project).count() == 1


def test_the_list_shows_the_most_recently_active_conversation_first(cast, login):
    old, recent = a_chat(cast.project, "Old one"), a_chat(cast.project, "Recent one")
    Conversation.objects.filter(pk=old.pk).update(updated_at=recent.updated_at.replace(year=2020))
    page = login(cast.viewer).get(list_url(cast.project)).content.decode()
    assert page.index("Recent one") < page.index("Old one")


def test_a_member_renames_a_conversation_and_a_blank_title_changes_nothing(cast, login):
    chat = a_chat(cast.project)
    client = login(cast.member)
    response = client.post(chat_url(chat), {"action": "rename", "title": "  Checkout   flow "})
    assert response.status_code == 302
    assert Conversation.objects.get(pk=chat.pk).title == "Checkout flow"
    response = client.post(chat_url(chat), {"action": "rename", "title": "   "}, follow=True)
    assert "Give the conversation a title." in response.content.decode()
    assert Conversation.objects.get(pk=chat.pk).title == "Checkout flow"
    assert AuditEvent.objects.filter(action="chat.renamed").count() == 1


def test_deleting_a_conversation_removes_its_messages_but_keeps_the_spend(cast, login, platform):
    chat = a_chat(cast.project)
    client = login(cast.member)
    client.post(chat_url(chat), {"text": QUESTION})
    assert len(rows(cast.project)) == 1
    response = client.post(chat_url(chat), {"action": "delete"})
    assert response.status_code == 302 and response["Location"] == list_url(cast.project)
    assert not Conversation.objects.filter(pk=chat.pk).exists()
    assert not Message.objects.filter(conversation_id=chat.pk).exists()
    assert len(rows(cast.project)) == 1


def test_a_viewer_reads_a_conversation_but_cannot_post_to_it(cast, login, platform):
    chat = a_chat(cast.project)
    Message.objects.create(conversation=chat, role="user", content="Earlier question")
    client = login(cast.viewer)
    page = client.get(chat_url(chat)).content.decode()
    assert "Earlier question" in page
    assert "can read this conversation but not send messages" in page
    assert re.search(r"<fieldset[^>]*disabled", page)
    for data in ({"text": QUESTION}, {"action": "rename", "title": "x"}, {"action": "delete"}):
        assert client.post(chat_url(chat), data).status_code == 403
    assert client.post(list_url(cast.project), {"action": "new"}).status_code == 403
    assert Conversation.objects.filter(project=cast.project).count() == 1
    assert Message.objects.filter(conversation=chat).count() == 1
    assert rows(cast.project) == []


def test_another_projects_conversation_is_a_404_everywhere(cast, login, platform):
    theirs = a_chat(cast.other_project, "Globex secrets")
    client = login(cast.owner)
    url = reverse("projects:chat_conversation", kwargs={"slug": cast.project.slug, "pk": theirs.pk})
    assert client.get(url).status_code == 404
    for data in ({"text": QUESTION}, {"action": "rename", "title": "Mine"}, {"action": "delete"}):
        assert client.post(url, data).status_code == 404
    assert Conversation.objects.get(pk=theirs.pk).title == "Globex secrets"
    assert not Message.objects.filter(conversation=theirs).exists()
    assert rows(cast.project) == [] and platform.requests == []


# --- sending ----------------------------------------------------------------------------------------


def test_a_message_without_javascript_is_answered_and_linked_to_its_usage_row(cast, login, platform):
    chat = a_chat(cast.project, title="New conversation")
    response = login(cast.member).post(chat_url(chat), {"text": QUESTION})
    assert response.status_code == 302 and response["Location"] == chat_url(chat)
    (row,) = rows(cast.project)
    assert (row.source, row.user, row.outcome) == ("chat", cast.member, "ok")
    question, answer = Message.objects.filter(conversation=chat).order_by("pk")
    assert (question.role, question.content, question.created_by) == ("user", QUESTION, cast.member)
    assert (answer.role, answer.usage) == ("assistant", row)
    assert answer.content == f"Stand-in reply to: {QUESTION}"
    chat.refresh_from_db()
    assert chat.title == QUESTION  # a new conversation is named after its first message
    page = login(cast.member).get(chat_url(chat)).content.decode()
    assert answer.content in page and "Not answered" not in page


def test_the_memories_and_the_history_are_what_the_provider_is_sent(cast, login, platform):
    Memory.objects.add(project=cast.project, content="Test accounts live in the staging tenant")
    Memory.objects.add(project=cast.other_project, content="Globex memory")
    chat = a_chat(cast.project)
    client = login(cast.member)
    client.post(chat_url(chat), {"text": "First question"})
    client.post(chat_url(chat), {"text": QUESTION})
    assert platform.requests[-1].body["model"]  # the project's default, as the playground's
    sent = platform.requests[-1].body["messages"]
    assert sent[0]["role"] == "system" and cast.project.name in sent[0]["content"]
    assert sent[1]["role"] == "system" and "Test accounts live in the staging tenant" in sent[1]["content"]
    assert "Globex memory" not in json.dumps(sent)
    assert [(m["role"], m["content"]) for m in sent[2:]] == [
        ("user", "First question"),
        ("assistant", "Stand-in reply to: First question"),
        ("user", QUESTION),
    ]


def test_only_the_last_30_messages_and_20_memories_are_sent(cast, login, platform):
    for number in range(25):
        Memory.objects.add(project=cast.project, content=f"memory {number}")
    chat = a_chat(cast.project)
    Message.objects.bulk_create(
        Message(conversation=chat, role=("user", "assistant")[n % 2], content=f"turn {n}") for n in range(40)
    )
    login(cast.member).post(chat_url(chat), {"text": QUESTION})
    sent = platform.requests[-1].body["messages"]
    assert "memory 24" in sent[1]["content"] and "memory 5" in sent[1]["content"]
    assert "memory 4\n" not in sent[1]["content"] + "\n"
    history = sent[2:]
    assert len(history) == 30 and history[-1]["content"] == QUESTION and history[0]["content"] == "turn 11"


def test_the_reply_streams_then_is_saved_with_its_usage_row(cast, login, platform):
    chat = a_chat(cast.project)
    client = login(cast.member)
    posted = client.post(chat_url(chat), {"text": QUESTION}, **HTMX)
    assert posted.status_code == 200
    assert Message.objects.filter(conversation=chat, role="user").count() == 1
    assert rows(cast.project) == []  # posting saves the message; the stream makes the call
    received = events(client.get(stream_url(posted)))
    assert "".join(data for name, data in received if name == "delta") == f"Stand-in reply to: {QUESTION}"
    name, done = received[-1]
    (row,) = rows(cast.project)
    assert name == "done" and f"{row.output_tokens} out" in done["html"]
    answer = Message.objects.get(conversation=chat, role="assistant")
    assert (answer.usage, answer.content) == (row, f"Stand-in reply to: {QUESTION}")
    assert events(client.get(stream_url(posted)))[0][0] == "refusal"  # each turn streams once
    assert len(rows(cast.project)) == 1


def test_a_first_message_sent_with_htmx_renames_the_page_head_in_place(cast, login, platform):
    chat = a_chat(cast.project, title="New conversation")
    posted = login(cast.member).post(chat_url(chat), {"text": QUESTION}, **HTMX).content.decode()
    head = re.search(r'<div class="page-head" id="chat-head" hx-swap-oob="true"><h1>([^<]*)</h1>', posted)
    assert head and head.group(1) == QUESTION
    assert f'value="{QUESTION}"' in posted  # the rename form starts from the new title
    assert f"<title>{QUESTION} · Chat · {cast.project.name} · Qodex</title>" in posted
    assert f'hx-post="{chat_url(chat)}"' in posted  # the form in the swapped panel posts where it did
    page = login(cast.member).get(chat_url(chat)).content.decode()
    assert "hx-swap-oob" not in page  # the full page has the head once, in place


def test_a_cap_refusal_keeps_the_text_says_why_and_marks_the_message_not_answered(cast, login, platform):
    cast.project.cap_5h_usd = Decimal("0")
    cast.project.save(update_fields=["cap_5h_usd"])
    chat = a_chat(cast.project)
    client = login(cast.member)
    response = client.post(chat_url(chat), {"text": QUESTION})
    page = response.content.decode()
    assert response.status_code == 200
    assert "reached its 5-hour platform limit" in page
    assert f">{QUESTION}</textarea>" in page  # still in the box
    assert "Not answered" in page
    (question,) = Message.objects.filter(conversation=chat)
    assert question.content == QUESTION
    # Streamed: the refusal is an event; the text stays in the box the panel kept.
    posted = client.post(chat_url(chat), {"text": QUESTION}, **HTMX)
    assert f">{QUESTION}</textarea>" in posted.content.decode()
    ((name, data),) = events(client.get(stream_url(posted)))
    assert name == "refusal" and "reached its 5-hour platform limit" in data["message"]
    assert [row.outcome for row in rows(cast.project)] == ["cap_exceeded", "cap_exceeded"]
    assert platform.requests == []
    # Sending it again retries the same message, without a copy, once the cap allows it.
    cast.project.cap_5h_usd = None
    cast.project.save(update_fields=["cap_5h_usd"])
    client.post(chat_url(chat), {"text": QUESTION})
    assert [m.role for m in Message.objects.filter(conversation=chat).order_by("pk")] == ["user", "assistant"]
    assert "Not answered" not in client.get(chat_url(chat)).content.decode()


def test_a_provider_fault_is_explained_and_the_key_never_shown(cast, login, platform):
    platform.behave(status=500)
    chat = a_chat(cast.project)
    page = login(cast.member).post(chat_url(chat), {"text": QUESTION}).content.decode()
    assert "Not answered" in page and QUESTION in page
    assert PLATFORM_KEY not in page
    assert [row.outcome for row in rows(cast.project)] != ["ok"]


@pytest.mark.parametrize(
    ("fault", "says"),
    [
        ("cut", "The connection to the provider dropped in the middle of the reply."),
        ("error", "The provider reported an error while it was streaming the reply."),
    ],
)
def test_a_reply_that_breaks_off_mid_stream_keeps_the_question_and_says_why(
    cast, login, platform, fault, says
):
    platform.behave(stream_fault=fault)
    chat = a_chat(cast.project)
    client = login(cast.member)
    posted = client.post(chat_url(chat), {"text": QUESTION}, **HTMX)
    assert f">{QUESTION}</textarea>" in posted.content.decode()  # cleared only once a reply is done
    received = events(client.get(stream_url(posted)))
    *deltas, (name, data) = received
    assert deltas and {event for event, _ in deltas} == {"delta"}  # part of the reply had arrived
    assert name == "refusal" and data["message"].startswith(says)
    assert PLATFORM_KEY not in json.dumps(received)
    (row,) = rows(cast.project)
    assert (row.source, row.outcome, row.error_code, row.cost_usd) == (
        "chat",
        "error",
        "provider_error",
        None,
    )
    # The broken reply is not kept; the question is, marked as not answered.
    (question,) = Message.objects.filter(conversation=chat)
    assert (question.role, question.content) == ("user", QUESTION)
    page = client.get(chat_url(chat)).content.decode()
    assert "Not answered" in page and "".join(data for _, data in deltas) not in page
    # Sending it again answers the same message.
    platform.reset()
    retried = client.post(chat_url(chat), {"text": QUESTION}, **HTMX)
    assert events(client.get(stream_url(retried)))[-1][0] == "done"
    assert [m.role for m in Message.objects.filter(conversation=chat).order_by("pk")] == ["user", "assistant"]
    assert [row.outcome for row in rows(cast.project)] == ["error", "ok"]


def test_a_reply_cut_short_without_javascript_keeps_the_text_in_the_box(cast, login, platform):
    platform.behave(stream_fault="cut")  # a whole answer cut short: half its body, then the line drops
    chat = a_chat(cast.project)
    response = login(cast.member).post(chat_url(chat), {"text": QUESTION})
    page = response.content.decode()
    assert response.status_code == 200
    assert f">{QUESTION}</textarea>" in page and "Not answered" in page
    assert "Your message is kept below" in page
    assert [row.outcome for row in rows(cast.project)] == ["error"]
    assert not Message.objects.filter(conversation=chat, role="assistant").exists()


def test_an_empty_message_is_refused_and_saves_nothing(cast, login, platform):
    chat = a_chat(cast.project)
    response = login(cast.member).post(chat_url(chat), {"text": "   "})
    assert response.status_code == 400
    assert "Write a message to send." in response.content.decode()
    assert not Message.objects.filter(conversation=chat).exists()
    assert platform.requests == []


# --- query counts -----------------------------------------------------------------------------------


def queries(client, url) -> int:
    client.get(url)  # the session's first touch costs its own queries
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured)


def test_the_list_costs_the_same_queries_for_2_or_20_conversations(cast, login):
    client = login(cast.member)
    for number in range(2):
        a_chat(cast.project, f"Chat {number}", cast.member)
    few = queries(client, list_url(cast.project))
    for number in range(18):
        a_chat(cast.project, f"More {number}", cast.admin)
    assert queries(client, list_url(cast.project)) == few


def test_a_conversation_costs_the_same_queries_for_2_or_30_messages(cast, login, platform):
    chat = a_chat(cast.project)
    client = login(cast.member)
    client.post(chat_url(chat), {"text": QUESTION})
    few = queries(client, chat_url(chat))
    for _ in range(14):
        client.post(chat_url(chat), {"text": f"{QUESTION} {_}"})
    assert Message.objects.filter(conversation=chat).count() == 30
    assert queries(client, chat_url(chat)) == few
