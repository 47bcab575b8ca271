"""The one way to write the audit log (SPEC §2): `record(actor, "member.invited", project=..., ...)`.

Doors call it inside their transaction, so an event exists exactly when its change does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from projects.models import AuditEvent, Organization, Project

if TYPE_CHECKING:
    from projects.access import Actor


def record(
    actor: Actor | None,
    action: str,
    *,
    project: Project | None = None,
    organization: Organization | None = None,
    target: str = "",
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one audit event by `actor` (None: the system, e.g. a management command).

    `details` must never hold a secret.
    """
    organization = organization or project.organization
    return AuditEvent.objects.create(
        organization=organization,
        project=project,
        actor=actor.user if actor is not None and actor.api_key is None else None,
        actor_api_key=actor.api_key if actor is not None else None,
        actor_label=(actor.label if actor is not None else "system")[:254],
        action=action,
        target=target[:254],
        details=details or {},
        ip=actor.ip if actor is not None else None,
    )
