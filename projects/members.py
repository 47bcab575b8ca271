"""Changing and removing members, from the members page and the API alike."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction

from projects import audit
from projects.models import ProjectMember
from projects.roles import Role

LAST_OWNER = "A project needs at least one owner. Make someone else owner first."


class LastOwner(ValidationError):
    pass


def change(request, member: ProjectMember, *, new_role: str | None) -> None:
    """Set `member`'s role, or remove them when `new_role` is None; the project always keeps an owner.

    Permission (who may touch an owner) is the caller's check; this enforces the invariant and audits.
    """
    project = member.project
    with transaction.atomic():
        # Lock the owners so two demotions or removals at once cannot leave the project without one.
        list(project.owners().select_for_update())
        if member.is_last_owner() and new_role != Role.OWNER:
            raise LastOwner(LAST_OWNER)
        if new_role is None:
            member.delete()
            audit.record(
                request,
                "member.removed",
                project=project,
                target=member.user.email,
                details={"role": member.role},
            )
        elif new_role != member.role:
            old, member.role = member.role, new_role
            member.save(update_fields=["role"])
            audit.record(
                request,
                "member.role_changed",
                project=project,
                target=member.user.email,
                details={"from": old, "to": new_role},
            )
