"""SPEC §5 `/api/v1/org/api-keys`: the key is shown once, lists never show it, revoked keys stop working."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from projects.models import ApiKey, AuditEvent
from tests.api.conftest import ApiClient, error_code, expire_sudo, set_sudo
from tests.factories import make_project

URL = "/api/v1/org/api-keys"


@pytest.fixture
def api(cast, make_key):
    return ApiClient(make_key(name="admin key"))


def test_creating_a_key_shows_it_once(cast, api):
    response = api.post(URL, json={"name": "CI", "scope": "write"})
    assert response.status_code == 201
    body = response.json()
    assert body["key"].startswith("qdx_")
    assert body["prefix"] == body["key"][:12]
    assert (body["name"], body["scope"], body["project_id"]) == ("CI", "write", None)
    assert ApiClient(body["key"]).get("/api/v1/org/projects").status_code == 200

    listed = api.get(URL).json()["items"]
    assert {k["name"] for k in listed} == {"CI", "admin key"}
    assert body["key"] not in str(listed)
    assert all("key" not in k for k in listed)


def test_a_project_locked_key_reaches_only_its_project(cast, api):
    other = make_project(cast.org, "Other")
    body = api.post(URL, json={"name": "CI", "scope": "read", "project_id": other.public_id}).json()
    assert body["project_id"] == other.public_id
    locked = ApiClient(body["key"])
    assert locked.get("/api/v1/project").json()["id"] == other.public_id
    response = locked.get("/api/v1/project", headers={"X-Project-ID": cast.project.public_id})
    assert (response.status_code, error_code(response)) == (403, "project_forbidden")


@pytest.mark.parametrize(
    ("payload", "status", "code"),
    [
        ({"name": "x", "project_id": "proj_0000000000000000"}, 404, "project_not_found"),
        ({"name": "x", "project_id": "nope"}, 404, "project_not_found"),
        ({"name": "x", "scope": "owner"}, 422, "validation_failed"),
        ({"name": "x", "scope": "admin"}, 403, "permission_denied"),  # a key never mints an admin key
        ({"name": ""}, 422, "validation_failed"),
        ({"name": "x", "expires_at": "2001-01-01T00:00:00Z"}, 422, "validation_failed"),
        ({"name": "x", "expires_at": "tomorrow"}, 422, "validation_failed"),
        (
            {"name": "x", "expires_at": "2030-01-01T00:00:00"},
            422,
            "validation_failed",
        ),  # no time zone: was a 500
    ],
)
def test_bad_requests_say_why(api, payload, status, code):
    response = api.post(URL, json=payload)
    assert (response.status_code, error_code(response)) == (status, code)
    assert not ApiKey.objects.filter(name="x").exists()


def test_a_foreign_project_cannot_be_named(cast, api):
    response = api.post(URL, json={"name": "x", "project_id": cast.other_project.public_id})
    assert (response.status_code, error_code(response)) == (404, "project_not_found")


def test_keys_may_expire(api):
    expires = (timezone.now() + timedelta(days=30)).isoformat()
    body = api.post(URL, json={"name": "x", "expires_at": expires}).json()
    assert body["expires_at"] is not None
    ApiKey.objects.filter(pk=body["id"]).update(expires_at=timezone.now() - timedelta(seconds=1))
    response = ApiClient(body["key"]).get("/api/v1/org/projects")
    assert (response.status_code, error_code(response)) == (401, "api_key_expired")


def test_revoking_stops_the_key(cast, api, make_key):
    raw = make_key(name="victim")
    key = ApiKey.find(raw)
    assert api.delete(f"{URL}/{key.pk}").status_code == 204
    response = ApiClient(raw).get("/api/v1/org/projects")
    assert (response.status_code, error_code(response)) == (401, "api_key_revoked")
    assert api.delete(f"{URL}/{key.pk}").status_code == 204  # idempotent
    assert key.name not in {k["name"] for k in api.get(URL).json()["items"]}
    assert AuditEvent.objects.filter(action="api_key.revoked").count() == 1


def test_keys_of_another_organization_are_not_found(cast, api):
    _, _ = ApiKey.issue(organization=cast.other_project.organization, name="theirs")
    theirs = ApiKey.objects.get(name="theirs")
    response = api.delete(f"{URL}/{theirs.pk}")
    assert (response.status_code, error_code(response)) == (404, "api_key_not_found")
    assert ApiKey.objects.get(pk=theirs.pk).revoked_at is None


def test_a_read_key_cannot_create_keys(make_key):
    response = ApiClient(make_key(scope="read")).post(URL, json={"name": "x"})
    assert (response.status_code, error_code(response)) == (403, "insufficient_scope")


def test_a_session_needs_sudo_mode_to_create_a_key(cast, client):
    client.force_login(cast.owner)
    expire_sudo(client)
    response = client.post(URL, {"name": "x"}, content_type="application/json")
    assert (response.status_code, error_code(response)) == (403, "sudo_required")
    set_sudo(client, True)
    response = client.post(URL, {"name": "x"}, content_type="application/json")
    assert response.status_code == 201
    assert ApiKey.objects.get(pk=response.json()["id"]).created_by == cast.owner


def test_the_audit_log_records_creation_without_the_key(cast, api):
    raw = api.post(URL, json={"name": "CI"}).json()["key"]
    event = AuditEvent.objects.get(action="api_key.created")
    assert event.actor_api_key is not None
    assert raw not in str(event.details) + event.target + event.actor_label
