"""The project-owned work objects of SPEC §9 (STYLE.md's qa/): the chats with the project's assistant,
the project's memories, scenarios (with their scripts), collections, test runs with their step results,
and findings. Change them through qa.doors; read them through `<Model>.objects.for_project(project)`."""

from __future__ import annotations

import secrets

from django.conf import settings
from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchQuery, SearchVector
from django.core.exceptions import ValidationError
from django.db import connection, connections, models, transaction
from django.db.models import F, Q
from django.db.models.functions import Lower
from django.utils import timezone

from projects.models import Organization, Project
from qodex.crypto import EncryptedTextField

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


# --- Memories (SPEC §2) ----------------------------------------------------------------------------------
# They moved here from projects/ without their data moving: the table keeps its name (`projects_memory`)
# and its indexes theirs; the two migrations of the move change Django's state only.


class MemoryQuerySet(models.QuerySet):
    def for_project(self, project: Project) -> MemoryQuerySet:
        return self.filter(project=project)

    def org_wide(self, organization: Organization) -> MemoryQuerySet:
        return self.filter(organization=organization, project__isnull=True)

    def search(self, text: str) -> MemoryQuerySet:
        """Full-text search on PostgreSQL (served by the GIN index below); a plain contains on SQLite."""
        text = text.replace("\x00", "")  # PostgreSQL can't hold a NUL even in a query parameter
        if connections[self.db].vendor == "postgresql":
            return self.annotate(content_search=MEMORY_SEARCH_VECTOR).filter(
                content_search=SearchQuery(text, config=MEMORY_SEARCH_CONFIG, search_type="websearch")
            )
        return self.filter(content__icontains=text)


class MemoryManager(models.Manager.from_queryset(MemoryQuerySet)):
    @transaction.atomic
    def add(
        self,
        *,
        content: str,
        project: Project | None = None,
        organization: Organization | None = None,
        metadata: dict | None = None,
        created_by=None,
    ) -> Memory:
        """The only way to create a memory: in `project`, or org-wide in `organization`.

        The counter goes up in the same transaction, with an UPDATE that also locks the project row and
        refuses a project deleted meanwhile, so `memory_count` equals the rows under concurrent writers.
        """
        if project is not None:
            counted = Project.objects.filter(pk=project.pk, deleted_at__isnull=True).update(
                memory_count=F("memory_count") + 1
            )
            if not counted:
                raise ValidationError("This project was deleted.")
            organization = project.organization
        memory = self.model(
            project=project,
            organization=organization,
            content=content,
            metadata=metadata or {},
            created_by=created_by,
        )
        memory._counted = True
        memory.save(using=self.db)
        return memory


MEMORY_SEARCH_CONFIG = "english"
MEMORY_SEARCH_VECTOR = SearchVector("content", config=MEMORY_SEARCH_CONFIG)


