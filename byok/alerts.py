"""Cap alerts: when a platform-funded project passes 80% and again 100% of its 5-hour or weekly cap, its
owners and admins (and its organization's) get one email per threshold while that cap's window lasts.

The gateway calls `note_spend` after writing a platform-funded usage row, with the spend the cap check
saw just before the call: below 80% of both caps (nearly every call) it costs nothing; above, one small
query decides whether this call is the one that sends (at most one per threshold per window, even when
concurrent calls pass it together).
"""

from __future__ import annotations

import logging
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from byok import caps
from byok.models import CapAlert
from projects.models import OrgMembership, Project, ProjectMember
from projects.roles import Role
from qodex import emails

THRESHOLDS = (100, 80)  # percent; the highest one passed is the one announced
log = logging.getLogger(__name__)


def note_spend(project: Project, spent_before: dict[str, Decimal], cost: Decimal | None) -> None:
    """Send the alert a call's `cost` made due, if any (see the module docstring)."""
    if not cost:
        return
    for name, cap in caps.caps_of(project).items():
        if cap <= 0:
            continue
        spent = spent_before.get(name, Decimal(0)) + cost
        passed = [t for t in THRESHOLDS if spent * 100 >= cap * t]
        if passed and _claim(project, name, passed):
            _send(project, name, cap, spent, passed[0])


def _claim(project: Project, cap_name: str, passed: list[int]) -> bool:
    """Mark every passed threshold as announced; True if the highest had not been within its window."""
    now = timezone.now()
    window_start = now - caps.WINDOWS[cap_name]
    announce = False
    for threshold in passed:
        try:
            with transaction.atomic():
                _, created = CapAlert.objects.get_or_create(
                    project=project, cap=cap_name, threshold=threshold, defaults={"sent_at": now}
                )
        except IntegrityError:  # a concurrent call created it first: that call announces
            created = False
        # The conditional update lets exactly one of several concurrent calls renew an old alert.
        renewed = not created and bool(
            CapAlert.objects.filter(
                project=project, cap=cap_name, threshold=threshold, sent_at__lt=window_start
            ).update(sent_at=now)
        )
        if threshold == passed[0]:
            announce = created or renewed
    return announce


def recipients(project: Project) -> list[str]:
    """The project's owners and admins, and its organization's owners and admins (who act as admins)."""
    members = ProjectMember.objects.filter(project=project, role__in=[Role.OWNER, Role.ADMIN]).values_list(
        "user__email", flat=True
    )
    org_admins = OrgMembership.objects.filter(
        organization_id=project.organization_id,
        role__in=[OrgMembership.OrgRole.OWNER, OrgMembership.OrgRole.ADMIN],
    ).values_list("user__email", flat=True)
    return sorted(set(members) | set(org_admins))


def _send(project: Project, cap_name: str, cap: Decimal, spent: Decimal, threshold: int) -> None:
    context = {
        "project": project,
        "cap_name": cap_name,
        "cap": cap,
        "spent": spent.quantize(Decimal("0.01")),
        "threshold": threshold,
        "reached": threshold >= 100,
        "usage_link": settings.QODEX_SITE_URL + reverse("projects:usage", args=[project.slug]),
        "byok_link": settings.QODEX_SITE_URL + reverse("projects:byok", args=[project.slug]),
    }
    for address in recipients(project):
        try:
            emails.send("cap_alert", address, context)
        except OSError:  # a mail server that is down must not fail the LLM call that was already made
            log.warning("Could not send the %s%% %s cap alert of project %s", threshold, cap_name, project.pk)
