"""The page `/p/<slug>/settings/api-keys/`: admins create project-locked keys (shown once), list, revoke."""

from __future__ import annotations

import re
from urllib.parse import quote

import pytest

from projects.models import ApiKey, AuditEvent
from tests.api.conftest import ApiClient, expire_sudo, set_sudo

KEY = re.compile(r"qdx_[A-Za-z0-9_-]{40}")


@pytest.fixture
def page(cast):
    return f"/p/{cast.project.slug}/settings/api-keys/"


def create(client, page, **fields):
    set_sudo(client, True)
    return client.post(page, {"action": "create", "name": "GitHub Actions", "scope": "write", **fields})


def test_an_admin_creates_a_key_shown_once_with_a_curl_line(cast, login, page):
    client = login(cast.admin)
    created = create(client, page)
    # Post/redirect/get: refreshing the page that shows the key never creates a second one.
    assert (created.status_code, created["Location"]) == (302, page)
    response = client.get(page)
    assert response.status_code == 200
    html = response.content.decode()
    raw = KEY.search(html).group(0)
    assert f'curl -H "Authorization: Bearer {raw}" http://testserver/api/v1/project' in html
    assert 'data-copy="new-key"' in html
    assert response["Cache-Control"] == "no-store"
    key = ApiKey.find(raw)
    assert (key.project, key.organization, key.scope, key.created_by) == (
        cast.project,
        cast.org,
        "write",
        cast.admin,
    )
    # The key works, and reaches this project only.
    assert ApiClient(raw).get("/api/v1/project").json()["id"] == cast.project.public_id
    # Never again: the list shows the prefix, not the key.
    listed = client.get(page).content.decode()
    assert raw not in listed
    assert key.prefix in listed
    assert ApiKey.objects.count() == 1
    assert AuditEvent.objects.filter(project=cast.project, action="api_key.created").exists()


def test_creating_a_key_needs_sudo_mode(cast, login, page):
    client = login(cast.admin)
    expire_sudo(client)
    response = client.post(page, {"action": "create", "name": "CI", "scope": "read"})
    assert response.status_code == 302
    assert response["Location"] == f"/accounts/confirm-password/?next={quote(page, safe='')}"
    assert not ApiKey.objects.exists()


def test_an_expiry_can_be_chosen(cast, login, page):
    create(login(cast.admin), page, expires_in="30")
    assert ApiKey.objects.get().expires_at is not None


def test_a_blank_name_is_refused_inline(cast, login, page):
    response = create(login(cast.admin), page, name=" ")
    assert response.status_code == 400
    assert b"field-error" in response.content
    assert not ApiKey.objects.exists()


def test_admins_revoke(cast, login, page):
    key, raw = ApiKey.issue(organization=cast.org, project=cast.project, name="old")
    client = login(cast.admin)
    response = client.post(page, {"action": "revoke", "key_id": key.pk})
    assert response.status_code == 302
    assert ApiClient(raw).get("/api/v1/project").status_code == 401
    assert "old" not in client.get(page).content.decode().split("API keys", 2)[-1]


def test_keys_of_other_projects_cannot_be_revoked_here(cast, login, page):
    key, _ = ApiKey.issue(organization=cast.other_project.organization, project=cast.other_project, name="x")
    assert login(cast.admin).post(page, {"action": "revoke", "key_id": key.pk}).status_code == 404
    assert login(cast.admin).post(page, {"action": "revoke", "key_id": "nope"}).status_code == 404
    key.refresh_from_db()
    assert key.revoked_at is None


@pytest.mark.parametrize("role", ["viewer", "member"])
def test_non_admins_see_the_list_but_cannot_create_or_revoke(cast, login, page, role):
    key, _ = ApiKey.issue(organization=cast.org, project=cast.project, name="ci")
    client = login(cast.user(role))
    response = client.get(page)
    assert response.status_code == 200
    assert b"Create a key" not in response.content
    assert create(client, page).status_code == 403
    assert client.post(page, {"action": "revoke", "key_id": key.pk}).status_code == 403
    assert ApiKey.objects.count() == 1
