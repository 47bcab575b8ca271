"""Accepting invitations, from the link page, from sign-up through the link, or from verification."""

from __future__ import annotations

from django.urls import reverse

from projects import audit
from projects.models import Invitation, Project
from qodex import emails

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
    member = invitation.accept(user)
    request.session.pop(SESSION_KEY, None)
    audit.record(
        request,
        "invitation.accepted",
        project=invitation.project,
        actor=user,
        target=user.email,
        details={"role": member.role, "invited_email": invitation.email},
    )
    return invitation.project


def send(request, invitation: Invitation, token: str) -> None:
    """Email the invitation link (pages and the API both invite through here)."""
    link = request.build_absolute_uri(reverse("invitation", args=[token]))
    emails.send(
        "invitation",
        invitation.email,
        {
            "invitation": invitation,
            "project": invitation.project,
            "inviter": invitation.invited_by,
            "link": link,
        },
    )


def invite(request, project: Project, email: str, role: str, invited_by) -> Invitation:
    """Invite `email` (or refresh their pending invitation), email the link and record it: pages and API."""
    invitation, token = project.invite(email, role, invited_by)
    send(request, invitation, token)
    audit.record(request, "member.invited", project=project, target=invitation.email, details={"role": role})
    return invitation
