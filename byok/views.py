"""The BYOK page (`/p/<slug>/settings/byok/`, SPEC §7): who pays for the project's LLM calls, its own
provider keys (masked), and the platform cap meters. Everyone in the project reads it; admins change it
through byok.doors; staff also see the codex pool and cap overrides. Every change redirects back (PRG).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from django.conf import settings
from django.contrib import messages
from django.db.models import Min, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone

from accounts import sudo
from byok import caps, doors
from byok.doors import provider_label
from byok.forms import KeyForm, LimitsForm, ModeForm
from byok.models import Provider, ProviderCredential
from byok.providers import DEFAULT_MODELS
from environments.views import confirm_password_url
from projects.access import Actor, ProjectAccess, project_view
from projects.models import Project
from qodex import crypto
from qodex.doors import Invalid, show_on_form
from usage.models import LlmUsageLog

WINDOW_TEXT = {"5-hour": "in the last 5 hours", "weekly": "in the last 7 days"}


@dataclass(frozen=True)
class MeterView:
    """One cap meter as the page says it: "$1.20 of $5.00 in the last 5 hours; next release 14:05"."""

    meter: caps.Meter
    next_release: datetime | None  # when the oldest spend in the window ages out

    @property
    def window(self) -> str:
        return WINDOW_TEXT[self.meter.name]

    @property
    def sentence(self) -> str:
        """What the meter says, times in UTC (the page says so)."""
        meter = self.meter
        text = f"${meter.spent:.2f} of ${meter.cap:.2f} {self.window}"
        if meter.reserved:
            text += f" (and ${meter.reserved:.2f} held for calls in flight)"
        if meter.reached and meter.resets_at:
            return f"{text}; limit reached, back under it at {_clock(meter.resets_at)}"
        if self.next_release:
            return f"{text}; next release {_clock(self.next_release)}"
        return f"{text}; nothing to release"

    @property
    def percent(self) -> int:
        if self.meter.cap <= 0:
            return 100
        return min(100, round((self.meter.spent + self.meter.reserved) * 100 / self.meter.cap))


def _clock(when: datetime) -> str:
    """14:05 today, "3 Jun 14:05" another day (UTC)."""
    when = when.astimezone(UTC)
    return f"{when:%H:%M}" if when.date() == timezone.now().date() else f"{when.day} {when:%b %H:%M}"


def meter_views(project: Project) -> list[MeterView]:
    """The cap meters with the time the next spend ages out of each window."""
    now = timezone.now()
    found = caps.meters(project, now)
    # The same rows byok.caps sums (platform-funded, priced), oldest of each window in one query.
    oldest = LlmUsageLog.objects.filter(
        project=project,
        funding=LlmUsageLog.Funding.PLATFORM,
        cost_usd__isnull=False,
        created_at__gte=now - caps.WINDOWS["weekly"],
    ).aggregate(
        weekly=Min("created_at"),
        five=Min("created_at", filter=Q(created_at__gte=now - caps.WINDOWS["5-hour"])),
    )
    first = {"5-hour": oldest["five"], "weekly": oldest["weekly"]}
    views = []
    for meter in found:
        when = first[meter.name]
        views.append(MeterView(meter, when + caps.WINDOWS[meter.name] if when else None))
    return views


@dataclass(frozen=True)
class CredentialView:
    credential: ProviderCredential
    mask: str
    in_use: bool
    replace_url: str  # through the password confirmation when sudo mode is off

    @property
    def label(self) -> str:
        return self.credential.get_provider_display()

    @property
    def fallback_model(self) -> str:
        """The model calls without one use when the key names no default."""
        return DEFAULT_MODELS.get(self.credential.provider, "")


def page(
    request: HttpRequest,
    project: Project,
    access: ProjectAccess,
    *,
    key_form: KeyForm | None = None,
    mode_form: ModeForm | None = None,
    limits_form: LimitsForm | None = None,
    status: int = 200,
) -> HttpResponse:
    credentials = list(ProviderCredential.objects.for_project(project).order_by("provider"))
    saved = {credential.provider for credential in credentials}
    byok_in_use = project.llm_mode == Project.LlmMode.BYOK
    sudo_active = sudo.is_active(request)
    url = reverse("projects:byok", args=[project.slug])
    cards = []
    for credential in credentials:
        replace_url = f"{url}?replace={credential.provider}#key-form"
        cards.append(
            CredentialView(
                credential,
                crypto.mask(credential.api_key),
                byok_in_use and credential.provider == project.llm_provider,
                replace_url if sudo_active else confirm_password_url(request, replace_url),
            )
        )
    replace = request.GET.get("replace", "")
    is_staff = bool(request.user.is_staff) and access.is_admin
    context = {
        "cards": cards,
        "mode": project.llm_mode,
        "mode_label": project.get_llm_mode_display(),
        "provider_label": provider_label(project.llm_provider) if project.llm_provider else "",
        "meters": meter_views(project) if project.llm_mode == Project.LlmMode.PLATFORM else [],
        "sudo_active": sudo_active,
        "missing": [(value, label) for value, label in Provider.choices if value not in saved],
        "is_staff": is_staff,
    }
    if access.is_admin:
        context["key_form"] = key_form or KeyForm(
            initial={"provider": replace if replace in Provider.values else ""}, saved=saved
        )
        context["mode_form"] = mode_form or ModeForm(
            initial={
                "mode": project.llm_mode
                if project.llm_mode != Project.LlmMode.CODEX_POOL
                else Project.LlmMode.PLATFORM,
                "provider": project.llm_provider or (credentials[0].provider if credentials else ""),
            }
        )
        context["replacing"] = replace in saved
    if is_staff:
        context["limits_form"] = limits_form or LimitsForm(
            initial={
                "codex_pool": project.llm_mode == Project.LlmMode.CODEX_POOL,
                "cap_5h_usd": project.cap_5h_usd,
                "cap_weekly_usd": project.cap_weekly_usd,
            }
        )
        context["default_caps"] = {
            "five": Decimal(settings.QODEX_CAP_5H_USD),
            "weekly": Decimal(settings.QODEX_CAP_WEEKLY_USD),
        }
    return render(request, "byok/byok.html", context, status=status)


def here(project: Project) -> HttpResponse:
    return redirect("projects:byok", slug=project.slug)


@project_view(write="project:admin")
def byok(request: HttpRequest, project: Project, access: ProjectAccess) -> HttpResponse:
    """The BYOK page; POST `action` = save_key, verify, remove, mode or limits (staff)."""
    if request.method != "POST":
        return page(request, project, access)
    actor = Actor.of(request)
    action = request.POST.get("action")
    if action == "save_key":
        saved = set(ProviderCredential.objects.for_project(project).values_list("provider", flat=True))
        form = KeyForm(request.POST, saved=saved)
        if form.is_valid():
            data = form.cleaned_data
            try:
                result = doors.save_key(  # sudo for a replacement: PageRefusals asks for the password
                    actor,
                    project,
                    provider=data["provider"],
                    api_key=data["api_key"],
                    base_url=data["base_url"],
                    default_model=data["default_model"],
                )
            except Invalid as refusal:
                show_on_form(form, refusal)
            else:
                if result.ok:
                    label = provider_label(data["provider"])
                    verb = "Replaced" if result.replaced else "Saved"
                    messages.success(
                        request, f"{verb} the {label} key {crypto.mask(result.credential.api_key)}."
                    )
                    return here(project)
                form.add_error(None, f"The key was not saved: {result.message}")
        return page(request, project, access, key_form=form, status=400)
    if action in ("verify", "remove"):
        credential = get_object_or_404(
            ProviderCredential.objects.for_project(project), pk=_posted_id(request, "credential_id")
        )
        label = credential.get_provider_display()
        if action == "verify":
            result = doors.check_key(actor, project, credential)
            if result.ok:
                messages.success(request, f"The {label} key works: the provider accepted it just now.")
            else:
                messages.error(request, f"The {label} key did not pass: {result.message}")
        else:
            fell_back = doors.remove_key(actor, project, credential)
            note = " The project is back on the platform key (capped)." if fell_back else ""
            messages.success(request, f"Removed the {label} key.{note}")
        return here(project)
    if action == "mode":
        form = ModeForm(request.POST)
        if form.is_valid():
            try:
                doors.set_mode(actor, project, form.cleaned_data["mode"], form.cleaned_data["provider"])
            except Invalid as refusal:
                show_on_form(form, refusal)
            else:
                messages.success(request, f"LLM calls now use: {_mode_sentence(project)}.")
                return here(project)
        return page(request, project, access, mode_form=form, status=400)
    if action == "limits":
        form = LimitsForm(request.POST)
        if form.is_valid():
            try:
                doors.set_limits(actor, project, **form.cleaned_data)  # Forbidden unless staff
            except Invalid as refusal:
                show_on_form(form, refusal)
            else:
                messages.success(request, "Saved the codex pool and cap settings.")
                return here(project)
        return page(request, project, access, limits_form=form, status=400)
    messages.error(request, "Unknown action.")
    return here(project)


def _mode_sentence(project: Project) -> str:
    if project.llm_mode == Project.LlmMode.BYOK:
        return f"your own {provider_label(project.llm_provider)} key"
    return project.get_llm_mode_display().lower()


def _posted_id(request: HttpRequest, name: str) -> int:
    try:
        return int(request.POST.get(name, ""))
    except ValueError:
        return 0