class Memory(models.Model):
    """Project knowledge (SPEC §2): null `project` = org-wide. Create with Memory.objects.add()."""

    project = models.ForeignKey(
        Project, null=True, blank=True, on_delete=models.SET_NULL, related_name="memories"
    )
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="memories")
    content = models.TextField()
    metadata = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    objects = MemoryManager()

    class Meta:
        db_table = "projects_memory"  # the table it had in projects/: moving the model moved no data
        verbose_name_plural = "memories"
        indexes = [
            # A project's memories, newest first (the API list's keyset on id).
            models.Index(fields=["project", "-id"], name="memory_project_recent"),
            # The org-wide memories of an organization, newest first.
            models.Index(
                fields=["organization", "-id"],
                condition=Q(project__isnull=True),
                name="memory_org_wide_recent",
            ),
            # ?q= full-text search: the same expression as MemoryQuerySet.search (PostgreSQL only;
            # projects/migrations/0003_memories.py skips it elsewhere).
            GinIndex(MEMORY_SEARCH_VECTOR, name="memory_content_search"),
        ]

    def __str__(self) -> str:
        return self.content[:60]

    def save(self, *args, **kwargs) -> None:
        if self._state.adding and not getattr(self, "_counted", False):
            raise ValidationError("Create memories with Memory.objects.add() so memory_count stays exact.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        """Delete and count down in one transaction, locking the project row before the memory (the
        order Project.soft_delete uses), so a concurrent soft delete and this never deadlock or miscount."""
        with transaction.atomic(using=kwargs.get("using")):
            if self.project_id is not None:
                list(Project.objects.select_for_update().filter(pk=self.project_id).values_list("pk"))
            row = Memory.objects.select_for_update().filter(pk=self.pk).values("project_id").first()
            if row is None:
                return 0, {}
            result = super().delete(*args, **kwargs)
            if row["project_id"] is not None:
                Project.objects.filter(pk=row["project_id"]).update(memory_count=F("memory_count") - 1)
            return result


# --- Scenarios, scripts, collections, test runs and findings (SPEC §9) ---------------------------------
# Write them through qa.doors; read them through `<Model>.objects.for_project(project)`.


class ProjectBoundQuerySet(models.QuerySet):
    def for_project(self, project: Project):
        return self.filter(project=project)


class JsonArrayLength(models.Func):
    """The length of a JSON array column, on PostgreSQL and on SQLite (the `make run` default)."""

    function = "jsonb_array_length"
    output_field = models.IntegerField()

    def as_sqlite(self, compiler, connection, **extra_context):
        return super().as_sql(compiler, connection, function="json_array_length", **extra_context)


class ScenarioQuerySet(ProjectBoundQuerySet):
    def tagged(self, tag: str) -> ScenarioQuerySet:
        """Scenarios whose tags include `tag` (tags are stored lowercase)."""
        tag = tag.strip().lower()
        if connection.features.supports_json_field_contains:  # PostgreSQL: jsonb @> '["tag"]'
            return self.filter(tags__contains=[tag])
        # SQLite has no JSON containment: pick the ids in Python (small local databases only).
        ids = [pk for pk, tags in self.values_list("pk", "tags") if isinstance(tags, list) and tag in tags]
        return self.filter(pk__in=ids)

    def with_step_count(self) -> ScenarioQuerySet:
        """Annotate `step_count` in the query, so a list doesn't load every scenario's steps."""
        return self.annotate(step_count=JsonArrayLength("steps"))


class Priority(models.TextChoices):
    CRITICAL = "critical", "Critical"
    HIGH = "high", "High"
    MEDIUM = "medium", "Medium"
    LOW = "low", "Low"


class Scenario(models.Model):
    """A named, ordered list of steps to run against an environment. `steps` holds SPEC §9 step objects
    as the API shows them (validated by qa.steps), so export is lossless and the order is the list's."""

    class Type(models.TextChoices):
        API = "api", "API"
        UI = "ui", "UI"

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        ACTIVE = "active", "Active"  # only active scenarios run from triggers (webhooks, collections)

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="scenarios")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    type = models.CharField(max_length=8, choices=Type.choices, default=Type.API)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.DRAFT)
    priority = models.CharField(max_length=10, choices=Priority.choices, default=Priority.MEDIUM)
    tags = models.JSONField(default=list, blank=True)  # short lowercase strings
    steps = models.JSONField(default=list, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    objects = ScenarioQuerySet.as_manager()

    class Meta:
        constraints = [
            # Names are how people and imports tell scenarios apart: unique per project, any case.
            models.UniqueConstraint("project", Lower("name"), name="scenario_name_unique_per_project"),
        ]
        indexes = [
            # The scenario list: a project's scenarios, most recently changed first.
            models.Index(fields=["project", "-updated_at"], name="scenario_project_recent"),
        ]

    def __str__(self) -> str:
        return self.name


class Script(models.Model):
    """Code attached to a scenario (SPEC §9: name, language, source); kept and exported, not executed."""

    class Language(models.TextChoices):
        PYTHON = "python", "Python"
        JAVASCRIPT = "javascript", "JavaScript"
        TYPESCRIPT = "typescript", "TypeScript"
        SHELL = "shell", "Shell"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="scripts")
    scenario = models.ForeignKey(Scenario, on_delete=models.CASCADE, related_name="scripts")
    name = models.CharField(max_length=200)
    language = models.CharField(max_length=16, choices=Language.choices, default=Language.PYTHON)
    source = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    objects = ProjectBoundQuerySet.as_manager()

    def __str__(self) -> str:
        return self.name


