"""The one way to write the audit log (SPEC §2): `record(request, "member.invited", project=..., ...)`."""

from __future__ import annotations

from typing import Any

from projects.models import AuditEvent, Organization, Project


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
) -> AuditEvent:
    """Append one audit event. `details` must never hold a secret.

    The actor is the request's user unless given (management commands pass None: "system").
    """
    if actor is None and request is not None and request.user.is_authenticated:
        actor = request.user
    organization = organization or project.organization
    return AuditEvent.objects.create(
        organization=organization,
        project=project,
        actor=actor,
        actor_label=str(actor) if actor is not None else "system",
        action=action,
        target=target[:254],
        details=details or {},
        ip=client_ip(request),
    )
