import re
from datetime import timedelta

from django.utils import timezone

from accounts.models import User
from projects.models import AuditEvent, Invitation, ProjectMember
from projects.roles import Role
from tests.factories import make_user

INVITE_LINK = re.compile(r"http://testserver(/invitations/[^/\s]+/)")


def invite(client, project, email="newbie@example.com", role="member"):
    return client.post(
        f"/p/{project.slug}/settings/members/", {"action": "invite", "email": email, "role": role}
    )


def link(mail) -> str:
    return INVITE_LINK.search(mail.body).group(1)


def test_an_admin_invites_by_email_and_the_email_carries_the_link(cast, login, mailoutbox):
    response = invite(login(cast.admin), cast.project)
    assert response.status_code == 302
    invitation = Invitation.objects.get()
    assert (invitation.email, invitation.role, invitation.invited_by) == (
        "newbie@example.com",
        "member",
        cast.admin,
    )
    assert mailoutbox[0].to == ["newbie@example.com"]
    assert link(mailoutbox[0]).startswith("/invitations/")
    assert invitation.expires_at > timezone.now() + timedelta(days=6, hours=23)
    assert AuditEvent.objects.filter(action="member.invited", target="newbie@example.com").exists()
    token = link(mailoutbox[0]).split("/")[2]
    assert token not in invitation.token_hash, "only the hash of the token is stored"


def test_a_signed_in_user_accepts_through_the_link(cast, login, client, mailoutbox):
    invite(login(cast.admin), cast.project, email=cast.outsider.email, role="viewer")
    client.logout()
    client.force_login(cast.outsider)
    path = link(mailoutbox[0])
    assert "Accept and join" in client.get(path).content.decode()
    response = client.post(path)
    assert response["Location"] == f"/p/{cast.project.slug}/"
    assert ProjectMember.objects.get(user=cast.outsider, project=cast.project).role == Role.VIEWER
    assert client.get(path).status_code == 410, "an invitation works once"
    assert AuditEvent.objects.filter(action="invitation.accepted", target=cast.outsider.email).exists()


def test_someone_new_signs_up_through_the_link_and_lands_in_the_project(cast, login, client, mailoutbox):
    invite(login(cast.admin), cast.project, email="fresh@example.com")
    client.logout()
    path = link(mailoutbox[0])
    assert "Create an account to join" in client.get(path).content.decode()
    response = client.post(
        "/accounts/signup/", {"email": "fresh@example.com", "password": "a-long-passphrase-42"}
    )
    user = User.objects.get(email="fresh@example.com")
    assert user.is_verified, "the invitation link proved the address"
    assert response["Location"] == f"/p/{cast.project.slug}/"
    assert ProjectMember.objects.get(user=user).project == cast.project
    assert not user.org_memberships.exists(), "no organization of their own when arriving by invitation"


def test_signing_up_through_the_link_with_another_email_verifies_first_then_joins(
    cast, login, client, mailoutbox
):
    invite(login(cast.admin), cast.project, email="work@example.com")
    client.logout()
    client.get(link(mailoutbox[0]))
    client.post("/accounts/signup/", {"email": "personal@example.com", "password": "a-long-passphrase-42"})
    verify = re.search(r"http://testserver(/accounts/verify/[^/\s]+/)", mailoutbox[-1].body).group(1)
    response = client.get(verify)
    user = User.objects.get(email="personal@example.com")
    assert response["Location"] == f"/p/{cast.project.slug}/"
    assert [m.project for m in ProjectMember.objects.filter(user=user)] == [cast.project]


def test_resend_issues_a_fresh_token_and_the_old_link_stops_working(cast, login, mailoutbox):
    client = login(cast.admin)
    invite(client, cast.project)
    old = link(mailoutbox[0])
    invitation = Invitation.objects.get()
    Invitation.objects.update(expires_at=timezone.now() - timedelta(days=1))
    client.post(
        f"/p/{cast.project.slug}/settings/members/", {"action": "resend", "invitation_id": invitation.pk}
    )
    new = link(mailoutbox[1])
    assert new != old
    replaced = client.get(old)
    assert replaced.status_code == 410
    assert "replaced by a newer invitation" in replaced.content.decode()
    invitation.refresh_from_db()
    assert invitation.status == "pending"
    assert AuditEvent.objects.filter(action="invitation.resent").exists()


def test_a_revoked_invitation_says_so(cast, login, client, mailoutbox):
    admin = login(cast.admin)
    invite(admin, cast.project)
    invitation = Invitation.objects.get()
    admin.post(
        f"/p/{cast.project.slug}/settings/members/", {"action": "revoke", "invitation_id": invitation.pk}
    )
    client.force_login(cast.outsider)
    response = client.post(link(mailoutbox[0]))
    assert response.status_code == 410
    assert "revoked" in response.content.decode()
    assert not ProjectMember.objects.filter(user=cast.outsider).exists()
    assert AuditEvent.objects.filter(action="invitation.revoked").exists()


def test_an_expired_invitation_says_so_clearly(cast, login, client, mailoutbox):
    invite(login(cast.admin), cast.project)
    Invitation.objects.update(expires_at=timezone.now() - timedelta(minutes=1))
    client.force_login(cast.outsider)
    response = client.post(link(mailoutbox[0]))
    assert response.status_code == 410
    assert "expired" in response.content.decode()
    assert not ProjectMember.objects.filter(user=cast.outsider).exists()


def test_inviting_an_existing_member_is_refused_with_a_message(cast, login, mailoutbox):
    response = invite(login(cast.admin), cast.project, email=cast.member.email.upper())
    assert response.status_code == 400
    assert "already a member" in response.content.decode()
    assert mailoutbox == []


def test_admins_cannot_invite_owners(cast, login, mailoutbox):
    response = invite(login(cast.admin), cast.project, role="owner")
    assert response.status_code == 400
    assert not Invitation.objects.exists()


def test_an_existing_member_accepting_keeps_the_higher_role(cast, login, client, mailoutbox):
    invite(login(cast.owner), cast.project, email="someone@example.com", role="viewer")
    user = make_user("someone@example.com")
    ProjectMember.objects.create(user=user, project=cast.project, role=Role.ADMIN)
    Invitation.objects.get().accept(user)
    assert ProjectMember.objects.get(user=user).role == Role.ADMIN
