"""Bring-your-own-key credentials and the LLM providers Qodex speaks to (SPEC §7).

Every provider is reached through its OpenAI-compatible endpoint with the `openai` SDK, by
byok.gateway only. A project's own keys live here, encrypted at rest with the one encrypted field.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from qodex.crypto import EncryptedTextField


class Provider(models.TextChoices):
    OPENAI = "openai", "OpenAI"
    ANTHROPIC = "anthropic", "Anthropic"
    GOOGLE = "google", "Google"


def provider_base_url(provider: str) -> str:
    """The provider's OpenAI-compatible endpoint: `QODEX_<PROVIDER>_BASE_URL` or the public one."""
    return settings.QODEX_PROVIDER_BASE_URLS[provider]


class ProviderCredentialQuerySet(models.QuerySet):
    def for_project(self, project) -> ProviderCredentialQuerySet:
        return self.filter(project=project)


class ProviderCredential(models.Model):
    """A project's own key for one provider. One per provider per project; the project's
    `llm_provider` says which one BYOK mode uses."""

    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="credentials")
    provider = models.CharField(max_length=20, choices=Provider.choices)
    api_key = EncryptedTextField()
    # Where the key is sent: an outbound target like any other (qodex.outbound), changed only as a
    # replacement of the key (sudo mode).
    base_url = models.CharField(max_length=500, blank=True, help_text="Blank: the provider's own endpoint.")
    default_model = models.CharField(max_length=200, blank=True)
    last4 = models.CharField(max_length=4, blank=True, editable=False)
    verified_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ProviderCredentialQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "provider"], name="one_credential_per_provider")
        ]

    def __str__(self) -> str:
        return f"{self.get_provider_display()} key ••••{self.last4} ({self.project})"

    def save(self, *args, **kwargs) -> None:
        self.last4 = (self.api_key or "")[-4:] if len(self.api_key or "") >= 16 else ""
        super().save(*args, **kwargs)

    @property
    def endpoint(self) -> str:
        return (self.base_url or provider_base_url(self.provider)).rstrip("/")


class CapReservation(models.Model):
    """Platform spend promised to a call in flight (byok.caps): counted against the caps until the call
    settles (its usage row written, this row deleted) or, if its process died, until it expires."""

    # No database constraint: checking it locks the project row, a logged write that would cost every
    # platform call a WAL flush even though this table is UNLOGGED (migration 0002). Django still cascades.
    project = models.ForeignKey(
        "projects.Project", on_delete=models.CASCADE, related_name="+", db_constraint=False
    )
    amount_usd = models.DecimalField(max_digits=14, decimal_places=8)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()

    class Meta:
        indexes = [
            # Outstanding reservations of one project, summed by every cap check.
            models.Index(fields=["project", "expires_at"], name="reservation_project_live"),
        ]

    def __str__(self) -> str:
        return f"${self.amount_usd} reserved for {self.project_id}"


class CapAlert(models.Model):
    """The last time a project's owners and admins were told it passed `threshold`% of one cap (byok.alerts):
    one email per threshold while the cap's window lasts, not one per call."""

    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="+")
    cap = models.CharField(max_length=10)  # "5-hour" or "weekly" (byok.caps.WINDOWS)
    threshold = models.PositiveSmallIntegerField()  # 80 or 100
    sent_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["project", "cap", "threshold"], name="one_alert_row_per_threshold"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.project_id} {self.cap} {self.threshold}%"
