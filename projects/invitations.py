"""The invitation link kept across sign-up and login, and accepting it (the door is projects.doors)."""

from __future__ import annotations

from projects import doors
from projects.access import Actor
from projects.models import Invitation, Project

SESSION_KEY = "invitation_token"


def remember(request, token: str) -> None:
    """Keep the token while its visitor signs up or logs in."""
    request.session[SESSION_KEY] = token


def from_session(request) -> Invitation | None:
    token = request.session.get(SESSION_KEY)
    if not token:
        return None
    invitation = Invitation.objects.by_token(token)
    if invitation is None or invitation.status != "pending" or invitation.project.is_deleted:
        request.session.pop(SESSION_KEY, None)
        return None
    return invitation


def accept(request, invitation: Invitation, user) -> Project:
    """Accept on behalf of `user` (just signed up, verified or logged in) through the door."""
    doors.accept_invitation(Actor.person_at(request, user), invitation)
    request.session.pop(SESSION_KEY, None)
    return invitation.project
