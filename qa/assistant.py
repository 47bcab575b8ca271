"""The project's QA assistant (SPEC §9): what a chat sends the gateway for its next reply, the same for the
chat page (qa/views.py) and the API (qa/api.py), both calling it with `source=chat`."""

from __future__ import annotations

from byok.playground import models_for
from projects.models import Project
from qa.models import Conversation, Memory
from usage.models import LlmUsageLog

SOURCE = LlmUsageLog.Source.CHAT
CONTEXT_MEMORIES = 20
CONTEXT_MESSAGES = 30


def conversation_messages(project: Project, conversation: Conversation) -> list[dict]:
    """What the assistant is sent: who it is, the project's memories, then the last turns in order."""
    system = (
        f"You are the QA assistant of the project “{project.name}” on Qodex. Help its team plan tests, "
        "write scenarios, read test runs and findings, and reason about the application under test. "
        "Be concise and concrete."
    )
    sent = [{"role": "system", "content": system}]
    memories = list(
        Memory.objects.for_project(project)
        .order_by("-pk")
        .values_list("content", flat=True)[:CONTEXT_MEMORIES]
    )
    if memories:
        known = "\n".join(f"- {content}" for content in memories)
        sent.append({"role": "system", "content": f"What the team recorded about this project:\n{known}"})
    history = conversation.messages.order_by("-pk").values_list("role", "content")[:CONTEXT_MESSAGES]
    sent += [{"role": role, "content": content} for role, content in reversed(list(history))]
    return sent


def next_reply(project: Project, conversation: Conversation) -> dict:
    """The gateway's arguments for the conversation's next reply, besides who calls (`user`, `api_key`):
    `gateway.complete(project, user=…, **next_reply(project, conversation))`, or `gateway.stream`. The
    model is the project's default, as the playground's picker shows it (its credential's or the
    platform's)."""
    return {
        "source": SOURCE,
        "model": models_for(project).default or None,
        "messages": conversation_messages(project, conversation),
    }