class Collection(models.Model):
    """A named group of scenarios, run together in their order."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="collections")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    scenarios = models.ManyToManyField(Scenario, through="CollectionScenario", related_name="collections")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    objects = ProjectBoundQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint("project", Lower("name"), name="collection_name_unique_per_project"),
        ]

    def __str__(self) -> str:
        return self.name


class CollectionScenario(models.Model):
    collection = models.ForeignKey(Collection, on_delete=models.CASCADE, related_name="entries")
    scenario = models.ForeignKey(Scenario, on_delete=models.CASCADE, related_name="+")
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["collection", "scenario"], name="scenario_once_per_collection"),
        ]

    def __str__(self) -> str:
        return f"{self.collection_id}#{self.position}"


class TestRun(models.Model):
    """A scenario or a collection run against an environment, off the request cycle (qa.runner)."""

    __test__ = False  # not a pytest test class

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        PASSED = "passed", "Passed"
        FAILED = "failed", "Failed"
        ERROR = "error", "Error"
        BLOCKED = "blocked", "Blocked"

    FINISHED = (Status.PASSED, Status.FAILED, Status.ERROR, Status.BLOCKED)

    class Trigger(models.TextChoices):
        USER = "user", "User"
        API_KEY = "api_key", "API key"
        WEBHOOK = "webhook", "Webhook"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="test_runs")
    scenario = models.ForeignKey(
        Scenario, null=True, blank=True, on_delete=models.SET_NULL, related_name="test_runs"
    )
    collection = models.ForeignKey(
        Collection, null=True, blank=True, on_delete=models.SET_NULL, related_name="test_runs"
    )
    # The scenarios this run covers, in order, fixed when it is queued (a webhook picks them by tag).
    scenario_ids = models.JSONField(default=list, blank=True)
    environment = models.ForeignKey(
        "environments.Environment", null=True, blank=True, on_delete=models.SET_NULL, related_name="test_runs"
    )
    environment_name = models.CharField(max_length=100, blank=True)  # kept when the environment is deleted
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    reason = models.CharField(max_length=500, blank=True)  # why it ended error/blocked ("cancelled", …)
    trigger = models.CharField(max_length=10, choices=Trigger.choices, default=Trigger.USER)
    triggered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    api_key = models.ForeignKey(
        "projects.ApiKey", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    callback_url = models.CharField(max_length=2000, blank=True)
    # The run's summary POSTed to callback_url once it ends (qa.webhooks): attempts made, and how the last
    # one went ("" while none was made; never holds a secret).
    callback_attempts = models.PositiveSmallIntegerField(default=0)
    callback_delivered_at = models.DateTimeField(null=True, blank=True)
    callback_error = models.CharField(max_length=500, blank=True)
    steps_total = models.PositiveIntegerField(default=0)
    steps_done = models.PositiveIntegerField(default=0)
    cancel_requested_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)  # a running run's worker is alive
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = ProjectBoundQuerySet.as_manager()

    class Meta:
        indexes = [
            # The test-run list: a project's runs, newest first.
            models.Index(fields=["project", "-created_at"], name="test_run_project_recent"),
            # The worker's sweep for runs left `running` by a killed worker.
            models.Index(fields=["status", "heartbeat_at"], name="test_run_status_heartbeat"),
        ]

    def __str__(self) -> str:
        return f"run {self.pk} {self.status}"

    @property
    def finished(self) -> bool:
        return self.status in self.FINISHED

    @property
    def subject(self) -> str:
        """What ran, for people (reads `scenario` and `collection`: select_related them in lists)."""
        if self.collection_id and self.collection is not None:
            return f"Collection {self.collection.name}"
        if self.scenario_id and self.scenario is not None:
            return self.scenario.name
        count = len(self.scenario_ids)
        return f"{count} scenario{'s' if count != 1 else ''}"

    @property
    def trigger_label(self) -> str:
        """Who started it (reads `triggered_by` and `api_key`)."""
        key = f"API key {self.api_key.name}" if self.api_key_id and self.api_key is not None else "an API key"
        if self.trigger == self.Trigger.WEBHOOK:
            return f"Webhook ({key})"
        if self.trigger == self.Trigger.API_KEY:
            return key
        return self.triggered_by.display_name if self.triggered_by is not None else "someone since removed"

    @property
    def duration_seconds(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()


class StepResult(models.Model):
    """What one step of a run did: the request sent (secrets scrubbed), the response excerpt, timings and
    each expectation's outcome; a blocked step has a reason and no response (it was never sent)."""

    class Status(models.TextChoices):
        PASSED = "passed", "Passed"
        FAILED = "failed", "Failed"
        BLOCKED = "blocked", "Blocked"
        ERROR = "error", "Error"
        SKIPPED = "skipped", "Skipped"

    test_run = models.ForeignKey(TestRun, on_delete=models.CASCADE, related_name="step_results")
    position = models.PositiveIntegerField()  # order within the run
    scenario = models.ForeignKey(Scenario, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    step_index = models.PositiveIntegerField(default=0)  # index in the scenario's steps
    name = models.CharField(max_length=200)
    status = models.CharField(max_length=10, choices=Status.choices)
    reason = models.CharField(max_length=1000, blank=True)
    request = models.JSONField(default=dict, blank=True)  # {"method", "url", "headers", "body"}, scrubbed
    response = models.JSONField(null=True, blank=True)  # {"status", "headers", "body"} excerpt, scrubbed
    expectations = models.JSONField(default=list, blank=True)  # [{"kind", …, "passed", "message"}]
    started_at = models.DateTimeField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["position"]
        constraints = [
            models.UniqueConstraint(fields=["test_run", "position"], name="step_result_position_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.name} {self.status}"


class Finding(models.Model):
    """A problem a run found. The fingerprint says "the same failure": while a finding with it is open, a
    repeat updates it (occurrences, last seen) instead of opening another."""

    class Severity(models.TextChoices):
        CRITICAL = "critical", "Critical"
        HIGH = "high", "High"
        MEDIUM = "medium", "Medium"
        LOW = "low", "Low"
        INFO = "info", "Info"

    class Category(models.TextChoices):
        FUNCTIONAL = "functional", "Functional"
        SECURITY = "security", "Security"
        PERFORMANCE = "performance", "Performance"
        API_ERROR = "api_error", "API error"
        OTHER = "other", "Other"

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        FIXED = "fixed", "Fixed"
        FALSE_POSITIVE = "false_positive", "False positive"
        WONTFIX = "wontfix", "Won’t fix"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="findings")
    title = models.CharField(max_length=300)
    severity = models.CharField(max_length=10, choices=Severity.choices, default=Severity.MEDIUM)
    category = models.CharField(max_length=12, choices=Category.choices, default=Category.FUNCTIONAL)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    evidence = models.JSONField(default=dict, blank=True)  # {"request", "response", "expectation"}, scrubbed
    fingerprint = models.CharField(max_length=64)
    occurrences = models.PositiveIntegerField(default=1)
    test_run = models.ForeignKey(
        TestRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="findings"
    )
    scenario = models.ForeignKey(
        Scenario, null=True, blank=True, on_delete=models.SET_NULL, related_name="findings"
    )
    first_seen_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now)

    objects = ProjectBoundQuerySet.as_manager()

    class Meta:
        constraints = [
            # At most one open finding per failure: the runner's upsert relies on it.
            models.UniqueConstraint(
                fields=["project", "fingerprint"],
                condition=models.Q(status="open"),
                name="one_open_finding_per_fingerprint",
            ),
        ]
        indexes = [
            # The findings list: a project's findings, most recently seen first.
            models.Index(fields=["project", "-last_seen_at"], name="finding_project_recent"),
        ]

    def __str__(self) -> str:
        return self.title


class EnvironmentPace(models.Model):
    """The request-rate limit of an environment (SPEC §6 `max_rps`), shared by every run and worker.

    One row per environment holds the earliest moment the next request may be sent. A runner claims a
    send with one conditional UPDATE (`next_allowed_at <= now` → `now + interval`), so two worker
    processes, or two threads of one, never both get the same moment: the database is the only place
    they share, and the update is atomic on PostgreSQL and SQLite alike (qa.pacing).
    """

    environment = models.OneToOneField(
        "environments.Environment", primary_key=True, on_delete=models.CASCADE, related_name="+"
    )
    next_allowed_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"pace of environment {self.environment_id}"


def new_webhook_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


class WebhookSecret(models.Model):
    """The key a project's webhook callbacks are signed with (`X-Qodex-Signature`, HMAC-SHA256), made on
    first use and shown to admins on the API keys page so receivers can verify what they get."""

    project = models.OneToOneField(Project, primary_key=True, on_delete=models.CASCADE, related_name="+")
    secret = EncryptedTextField()
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"webhook secret of project {self.project_id}"

    @classmethod
    def for_project(cls, project: Project) -> WebhookSecret:
        """The project's signing secret, made now if it has none yet."""
        existing = cls.objects.filter(project=project).first()
        if existing is not None:
            return existing
        cls.objects.bulk_create(
            [cls(project=project, secret=new_webhook_secret())], ignore_conflicts=True
        )  # two first uses at once: one secret wins, both read it back
        return cls.objects.get(project=project)
