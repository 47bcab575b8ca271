"""LLM usage: one row per call (`llm_usage_log`) and the prices its cost comes from (SPEC §8)."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from projects.models import ApiKey, Organization, Project


class LlmUsageLogManager(models.Manager):
    def record(self, *, also: tuple[str, list] | None = None, **fields) -> LlmUsageLog:
        """The only way to write a usage row: inserts it and adds it to the rollups (usage.rollups) in
        one transaction, so the sums the consoles and the caps read always equal the log. `also`: one
        more write, as (sql, params), that must commit with the row (usage.rollups.insert)."""
        from usage import rollups

        row = self.model(**fields)
        rollups.insert(row, also)
        return row


class LlmUsageLog(models.Model):
    """One LLM call, success or failure, written once by the gateway (byok.gateway.complete) through
    `LlmUsageLog.objects.record`."""

    class Source(models.TextChoices):
        CHAT = "chat", "Chat"
        PLAYGROUND = "playground", "Playground"
        SCENARIO_GENERATION = "scenario_generation", "Scenario generation"
        TEST_RUN = "test_run", "Test run"
        MEMORY = "memory", "Memory"
        KEY_CHECK = "key_check", "Key check"
        API = "api", "API"

    class Funding(models.TextChoices):
        PLATFORM = "platform", "Platform"
        BYOK = "byok", "Own key (BYOK)"
        CODEX_POOL = "codex_pool", "Codex pool"

    class Outcome(models.TextChoices):
        OK = "ok", "OK"
        ERROR = "error", "Error"
        TIMEOUT = "timeout", "Timeout"
        RATE_LIMITED = "rate_limited", "Rate limited"
        AUTH_FAILED = "auth_failed", "Auth failed"
        CAP_EXCEEDED = "cap_exceeded", "Cap exceeded"
        INVALID_REQUEST = "invalid_request", "Invalid request"

    # PROTECT: spend history is never deleted; projects are only soft-deleted (SPEC §2). No index of its
    # own: the (project, created_at) index below serves every lookup by project.
    project = models.ForeignKey(Project, on_delete=models.PROTECT, related_name="llm_usage", db_index=False)
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="llm_usage")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="llm_usage"
    )
    # The key of an API call (source=api); kept null when the key is deleted, the row stays.
    api_key = models.ForeignKey(
        ApiKey, null=True, blank=True, on_delete=models.SET_NULL, related_name="llm_usage"
    )
    source = models.CharField(max_length=24, choices=Source.choices)
    funding = models.CharField(max_length=12, choices=Funding.choices)
    provider = models.CharField(max_length=20)  # openai | anthropic | google | standin …
    model = models.CharField(max_length=200)
    # input_tokens includes the cached ones, as OpenAI-compatible providers report them.
    input_tokens = models.PositiveIntegerField(default=0)
    output_tokens = models.PositiveIntegerField(default=0)
    cached_tokens = models.PositiveIntegerField(default=0)
    latency_ms = models.PositiveIntegerField(default=0)
    outcome = models.CharField(max_length=20, choices=Outcome.choices)
    error_code = models.CharField(max_length=40, blank=True)  # byok.gateway.LlmError.code
    # null = the model had no price when the call was made ("unpriced"), never 0 (usage.pricing.cost_for).
    cost_usd = models.DecimalField(max_digits=14, decimal_places=8, null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects = LlmUsageLogManager()

    class Meta:
        db_table = "llm_usage_log"
        verbose_name = "LLM usage log row"
        indexes = [
            # A project's calls in a time window: the project usage page and the 5-hour/weekly cap checks.
            models.Index(fields=["project", "created_at"], name="llm_usage_project_time"),
            # Every project's calls in a period: the staff console (/admin#llm).
            models.Index(fields=["created_at"], name="llm_usage_time"),
        ]

    def __str__(self) -> str:
        return f"{self.source} {self.provider}/{self.model} {self.outcome}"


def validate_model_pattern(value: str) -> None:
    """A model is an exact name or a prefix pattern with one `*`, at its end (`gpt-4o-mini*`)."""
    if "*" in value[:-1]:
        raise ValidationError("Use `*` only at the end of a model pattern, e.g. “gpt-4o-mini*”.")


PER_MTOK = {"max_digits": 12, "decimal_places": 6, "validators": [MinValueValidator(0)]}


class ModelPrice(models.Model):
    """USD per 1M tokens for a provider's model (or model prefix) from `effective_from` on (SPEC §8).

    Seeded from usage/prices/prices.json (`manage.py load_prices`); staff edit rows in the Django admin.
    To change a price from a date on, add a row with that `effective_from`: past calls keep their cost.
    """

    provider = models.CharField(max_length=20)
    model = models.CharField(
        max_length=200,
        validators=[validate_model_pattern],
        help_text="An exact model name, or a prefix pattern ending in * (gpt-4o-mini* matches "
        "gpt-4o-mini-2024-07-18). An exact name wins over a pattern; the longest pattern wins.",
    )
    input_per_mtok = models.DecimalField("input $/1M tokens", **PER_MTOK)
    cached_input_per_mtok = models.DecimalField(
        "cached input $/1M tokens", null=True, blank=True, help_text="Empty: the input rate.", **PER_MTOK
    )
    output_per_mtok = models.DecimalField("output $/1M tokens", **PER_MTOK)
    effective_from = models.DateTimeField()
    note = models.CharField(max_length=200, blank=True)

    class Meta:
        constraints = [
            # Also the index of usage.pricing.price_for (provider, then model, then the latest date).
            models.UniqueConstraint(
                fields=["provider", "model", "effective_from"], name="one_price_per_model_and_date"
            ),
            models.CheckConstraint(
                condition=Q(input_per_mtok__gte=0)
                & Q(output_per_mtok__gte=0)
                & (Q(cached_input_per_mtok__isnull=True) | Q(cached_input_per_mtok__gte=0)),
                name="model_price_not_negative",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.provider}/{self.model} from {self.effective_from:%Y-%m-%d}"


# --- Rollups (SPEC §8): what the consoles and the cap checks read instead of the raw log ----------------
# Upserted by usage.rollups.insert in the same transaction as each llm_usage_log row; rebuilt from the log by
# `manage.py rebuild_usage_rollups`. Every table carries the same counters (UsageCounters).

# Latency histogram: bucket i counts calls with latency < LATENCY_BOUNDS_MS[i] (and ≥ the bound before);
# the last bucket counts the rest. Enough for a p50/p95 read to within a bucket (usage.rollups.percentile).
LATENCY_BOUNDS_MS = (100, 250, 500, 1000, 2000, 3000, 5000, 8000, 13000, 20000, 40000)
LATENCY_BUCKETS = tuple(f"latency_{i}" for i in range(len(LATENCY_BOUNDS_MS) + 1))


class UsageCounters(models.Model):
    calls = models.PositiveIntegerField(default=0)
    errors = models.PositiveIntegerField(default=0)  # calls whose outcome is not `ok`
    input_tokens = models.BigIntegerField(default=0)
    cached_tokens = models.BigIntegerField(default=0)
    output_tokens = models.BigIntegerField(default=0)
    cost_usd = models.DecimalField(max_digits=18, decimal_places=8, default=0)  # priced calls only
    unpriced_calls = models.PositiveIntegerField(default=0)  # ok calls of a model with no price
    latency_ms_total = models.BigIntegerField(default=0)
    latency_0 = models.PositiveIntegerField(default=0)
    latency_1 = models.PositiveIntegerField(default=0)
    latency_2 = models.PositiveIntegerField(default=0)
    latency_3 = models.PositiveIntegerField(default=0)
    latency_4 = models.PositiveIntegerField(default=0)
    latency_5 = models.PositiveIntegerField(default=0)
    latency_6 = models.PositiveIntegerField(default=0)
    latency_7 = models.PositiveIntegerField(default=0)
    latency_8 = models.PositiveIntegerField(default=0)
    latency_9 = models.PositiveIntegerField(default=0)
    latency_10 = models.PositiveIntegerField(default=0)
    latency_11 = models.PositiveIntegerField(default=0)

    class Meta:
        abstract = True


class UsageHourly(UsageCounters):
    """A project's calls per UTC hour and funding: the 5-hour and weekly cap windows (byok.caps)."""

    hour = models.DateTimeField()  # the start of the UTC hour
    project = models.ForeignKey(Project, on_delete=models.PROTECT, related_name="+", db_index=False)
    funding = models.CharField(max_length=12, choices=LlmUsageLog.Funding.choices)

    class Meta:
        db_table = "llm_usage_hourly"
        constraints = [
            # The upsert's conflict target, and the index of the cap check (project, funding, hour >= …).
            models.UniqueConstraint(fields=["project", "funding", "hour"], name="usage_hourly_bucket"),
        ]

    def __str__(self) -> str:
        return f"{self.project_id} {self.funding} {self.hour:%Y-%m-%d %H:00}"


