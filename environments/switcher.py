"""The environment switcher in every project page's header (SPEC §4, §6): two queries, however many."""

from __future__ import annotations

from dataclasses import dataclass, field

from environments.models import Environment
from projects.models import ProjectMember

# What the switcher and the badges show; loading only these keeps secrets undecrypted.
SWITCHER_FIELDS = ("name", "read_only", "max_rps", "allow_destructive", "allow_security_testing")


@dataclass
class SwitcherState:
    """The project's environments and the one this person works against.

    `is_member` is False for org owners/admins who reach the project without a membership: there is no
    ProjectMember row to remember a choice on, and the switcher says so instead of creating one.
    """

    is_member: bool
    active: Environment | None = None
    environments: list[Environment] = field(default_factory=list)


def switcher_state(user, project) -> SwitcherState:
    membership = ProjectMember.objects.filter(project=project, user=user)
    active_ids = list(membership.values_list("active_environment_id", flat=True))
    environments = list(Environment.objects.for_project(project).only(*SWITCHER_FIELDS).order_by("name"))
    active_id = active_ids[0] if active_ids else None
    active = next((e for e in environments if e.pk == active_id), None)
    return SwitcherState(is_member=bool(active_ids), active=active, environments=environments)
