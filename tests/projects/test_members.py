from projects.models import AuditEvent, ProjectMember
from projects.roles import Role


def members_url(project) -> str:
    return f"/p/{project.slug}/settings/members/"


def membership(cast, user) -> ProjectMember:
    return ProjectMember.objects.get(project=cast.project, user=user)


def test_the_members_page_lists_members_and_roles(cast, login):
    body = login(cast.viewer).get(members_url(cast.project)).content.decode()
    for user in (cast.owner, cast.admin, cast.member, cast.viewer):
        assert user.email in body
    assert "Send invitation" not in body, "viewers do not see admin forms"


def test_an_admin_changes_a_role_and_it_is_audited(cast, login):
    target = membership(cast, cast.member)
    response = login(cast.admin).post(
        members_url(cast.project), {"action": "change_role", "member_id": target.pk, "role": "viewer"}
    )
    assert response.status_code == 302
    target.refresh_from_db()
    assert target.role == Role.VIEWER
    event = AuditEvent.objects.get(action="member.role_changed")
    assert (event.actor, event.target, event.details) == (
        cast.admin,
        cast.member.email,
        {"from": "member", "to": "viewer"},
    )


def test_an_admin_removes_a_member_and_it_is_audited(cast, login):
    target = membership(cast, cast.viewer)
    login(cast.admin).post(members_url(cast.project), {"action": "remove", "member_id": target.pk})
    assert not ProjectMember.objects.filter(pk=target.pk).exists()
    assert AuditEvent.objects.filter(action="member.removed", target=cast.viewer.email).exists()


def test_the_last_owner_cannot_be_demoted_or_removed(cast, login):
    client = login(cast.owner)
    mine = membership(cast, cast.owner)
    client.post(members_url(cast.project), {"action": "change_role", "member_id": mine.pk, "role": "admin"})
    client.post(members_url(cast.project), {"action": "remove", "member_id": mine.pk})
    mine.refresh_from_db()
    assert mine.role == Role.OWNER
    assert not AuditEvent.objects.filter(action__in=["member.role_changed", "member.removed"]).exists()


def test_an_owner_hands_over_then_steps_down(cast, login):
    client = login(cast.owner)
    new_owner = membership(cast, cast.admin)
    client.post(
        members_url(cast.project), {"action": "change_role", "member_id": new_owner.pk, "role": "owner"}
    )
    mine = membership(cast, cast.owner)
    client.post(members_url(cast.project), {"action": "change_role", "member_id": mine.pk, "role": "admin"})
    mine.refresh_from_db()
    new_owner.refresh_from_db()
    assert (mine.role, new_owner.role) == (Role.ADMIN, Role.OWNER)


def test_changing_an_owner_needs_a_recent_password(cast, client):
    client.force_login(cast.owner)
    session = client.session
    del session["sudo_confirmed_at"]  # as if the password was typed more than 30 minutes ago
    session.save()
    target = membership(cast, cast.member)
    response = client.post(
        members_url(cast.project), {"action": "change_role", "member_id": target.pk, "role": "owner"}
    )
    assert response["Location"].startswith("/accounts/confirm-password/")
    target.refresh_from_db()
    assert target.role == Role.MEMBER
    client.post("/accounts/confirm-password/", {"password": "correct-horse-battery"})
    client.post(members_url(cast.project), {"action": "change_role", "member_id": target.pk, "role": "owner"})
    target.refresh_from_db()
    assert target.role == Role.OWNER


def test_a_member_of_another_project_cannot_be_touched_through_this_one(cast, login):
    foreign = ProjectMember.objects.create(project=cast.other_project, user=cast.outsider, role=Role.MEMBER)
    response = login(cast.owner).post(
        members_url(cast.project), {"action": "remove", "member_id": foreign.pk}
    )
    assert response.status_code == 404
    assert ProjectMember.objects.filter(pk=foreign.pk).exists()


def test_bad_input_changes_nothing_and_is_not_a_500(cast, login):
    client = login(cast.admin)
    target = membership(cast, cast.member)
    for data in [
        {"action": "change_role", "member_id": target.pk, "role": "emperor"},
        {"action": "change_role", "member_id": "abc", "role": "viewer"},
        {"action": "nonsense"},
        {},
    ]:
        response = client.post(members_url(cast.project), data)
        assert response.status_code in (302, 400, 404), data
    target.refresh_from_db()
    assert target.role == Role.MEMBER
