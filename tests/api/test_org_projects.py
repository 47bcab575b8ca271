"""SPEC §5 `/api/v1/org/projects`, row by row of the table."""

from __future__ import annotations

import re
from datetime import datetime

import pytest

from projects.access import Actor
from projects.models import AuditEvent, Project
from projects.roles import Role
from qa.models import Memory
from tests.api.conftest import ApiClient, error_code, expire_sudo, set_sudo
from tests.factories import make_project

URL = "/api/v1/org/projects"


@pytest.fixture
def api(cast, make_key):
    return ApiClient(make_key())


def test_it_lists_the_tenants_live_projects(cast, api):
    kept = make_project(cast.org, "Kept")
    make_project(cast.org, "Gone").soft_delete()
    items = api.get(URL).json()["items"]
    assert [p["id"] for p in items] == [cast.project.public_id, kept.public_id]
    assert set(items[0]) == {"id", "name", "slug", "is_default", "memory_count", "created_at"}


def test_timestamps_are_rfc_3339_in_utc(cast, api):
    created_at = api.get(URL).json()["items"][0]["created_at"]
    assert created_at.endswith("Z")
    assert datetime.fromisoformat(created_at) == cast.project.created_at


def test_it_creates_a_project_with_a_fresh_id(cast, api):
    response = api.post(URL, json={"name": "Checkout", "slug": "checkout"})
    assert response.status_code == 201
    body = response.json()
    assert re.fullmatch(r"proj_[0-9a-f]{16}", body["id"])
    assert (body["name"], body["slug"], body["is_default"], body["memory_count"]) == (
        "Checkout",
        "checkout",
        False,
        0,
    )
    project = Project.objects.get(public_id=body["id"])
    assert project.organization == cast.org
    # Created by a key: whoever created the key owns the project.
    assert Actor(user=cast.owner).role_on(project) == Role.OWNER
    assert AuditEvent.objects.filter(project=project, action="project.created").exists()


def test_a_key_whose_creator_left_the_organization_makes_no_owner(cast, make_key):
    outsider_key = make_key(created_by=cast.outsider)
    body = ApiClient(outsider_key).post(URL, json={"name": "Orphan"}).json()
    project = Project.objects.get(public_id=body["id"])
    assert not project.members.exists()
    assert Actor(user=cast.owner).role_on(project) == Role.OWNER  # org owners act as owners everywhere


def test_a_slug_is_derived_from_the_name_when_missing(api):
    assert api.post(URL, json={"name": "Mobile App"}).json()["slug"] == "mobile-app"


def test_a_taken_slug_is_a_409_even_when_its_project_was_deleted(cast, api):
    make_project(cast.org, "Old", slug="old").soft_delete()
    response = api.post(URL, json={"name": "New", "slug": "old"})
    assert response.status_code == 409
    assert error_code(response) == "slug_taken"


@pytest.mark.parametrize(
    "payload", [{}, {"name": "  "}, {"name": "x" * 101}, {"name": "ok", "slug": "Bad Slug"}]
)
def test_bad_input_is_a_422_naming_the_field(api, payload):
    response = api.post(URL, json=payload)
    assert response.status_code == 422
    assert response.json()["error"]["fields"]


def test_it_gets_one_project(cast, api):
    body = api.get(f"{URL}/{cast.project.public_id}").json()
    assert body["id"] == cast.project.public_id
    assert body["is_default"] is True


@pytest.mark.parametrize("which", ["unknown", "foreign", "deleted", "malformed"])
def test_unknown_foreign_and_deleted_ids_are_project_not_found(cast, api, which):
    project_id = {
        "unknown": "proj_0000000000000000",
        "foreign": cast.other_project.public_id,
        "deleted": None,
        "malformed": "nope",
    }[which]
    if which == "deleted":
        gone = make_project(cast.org, "Gone")
        gone.soft_delete()
        project_id = gone.public_id
    for method in ("get", "patch", "delete"):
        response = getattr(api, method)(f"{URL}/{project_id}")
        assert response.status_code == 404, method
        assert error_code(response) == "project_not_found"


def test_patch_renames_and_moves_the_default_flag(cast, api):
    other = make_project(cast.org, "Other")
    response = api.patch(f"{URL}/{other.public_id}", json={"name": "Renamed", "is_default": True})
    assert response.status_code == 200
    assert response.json()["name"] == "Renamed"
    assert response.json()["is_default"] is True
    cast.project.refresh_from_db()
    assert not cast.project.is_default
    assert AuditEvent.objects.filter(project=other, action="project.default_changed").exists()


def test_the_default_flag_cannot_be_switched_off_directly(cast, api):
    response = api.patch(f"{URL}/{cast.project.public_id}", json={"is_default": False})
    assert response.status_code == 409
    assert error_code(response) == "default_project"


def test_a_write_key_acts_as_an_admin_and_cannot_delete_a_project(cast, api):
    project = make_project(cast.org, "Kept")
    response = api.delete(f"{URL}/{project.public_id}")
    assert (response.status_code, error_code(response)) == (403, "insufficient_scope")
    project.refresh_from_db()
    assert project.deleted_at is None


def test_delete_soft_deletes_and_moves_memories_to_org_wide(cast, make_key):
    api = ApiClient(make_key(scope="admin"))
    project = make_project(cast.org, "Doomed")
    memory = Memory.objects.add(project=project, content="Staging resets nightly")
    response = api.delete(f"{URL}/{project.public_id}")
    assert response.status_code == 204
    project.refresh_from_db()
    memory.refresh_from_db()
    assert project.deleted_at is not None
    assert project.memory_count == 0
    assert memory.project is None
    assert memory.organization == cast.org
    assert api.get(f"{URL}/{project.public_id}").status_code == 404
    assert AuditEvent.objects.filter(project=project, action="project.deleted").exists()


def test_the_default_project_cannot_be_deleted(cast, make_key):
    response = ApiClient(make_key(scope="admin")).delete(f"{URL}/{cast.project.public_id}")
    assert response.status_code == 409
    assert error_code(response) == "default_project"


def test_a_session_needs_sudo_mode_and_ownership_to_delete(cast, client):
    project = make_project(cast.org, "Doomed")
    client.force_login(cast.owner)
    expire_sudo(client)
    response = client.delete(f"{URL}/{project.public_id}")
    assert response.status_code == 403
    assert error_code(response) == "sudo_required"
    set_sudo(client, True)
    assert client.delete(f"{URL}/{project.public_id}").status_code == 204


def test_a_session_org_owner_creates_projects_it_then_owns(cast, client):
    client.force_login(cast.owner)
    response = client.post(URL, {"name": "From session"}, content_type="application/json")
    assert response.status_code == 201
    assert Actor(user=cast.owner).role_on(Project.objects.get(public_id=response.json()["id"])) == Role.OWNER
