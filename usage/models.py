"""LLM usage: one row per call (`llm_usage_log`) and the prices its cost comes from (SPEC §8)."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from projects.models import ApiKey, Organization, Project


class LlmUsageLog(models.Model):
    """One LLM call, success or failure, written once by the gateway (byok.gateway.complete)."""

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
