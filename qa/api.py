"""Chats in the JSON API mirror (SPEC §5, §9): `/api/v1/p/<slug>/chats`.

The same doors as the chat page (qa/doors.py) and the same call to the assistant (qa/assistant.py):
list, start, read (with the messages), rename and delete a conversation, and post a message, which
answers once the assistant's whole reply is in (not streamed; `source=chat`, the key or the person on the
usage row). A refused or failed call keeps the message, unanswered, and answers with the LLM error shapes
of the OpenAI-compatible endpoint (byok/api.py): 429 `cap_exceeded` with `Retry-After`, 400
`byok_not_configured`, 502 for a provider fault and 504 `provider_timeout`. Posting the same text again
retries that message rather than adding a copy.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from django.db.models import Count, QuerySet
from django.http import HttpRequest
from ninja import Field, Query, Router, Schema, Status
from pydantic import AliasPath, field_validator

from byok import gateway
from byok.api import LLM_ERRORS, refusal
from byok.gateway import LlmError
from qa import doors
from qa.assistant import next_reply
from qa.models import Conversation
from qodex.api_auth import project_route
from qodex.api_errors import ERRORS, ApiError
from qodex.pagination import PageParams, paginate
from qodex.schemas import Out

router = Router(tags=["chats"])

# Reading is for everyone on the project; starting, renaming, deleting and sending for members and up
# (SPEC §3), as on the page.
READ_WRITE = project_route()


class ReplyUsageOut(Out):
    model: str
    input_tokens: int
    cached_tokens: int
    output_tokens: int
    latency_ms: int
    cost_usd: str | None = Field(description='A decimal string ("0.00012345"); null when unpriced.')

    @field_validator("cost_usd", mode="before")
    @classmethod
    def _decimal_text(cls, cost) -> str | None:
        return None if cost is None else str(cost)


class MessageOut(Out):
    id: int
    role: Literal["user", "assistant"]
    content: str
    created_at: datetime
    unanswered: bool = Field(
        False, description="A user message no reply follows: its call was refused or failed."
    )
    usage: ReplyUsageOut | None = Field(
        None, description="On the assistant's replies: the call that wrote it."
    )


class ConversationOut(Out):
    id: int
    title: str
    message_count: int
    created_by: str | None = Field(
        None,
        validation_alias=AliasPath("created_by", "email"),
        description="The email of whoever started it (for a key: the key's creator); null if gone.",
    )
    created_at: datetime
    updated_at: datetime = Field(description="The last message, or the last rename.")


class ConversationDetail(ConversationOut):
    messages: list[MessageOut] = Field(validation_alias="history_list", description="Oldest first.")


class ConversationPage(Out):
    items: list[ConversationOut]
    next_cursor: str | None


class ConversationCreate(Schema):
    title: str | None = Field(
        None, description="Left out or blank: named after the first message once it is sent."
    )


class ConversationPatch(Schema):
    title: str


class MessageIn(Schema):
    text: str


class Exchange(Out):
    message: MessageOut = Field(description="The message posted.")
    reply: MessageOut = Field(description="The assistant's reply.")


def conversations(request: HttpRequest) -> QuerySet[Conversation]:
    """This request's project's conversations, with what each row of the list shows (one query)."""
    return (
        Conversation.objects.for_project(request.project_access.project)
        .select_related("created_by")
        .annotate(message_count=Count("messages"))
    )


def get_conversation(request: HttpRequest, conversation_id: int) -> Conversation:
    conversation = conversations(request).filter(pk=conversation_id).first()
    if conversation is None:
        raise ApiError(404, "conversation_not_found", "No conversation with this id in this project.")
    return conversation


def with_history(conversation: Conversation) -> Conversation:
    conversation.history_list = conversation.history()
    conversation.message_count = len(conversation.history_list)
    return conversation


@router.get("/p/{slug}/chats", response={200: ConversationPage, **ERRORS}, auth=READ_WRITE)
def list_conversations(request: HttpRequest, slug: str, page: Query[PageParams]):
    """The project's conversations, newest first."""
    return paginate(conversations(request), page)


@router.post("/p/{slug}/chats", response={201: ConversationOut, **ERRORS}, auth=READ_WRITE)
def create_conversation(request: HttpRequest, slug: str, payload: ConversationCreate):
    """Start an empty conversation."""
    conversation = doors.create_conversation(
        request.auth, request.project_access.project, payload.title or ""
    )
    conversation.message_count = 0
    return Status(201, conversation)


@router.get(
    "/p/{slug}/chats/{int:conversation_id}", response={200: ConversationDetail, **ERRORS}, auth=READ_WRITE
)
def get_one(request: HttpRequest, slug: str, conversation_id: int):
    """One conversation with its messages."""
    return with_history(get_conversation(request, conversation_id))


@router.patch(
    "/p/{slug}/chats/{int:conversation_id}", response={200: ConversationOut, **ERRORS}, auth=READ_WRITE
)
def rename_conversation(request: HttpRequest, slug: str, conversation_id: int, payload: ConversationPatch):
    """Rename a conversation."""
    conversation = get_conversation(request, conversation_id)
    return doors.rename_conversation(
        request.auth, request.project_access.project, conversation, payload.title
    )


@router.delete("/p/{slug}/chats/{int:conversation_id}", response={204: None, **ERRORS}, auth=READ_WRITE)
def delete_conversation(request: HttpRequest, slug: str, conversation_id: int):
    """Delete a conversation and its messages (the usage rows of its replies stay)."""
    doors.delete_conversation(
        request.auth, request.project_access.project, get_conversation(request, conversation_id)
    )
    return Status(204, None)


@router.post(
    "/p/{slug}/chats/{int:conversation_id}/messages",
    response={201: Exchange, **LLM_ERRORS},
    auth=READ_WRITE,
)
def send_message(request: HttpRequest, slug: str, conversation_id: int, payload: MessageIn):
    """Post a message and wait for the assistant's reply. A refusal or fault keeps the message."""
    project, actor = request.project_access.project, request.auth
    conversation = get_conversation(request, conversation_id)
    message = doors.post_message(actor, project, conversation, payload.text)
    try:
        result = gateway.complete(
            project,
            user=actor.user if actor.api_key is None else None,
            api_key=actor.api_key,
            **next_reply(project, conversation),
        )
    except LlmError as error:
        raise refusal(error) from None
    reply = doors.record_reply(actor, project, conversation, result.text, result.usage)
    return Status(201, {"message": message, "reply": reply})
