"""The one way to write the audit log (SPEC §2): `record(request, "member.invited", project=..., ...)`."""

from __future__ import annotations

from typing import Any

from projects.models import ApiKey, AuditEvent, Organization, Project


def client_ip(request) -> str | None:
    return request.META.get("REMOTE_ADDR") if request is not None else None


def record(
    request,
    action: str,
    *,
    project: Project | None = None,
    organization: Organization | None = None,
    target: str = "",
    details: dict[str, Any] | None = None,
    actor=None,
    api_key: ApiKey | None = None,
) -> AuditEvent:
    """Append one audit event. `details` must never hold a secret.

    The actor is the API key that authenticated the request (`api_key=`, or the one the API set on
    `request.api_key`), else the given user, else the request's user; management commands pass
    neither: "system".
    """
    api_key = api_key or getattr(request, "api_key", None)
    if api_key is not None:
        actor = None
        label = f"API key {api_key.name} ({api_key.prefix}…)"
    else:
        if actor is None and request is not None and request.user.is_authenticated:
            actor = request.user
        label = str(actor) if actor is not None else "system"
    organization = organization or project.organization
    return AuditEvent.objects.create(
        organization=organization,
        project=project,
        actor=actor,
        actor_api_key=api_key,
        actor_label=label[:254],
        action=action,
        target=target[:254],
        details=details or {},
        ip=client_ip(request),
    )
