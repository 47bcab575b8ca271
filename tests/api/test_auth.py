"""SPEC §5 authentication: a key (bearer or X-API-Key) or the session with CSRF; refusals with their codes."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from projects.models import ApiKey
from tests.api.conftest import ApiClient, error_code
from tests.factories import make_user

LIST = "/api/v1/org/projects"


def test_a_bearer_key_lists_the_tenants_projects(cast, make_key):
    response = ApiClient(make_key()).get(LIST)
    assert response.status_code == 200
    assert [p["slug"] for p in response.json()["items"]] == [cast.project.slug]


def test_the_x_api_key_header_works_too(cast, make_key):
    response = ApiClient(make_key(), header="x-api-key").get(LIST)
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("setup", "status", "code"),
    [
        ("unknown", 401, "invalid_api_key"),
        ("malformed", 401, "invalid_api_key"),
        ("revoked", 401, "api_key_revoked"),
        ("expired", 401, "api_key_expired"),
        ("project_deleted", 401, "api_key_revoked"),
        ("read_scope_on_post", 403, "insufficient_scope"),
        ("none", 401, "authentication_required"),
    ],
)
def test_key_lifecycle_refusals(cast, make_key, setup, status, code):
    method, path, payload = "GET", LIST, None
    if setup == "unknown":
        raw = "qdx_" + "A" * 40
    elif setup == "malformed":
        raw = "not-a-key"
    elif setup == "revoked":
        raw = make_key()
        ApiKey.find(raw).revoke()
    elif setup == "expired":
        raw = make_key(expires_at=timezone.now() - timedelta(minutes=1))
    elif setup == "project_deleted":
        raw = make_key(project=cast.other_project, org=cast.other_project.organization)
        cast.other_project.soft_delete()
        path = "/api/v1/project"
    elif setup == "read_scope_on_post":
        raw = make_key(scope="read")
        method, payload = "POST", {"name": "Nope"}
    else:
        raw = None
    response = ApiClient(raw).request(method, path, json=payload)
    assert response.status_code == status
    assert error_code(response) == code
    assert response.json()["error"]["message"]


def test_a_read_key_may_read(cast, make_key):
    assert ApiClient(make_key(scope="read")).get(LIST).status_code == 200


def test_a_key_that_is_not_usable_never_falls_back_to_the_session(cast, make_key, client):
    client.force_login(cast.owner)
    response = ApiClient("qdx_" + "B" * 40, client=client).get(LIST)
    assert response.status_code == 401


def test_using_a_key_records_when_it_was_last_used(cast, make_key):
    raw = make_key()
    assert ApiKey.find(raw).last_used_at is None
    ApiClient(raw).get(LIST)
    assert ApiKey.find(raw).last_used_at is not None


def test_the_session_works_for_reads(cast, client):
    client.force_login(cast.owner)
    assert client.get(LIST).status_code == 200


def test_unsafe_session_requests_need_the_csrf_token(cast):
    client = Client(enforce_csrf_checks=True)
    client.force_login(cast.owner)
    response = client.post(LIST, {"name": "New"}, content_type="application/json")
    assert response.status_code == 403
    assert error_code(response) == "csrf_failed"

    client.get(f"/p/{cast.project.slug}/settings/")  # a page with a form sets the csrftoken cookie
    token = client.cookies["csrftoken"].value
    response = client.post(
        LIST, {"name": "New"}, content_type="application/json", headers={"X-CSRFToken": token}
    )
    assert response.status_code == 201, response.content


def test_unverified_accounts_get_a_json_refusal(cast, client):
    user = make_user("new@acme.test", verified=False)
    client.force_login(user)
    response = client.get(LIST)
    assert response.status_code == 403
    assert error_code(response) == "email_not_verified"


def test_org_routes_need_an_org_owner_or_admin_session(cast, client):
    client.force_login(cast.member)
    response = client.get(LIST)
    assert response.status_code == 403
    assert error_code(response) == "permission_denied"


def test_a_project_locked_key_cannot_use_org_routes(cast, make_key):
    response = ApiClient(make_key(project=cast.project)).get(LIST)
    assert response.status_code == 403
    assert error_code(response) == "project_forbidden"
