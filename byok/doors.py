"""The doors of byok/ (docs/ARCHITECTURE.md): a project's own LLM keys, its LLM mode, and the limits staff
set (SPEC §7).

A key is checked with a real request before it is saved (byok.gateway.verify_key); the check leaves a
usage row whether it passes or not, so a failed check is not a refusal that rolls back: the doors that
check return a `KeyCheck` saying why nothing was saved. Replacing a saved key, or changing where it is
sent (its base URL), needs sudo mode, as does removing it.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.utils import timezone

from byok import gateway
from byok.models import Provider, ProviderCredential
from projects import audit
from projects.access import Actor
from projects.models import Project
from qodex.doors import Forbidden, Invalid, NotFound, door

LlmMode = Project.LlmMode
MAX_KEY_LENGTH = 500


@dataclass(frozen=True)
class KeyCheck:
    """What a door that checks a key did: `ok` and the credential, or the gateway's reason it refused."""

    ok: bool
    credential: ProviderCredential | None = None
    message: str = ""
    replaced: bool = False


def provider_label(provider: str) -> str:
    return Provider(provider).label


def _clean_provider(provider: str) -> str:
    if provider not in Provider.values:
        raise Invalid.field("provider", "Choose OpenAI, Anthropic or Google.")
    return provider


def _clean_key(api_key: str) -> str:
    api_key = (api_key or "").strip()
    if len(api_key) > MAX_KEY_LENGTH or any(character.isspace() for character in api_key):
        raise Invalid.field("api_key", "That doesn’t look like an API key: paste it without spaces.")
    return api_key


def _clean_base_url(base_url: str) -> str:
    base_url = (base_url or "").strip()
    if base_url and not base_url.lower().startswith(("http://", "https://")):
        raise Invalid.field("base_url", "Use an http:// or https:// URL, or leave it blank.")
    if len(base_url) > 500:
        raise Invalid.field("base_url", "Keep the base URL under 500 characters.")
    return base_url


def _of(project: Project, credential: ProviderCredential) -> ProviderCredential:
    if credential.project_id != project.pk:
        raise NotFound("No such key in this project.", code="credential_not_found")
    return credential


@door("byok.key_saved", scope="project:admin")
def save_key(
    actor: Actor,
    project: Project,
    *,
    provider: str,
    api_key: str = "",
    base_url: str = "",
    default_model: str = "",
) -> KeyCheck:
    """Save the project's key for `provider`, checked with a real request first.

    With a key already saved for `provider`, this edits it: a blank `api_key` keeps the stored one. A new
    key or a new base URL (it decides where the key is sent) needs sudo mode, is checked again and is
    audited as `byok.key_replaced`; a new default model alone is `byok.key_saved` and sends nothing.
    """
    provider = _clean_provider(provider)
    api_key, base_url = _clean_key(api_key), _clean_base_url(base_url)
    default_model = (default_model or "").strip()[:200]
    stored = (
        ProviderCredential.objects.for_project(project).select_for_update().filter(provider=provider).first()
    )
    if stored is None and not api_key:
        raise Invalid.field("api_key", f"Paste your {provider_label(provider)} API key.")
    if stored is not None:
        changed = [
            name
            for name, value in (
                ("api_key", api_key),
                ("base_url", base_url),
                ("default_model", default_model),
            )
            if (value or name != "api_key") and value != getattr(stored, name)
        ]
        sensitive = [name for name in changed if name in ("api_key", "base_url")]
        if sensitive:
            actor.require_sudo()
        if not changed:
            return KeyCheck(ok=True, credential=stored)
    else:
        changed, sensitive = [], ["api_key"]
    credential = stored or ProviderCredential(project=project, provider=provider, created_by=actor.person)
    if sensitive:
        try:
            gateway.verify_key(project, provider, api_key or stored.api_key, base_url, user=actor.person)
        except gateway.LlmError as refused:
            return KeyCheck(ok=False, message=refused.message)
        credential.verified_at = timezone.now()
    if api_key:
        credential.api_key = api_key
    credential.base_url, credential.default_model = base_url, default_model
    try:
        with transaction.atomic():  # a savepoint: the check's usage row stays if this fails
            credential.save()
    except IntegrityError:
        return KeyCheck(
            ok=False,
            message=f"Someone saved a {provider_label(provider)} key at the same moment. Reload the page.",
        )
    details = {"provider": provider, "last4": credential.last4}
    if base_url:
        details["base_url"] = base_url
    if stored is None:
        audit.record(actor, "byok.key_saved", project=project, target=provider, details=details)
    elif sensitive:
        details["fields"] = changed
        audit.record(actor, "byok.key_replaced", project=project, target=provider, details=details)
    else:
        details["fields"] = changed
        audit.record(actor, "byok.key_saved", project=project, target=provider, details=details)
    return KeyCheck(ok=True, credential=credential, replaced=bool(stored and sensitive))


