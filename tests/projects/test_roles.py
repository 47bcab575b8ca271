"""SPEC §3, row by row: who may do what on a project."""

import pytest

from projects.models import OrgMembership, ProjectMember
from projects.roles import Role
from tests.factories import make_user

ROLES = ["viewer", "member", "admin", "owner"]


def allowed(minimum: str) -> list[tuple[str, bool]]:
    return [(role, ROLES.index(role) >= ROLES.index(minimum)) for role in ROLES]


@pytest.mark.parametrize("role", ROLES)
def test_row_read_every_project_page(cast, login, role):
    client = login(cast.user(role))
    for name in [
        "",
        "chat/",
        "scenarios/",
        "test-runs/",
        "findings/",
        "playground/",
        "memory/",
        "settings/",
        "settings/members/",
        "settings/environments/",
        "settings/api-keys/",
        "settings/byok/",
    ]:
        assert client.get(f"/p/{cast.project.slug}/{name}").status_code == 200, name


@pytest.mark.parametrize(("role", "ok"), allowed("admin"))
def test_row_manage_members_and_invitations(cast, login, role, ok, mailoutbox):
    response = login(cast.user(role)).post(
        f"/p/{cast.project.slug}/settings/members/",
        {"action": "invite", "email": "x@example.com", "role": "member"},
    )
    assert (response.status_code == 302) is ok
    assert cast.project.invitations.exists() is ok
    if not ok:
        assert response.status_code == 403


@pytest.mark.parametrize(("role", "ok"), allowed("admin"))
def test_row_project_settings(cast, login, role, ok):
    response = login(cast.user(role)).post(
        f"/p/{cast.project.slug}/settings/", {"action": "rename", "name": "Renamed"}
    )
    cast.project.refresh_from_db()
    assert (cast.project.name == "Renamed") is ok
    assert response.status_code == (302 if ok else 403)


@pytest.mark.parametrize(("role", "ok"), allowed("admin"))
def test_row_read_the_audit_log(cast, login, role, ok):
    response = login(cast.user(role)).get(f"/p/{cast.project.slug}/settings/audit/")
    assert response.status_code == (200 if ok else 403)


@pytest.mark.parametrize(("role", "ok"), allowed("admin"))
def test_row_read_the_llm_usage(cast, login, role, ok):
    response = login(cast.user(role)).get(f"/p/{cast.project.slug}/settings/usage/")
    assert response.status_code == (200 if ok else 403)


@pytest.mark.parametrize(("role", "ok"), allowed("owner"))
def test_row_change_an_owner(cast, login, role, ok):
    client = login(cast.user(role))
    owner_membership = ProjectMember.objects.get(project=cast.project, user=cast.owner)
    new_owner = ProjectMember.objects.get(project=cast.project, user=cast.member)
    response = client.post(
        f"/p/{cast.project.slug}/settings/members/",
        {"action": "change_role", "member_id": new_owner.pk, "role": "owner"},
    )
    new_owner.refresh_from_db()
    assert (new_owner.role == Role.OWNER) is ok
    if not ok:
        assert response.status_code == 403
        response = client.post(
            f"/p/{cast.project.slug}/settings/members/",
            {"action": "remove", "member_id": owner_membership.pk},
        )
        assert response.status_code == 403
        assert ProjectMember.objects.filter(pk=owner_membership.pk).exists()


@pytest.mark.parametrize(("role", "ok"), allowed("owner"))
def test_row_delete_the_project(cast, login, role, ok):
    project = cast.other_project  # not a default project, so it can be deleted
    ProjectMember.objects.create(project=project, user=cast.user(role), role=role)
    response = login(cast.user(role)).post(
        f"/p/{project.slug}/settings/", {"action": "delete", "confirm_slug": project.slug}
    )
    project.refresh_from_db()
    assert (project.deleted_at is not None) is ok
    if not ok:
        assert response.status_code == 403


def test_org_owners_and_admins_act_as_admins_on_every_project(cast, login):
    org_admin = make_user("orgadmin@acme.test")
    OrgMembership.objects.create(user=org_admin, organization=cast.org, role=OrgMembership.OrgRole.ADMIN)
    client = login(org_admin)
    assert client.get(f"/p/{cast.project.slug}/settings/audit/").status_code == 200
    response = client.post(f"/p/{cast.project.slug}/settings/", {"action": "rename", "name": "By org admin"})
    assert response.status_code == 302
    # …but not as owners.
    response = client.post(
        f"/p/{cast.project.slug}/settings/members/",
        {
            "action": "change_role",
            "member_id": ProjectMember.objects.get(user=cast.member).pk,
            "role": "owner",
        },
    )
    assert response.status_code == 403


def test_plain_org_members_do_not_reach_projects_they_are_not_members_of(cast, login):
    org_member = make_user("orgmember@acme.test")
    OrgMembership.objects.create(user=org_member, organization=cast.org, role=OrgMembership.OrgRole.MEMBER)
    assert login(org_member).get(f"/p/{cast.project.slug}/").status_code == 404