class UsageDaily(UsageCounters):
    """A project's calls per UTC day, source, funding, provider and model: the project usage page, and the
    staff console when it is filtered to one organization."""

    day = models.DateField()  # UTC
    project = models.ForeignKey(Project, on_delete=models.PROTECT, related_name="+", db_index=False)
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+", db_index=False)
    source = models.CharField(max_length=24, choices=LlmUsageLog.Source.choices)
    funding = models.CharField(max_length=12, choices=LlmUsageLog.Funding.choices)
    provider = models.CharField(max_length=20)
    model = models.CharField(max_length=200)

    class Meta:
        db_table = "llm_usage_daily"
        constraints = [
            # The upsert's conflict target; its leading (project, day) serves the project usage page.
            models.UniqueConstraint(
                fields=["project", "day", "source", "funding", "provider", "model"], name="usage_daily_bucket"
            ),
        ]
        indexes = [
            # The staff console filtered to one organization: its rows in a range of days.
            models.Index(fields=["organization", "day"], name="usage_daily_org_day"),
        ]

    def __str__(self) -> str:
        return f"{self.project_id} {self.day} {self.source} {self.model}"


class UsageDailyProject(UsageCounters):
    """Calls per UTC day, project, funding and provider: the staff console's per-project table, without
    the source × model rows a project multiplies into."""

    day = models.DateField()
    project = models.ForeignKey(Project, on_delete=models.PROTECT, related_name="+", db_index=False)
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+", db_index=False)
    funding = models.CharField(max_length=12, choices=LlmUsageLog.Funding.choices)
    provider = models.CharField(max_length=20)

    class Meta:
        db_table = "llm_usage_daily_project"
        constraints = [
            # The upsert's conflict target; leading `day` serves the console's range of days.
            models.UniqueConstraint(
                fields=["day", "project", "funding", "provider"], name="usage_daily_project_bucket"
            ),
        ]
        indexes = [
            # The console's page of projects (usage.console.spend_by_project): a few projects' days, which
            # the day-first constraint above can only find by reading every project's rows of the period.
            models.Index(fields=["project", "day"], name="usage_daily_project_days"),
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.project_id} {self.funding}"


class UsageDailySite(UsageCounters):
    """Calls per UTC day, source, funding, provider and model across every project: the staff console's
    totals, chart and per-source/model/funding tables, a few thousand rows for any period."""

    day = models.DateField()
    source = models.CharField(max_length=24, choices=LlmUsageLog.Source.choices)
    funding = models.CharField(max_length=12, choices=LlmUsageLog.Funding.choices)
    provider = models.CharField(max_length=20)
    model = models.CharField(max_length=200)

    class Meta:
        db_table = "llm_usage_daily_site"
        constraints = [
            models.UniqueConstraint(
                fields=["day", "source", "funding", "provider", "model"], name="usage_daily_site_bucket"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.source} {self.model}"