@door("byok.key_verified", scope="project:admin")
def check_key(actor: Actor, project: Project, credential: ProviderCredential) -> KeyCheck:
    """Check a saved key again with a real request ("Verify key"); on success its verified time moves."""
    _of(project, credential)
    try:
        gateway.verify_key(
            project, credential.provider, credential.api_key, credential.base_url, user=actor.person
        )
    except gateway.LlmError as refused:
        return KeyCheck(ok=False, credential=credential, message=refused.message)
    credential.verified_at = timezone.now()
    ProviderCredential.objects.filter(pk=credential.pk).update(verified_at=credential.verified_at)
    audit.record(actor, "byok.key_verified", project=project, target=credential.provider)
    return KeyCheck(ok=True, credential=credential)


@door("byok.key_removed", scope="project:admin", sudo=True)
def remove_key(actor: Actor, project: Project, credential: ProviderCredential) -> bool:
    """Delete a saved key. If BYOK mode used it, the project falls back to the platform key (returns
    True then) and the audit event says so."""
    _of(project, credential)
    provider = credential.provider
    credential.delete()
    details = {"provider": provider}
    locked = Project.objects.select_for_update().get(pk=project.pk)
    fell_back = locked.llm_mode == LlmMode.BYOK and locked.llm_provider == provider
    if fell_back:
        Project.objects.filter(pk=project.pk).update(llm_mode=LlmMode.PLATFORM)
        project.llm_mode = LlmMode.PLATFORM
        details["mode"] = {"from": LlmMode.BYOK, "to": LlmMode.PLATFORM}
    audit.record(actor, "byok.key_removed", project=project, target=provider, details=details)
    return fell_back


@door("byok.mode_changed", scope="project:admin")
def set_mode(actor: Actor, project: Project, mode: str, provider: str = "") -> Project:
    """Choose who pays for the project's calls: the platform key (capped) or its own key for `provider`,
    which must be saved. The codex pool is set by staff (set_limits)."""
    if mode == LlmMode.CODEX_POOL:
        raise Forbidden("Only Qodex staff put a project on the codex pool.")
    if mode not in (LlmMode.PLATFORM, LlmMode.BYOK):
        raise Invalid.field("mode", "Choose the platform key or your own key.")
    provider = _clean_provider(provider) if provider or mode == LlmMode.BYOK else project.llm_provider
    if (
        mode == LlmMode.BYOK
        and not ProviderCredential.objects.for_project(project).filter(provider=provider).exists()
    ):
        raise Invalid.field(
            "provider", f"Save your {provider_label(provider)} key below first, then choose it here."
        )
    before = {"mode": project.llm_mode, "provider": project.llm_provider}
    after = {"mode": mode, "provider": provider}
    if before != after:
        Project.objects.filter(pk=project.pk).update(llm_mode=mode, llm_provider=provider)
        project.llm_mode, project.llm_provider = mode, provider
        audit.record(
            actor, "byok.mode_changed", project=project, target=mode, details={"from": before, "to": after}
        )
    return project


def _clean_cap(name: str, value: Decimal | None) -> Decimal | None:
    if value is None:
        return None
    if not isinstance(value, Decimal) or not value.is_finite() or value < 0 or value >= Decimal("1e8"):
        raise Invalid.field(name, "Give an amount in dollars from 0 to 99,999,999.99, or leave it blank.")
    return value.quantize(Decimal("0.01"))


def _text(value) -> str | None:
    return None if value is None else str(value)


@door("byok.limits_changed", scope=None)
def set_limits(
    actor: Actor,
    project: Project,
    *,
    codex_pool: bool,
    cap_5h_usd: Decimal | None,
    cap_weekly_usd: Decimal | None,
) -> Project:
    """Staff only: put the project on the codex pool (or take it off, back to the platform key) and
    override its 5-hour and weekly platform caps (None: the settings' defaults)."""
    if actor.user is None or not actor.user.is_staff:
        raise Forbidden("Only Qodex staff change the codex pool and the caps.")
    caps = {
        "cap_5h_usd": _clean_cap("cap_5h_usd", cap_5h_usd),
        "cap_weekly_usd": _clean_cap("cap_weekly_usd", cap_weekly_usd),
    }
    mode = project.llm_mode
    if codex_pool:
        mode = LlmMode.CODEX_POOL
    elif mode == LlmMode.CODEX_POOL:
        mode = LlmMode.PLATFORM
    changes = {}
    for name, value in {"llm_mode": mode, **caps}.items():
        if getattr(project, name) != value:
            old = getattr(project, name)
            changes[name] = {
                "from": None if old is None else str(old),
                "to": None if value is None else str(value),
            }
    if changes:
        Project.objects.filter(pk=project.pk).update(llm_mode=mode, **caps)
        project.llm_mode, project.cap_5h_usd, project.cap_weekly_usd = mode, *caps.values()
        audit.record(actor, "byok.limits_changed", project=project, details=changes)
    return project
