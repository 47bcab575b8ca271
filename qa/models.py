"""The project-owned work objects of SPEC §9 (STYLE.md's qa/): so far the chats with the project's
assistant. Create, rename and delete them through qa.doors."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from projects.models import Project

TITLE_MAX = 200


class ConversationQuerySet(models.QuerySet):
    def for_project(self, project: Project) -> ConversationQuerySet:
        return self.filter(project=project)


class Conversation(models.Model):
    """A chat of a project with its AI assistant (SPEC §9), through the gateway with `source=chat`."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="conversations")
    title = models.CharField(max_length=TITLE_MAX)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)  # the last message, or a rename

    objects = ConversationQuerySet.as_manager()

    class Meta:
        indexes = [
            # The chat list: a project's conversations, most recently active first.
            models.Index(fields=["project", "-updated_at"], name="conversation_project_recent"),
        ]

    def __str__(self) -> str:
        return self.title

    def history(self) -> list[Message]:
        """The messages in order, with their usage rows; each user message marked `.unanswered` when no
        reply follows it (its call was refused or failed: sending the same text again retries it)."""
        items = list(self.messages.select_related("usage").order_by("pk"))
        for index, item in enumerate(items):
            following = items[index + 1] if index + 1 < len(items) else None
            item.unanswered = item.role == Message.Role.USER and (
                following is None or following.role == Message.Role.USER
            )
        return items


class Message(models.Model):
    """One turn of a conversation. An assistant message links the usage row of the call that wrote it."""

    class Role(models.TextChoices):
        USER = "user", "You"
        ASSISTANT = "assistant", "Assistant"

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="messages")
    role = models.CharField(max_length=16, choices=Role.choices)
    content = models.TextField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    usage = models.ForeignKey(
        "usage.LlmUsageLog", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        indexes = [
            # A conversation's history in order (the page and the context sent to the model).
            models.Index(fields=["conversation", "id"], name="message_conversation_order"),
        ]

    def __str__(self) -> str:
        return f"{self.role}: {self.content[:60]}"
