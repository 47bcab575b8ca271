"""The `/api/v1/p/<slug>/members` and `/usage` mirror: the same role rules as the pages."""

from __future__ import annotations

import pytest
from django.core import mail

from projects.models import AuditEvent, Invitation, ProjectMember
from tests.api.conftest import ApiClient, error_code
from tests.factories import make_project


@pytest.fixture
def base(cast):
    return f"/api/v1/p/{cast.project.slug}"


def session(client, user) -> ApiClient:
    client.force_login(user)
    return ApiClient(client=client)


def test_viewers_list_the_members(cast, client, base):
    items = session(client, cast.viewer).get(f"{base}/members").json()["items"]
    assert {m["email"]: m["role"] for m in items} == {
        "owner@acme.test": "owner",
        "admin@acme.test": "admin",
        "member@acme.test": "member",
        "viewer@acme.test": "viewer",
    }
    assert set(items[0]) == {"id", "email", "name", "role", "joined_at"}


def test_admins_invite_by_email(cast, client, base):
    response = session(client, cast.admin).post(
        f"{base}/members", json={"email": "new@acme.test", "role": "member"}
    )
    assert response.status_code == 201
    assert response.json()["status"] == "pending"
    assert Invitation.objects.get(email="new@acme.test").invited_by == cast.admin
    assert len(mail.outbox) == 1
    assert AuditEvent.objects.filter(action="member.invited", target="new@acme.test").exists()


def test_inviting_a_member_again_is_a_409(cast, client, base):
    response = session(client, cast.admin).post(f"{base}/members", json={"email": "MEMBER@acme.test"})
    assert (response.status_code, error_code(response)) == (409, "already_member")


def test_members_cannot_invite(cast, client, base):
    response = session(client, cast.member).post(f"{base}/members", json={"email": "new@acme.test"})
    assert (response.status_code, error_code(response)) == (403, "permission_denied")
    assert not Invitation.objects.exists()


def test_only_owners_invite_owners(cast, client, base):
    response = session(client, cast.admin).post(
        f"{base}/members", json={"email": "boss@acme.test", "role": "owner"}
    )
    assert response.status_code == 403
    assert session(client, cast.owner).post(
        f"{base}/members", json={"email": "boss@acme.test", "role": "owner"}
    ).status_code == (201)


def test_a_bad_email_is_a_422(cast, client, base):
    response = session(client, cast.admin).post(f"{base}/members", json={"email": "not an email"})
    assert response.status_code == 422
    assert "email" in response.json()["error"]["fields"]


def test_admins_remove_members_but_not_owners(cast, client, base):
    api = session(client, cast.admin)
    member = ProjectMember.objects.get(project=cast.project, user=cast.member)
    assert api.delete(f"{base}/members/{member.pk}").status_code == 204
    assert not ProjectMember.objects.filter(pk=member.pk).exists()
    owner = ProjectMember.objects.get(project=cast.project, user=cast.owner)
    response = api.delete(f"{base}/members/{owner.pk}")
    assert (response.status_code, error_code(response)) == (403, "permission_denied")


def test_the_last_owner_stays(cast, client, base):
    owner = ProjectMember.objects.get(project=cast.project, user=cast.owner)
    response = session(client, cast.owner).delete(f"{base}/members/{owner.pk}")
    assert (response.status_code, error_code(response)) == (409, "last_owner")


def test_members_of_other_projects_are_not_found(cast, client, base):
    other = make_project(cast.org, "Other")
    theirs = ProjectMember.objects.create(project=other, user=cast.member, role="member")
    response = session(client, cast.owner).delete(f"{base}/members/{theirs.pk}")
    assert (response.status_code, error_code(response)) == (404, "member_not_found")


def test_a_write_key_invites(cast, make_key, base):
    response = ApiClient(make_key(project=cast.project)).post(
        f"{base}/members", json={"email": "ci@acme.test"}
    )
    assert response.status_code == 201
    event = AuditEvent.objects.get(action="member.invited")
    assert event.actor_api_key is not None


def test_usage_is_for_admins(cast, client, base):
    body = session(client, cast.admin).get(f"{base}/usage").json()
    assert body["totals"]["calls"] == 0 and body["by_source"] == []  # tests/usage/test_usage_api.py
    response = session(client, cast.member).get(f"{base}/usage")
    assert (response.status_code, error_code(response)) == (403, "permission_denied")


def test_org_owners_act_as_admins_on_projects_they_are_not_members_of(cast, client):
    project = make_project(cast.org, "Unjoined")
    api = session(client, cast.owner)
    assert api.get(f"/api/v1/p/{project.slug}/members").status_code == 200
    assert api.get(f"/api/v1/p/{project.slug}/usage").status_code == 200
