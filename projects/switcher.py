"""The project switcher: every project the user can open, grouped by organization, in one query."""

from __future__ import annotations

from projects.models import Project


def switcher_projects(user) -> list[Project]:
    return list(
        Project.objects.for_user(user)
        .select_related("organization")
        .order_by("organization__name", "organization_id", "-is_default", "name")
    )
