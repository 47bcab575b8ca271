"""Doors of the chats (docs/ARCHITECTURE.md): create, rename and delete a conversation, post a message
and record the assistant's reply. Members and up (SPEC §3: members create and edit chats).

Sending is two doors around the gateway call, which runs outside any door: its usage row must outlive a
rollback, and a transaction must not stay open while a provider streams (qa/views.py).
"""

from __future__ import annotations

from django.utils import timezone

from projects import audit
from projects.access import Actor
from projects.models import Project
from qa.models import TITLE_MAX, Conversation, Message
from qodex.doors import Invalid, NotFound, door
from usage.models import LlmUsageLog

DEFAULT_TITLE = "New conversation"
MESSAGE_MAX = 20_000
AUTO_TITLE = 60  # a new conversation is named after the start of its first message


def clean_title(title: str | None) -> str:
    """A conversation title: trimmed, one line, not empty, at most TITLE_MAX characters."""
    title = " ".join((title or "").split())
    if not title:
        raise Invalid.field("title", "Give the conversation a title.")
    if len(title) > TITLE_MAX:
        raise Invalid.field("title", f"Keep the title under {TITLE_MAX} characters.")
    return title


def _own(project: Project, conversation: Conversation) -> None:
    if conversation.project_id != project.pk:
        raise NotFound("No such conversation.")


@door("chat.created", scope="project:write")
def create_conversation(actor: Actor, project: Project, title: str = "") -> Conversation:
    """A new, empty conversation ("New conversation" unless titled)."""
    title = clean_title(title) if (title or "").strip() else DEFAULT_TITLE
    conversation = Conversation.objects.create(project=project, title=title, created_by=actor.person)
    audit.record(actor, "chat.created", project=project, target=f"chat {conversation.pk}")
    return conversation


@door("chat.renamed", scope="project:write")
def rename_conversation(
    actor: Actor, project: Project, conversation: Conversation, title: str
) -> Conversation:
    _own(project, conversation)
    title = clean_title(title)
    if title != conversation.title:
        old, conversation.title, conversation.updated_at = conversation.title, title, timezone.now()
        conversation.save(update_fields=["title", "updated_at"])
        audit.record(
            actor,
            "chat.renamed",
            project=project,
            target=f"chat {conversation.pk}",
            details={"from": old, "to": title},
        )
    return conversation


@door("chat.deleted", scope="project:write")
def delete_conversation(actor: Actor, project: Project, conversation: Conversation) -> None:
    """The conversation and its messages; the usage rows of its replies stay (spend is never deleted)."""
    _own(project, conversation)
    audit.record(
        actor,
        "chat.deleted",
        project=project,
        target=f"chat {conversation.pk}",
        details={"title": conversation.title},
    )
    conversation.delete()


def clean_text(text: str | None) -> str:
    text = (text or "").strip()
    if not text:
        raise Invalid.field("text", "Write a message to send.")
    if len(text) > MESSAGE_MAX:
        raise Invalid.field("text", f"Keep a message under {MESSAGE_MAX:,} characters.")
    return text


@door("chat.message_sent", scope="project:write")
def post_message(actor: Actor, project: Project, conversation: Conversation, text: str) -> Message:
    """The person's message, saved before the assistant is asked. No audit event: messages are the
    conversation's content, not a change to the project's set-up, and the usage row of the call that
    answers records who spent what.

    Sending again the text of the last message, which went unanswered (the call was refused), retries it:
    the same message is answered, not a copy."""
    _own(project, conversation)
    text = clean_text(text)
    last = conversation.messages.order_by("-pk").first()
    if last is not None and last.role == Message.Role.USER and last.content == text:
        return last
    message = Message.objects.create(
        conversation=conversation, role=Message.Role.USER, content=text, created_by=actor.person
    )
    changes = {"updated_at": message.created_at}
    if last is None and conversation.title == DEFAULT_TITLE:
        title = " ".join(text.split())
        changes["title"] = title if len(title) <= AUTO_TITLE else title[: AUTO_TITLE - 1].rstrip() + "…"
    Conversation.objects.filter(pk=conversation.pk).update(**changes)
    return message


@door("chat.replied", scope="project:write")
def record_reply(
    actor: Actor, project: Project, conversation: Conversation, text: str, usage: LlmUsageLog | None
) -> Message:
    """The assistant's reply, linked to the usage row of the call that wrote it. No audit event (as
    post_message); NotFound if the conversation was deleted while the reply streamed."""
    _own(project, conversation)
    if not Conversation.objects.filter(pk=conversation.pk).exists():
        raise NotFound("This conversation was deleted.")
    message = Message.objects.create(
        conversation=conversation, role=Message.Role.ASSISTANT, content=text, usage=usage
    )
    Conversation.objects.filter(pk=conversation.pk).update(updated_at=message.created_at)
    return message
