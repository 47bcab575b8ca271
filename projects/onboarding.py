"""What a new account gets when it verifies its email: its own organization and default project."""

from __future__ import annotations

from projects import doors
from projects.access import Actor
from projects.models import Project


def create_workspace(user, request) -> Project:
    """An organization owned by `user` (who just verified), whose default project `user` owns too."""
    return doors.create_workspace(Actor.person_at(request, user))
