"""`/orgs/<slug>/api-keys/`: org owners and admins create and revoke org-wide keys; nobody else finds it."""

from __future__ import annotations

import re

import pytest

from projects.models import ApiKey, AuditEvent, OrgMembership
from tests.api.conftest import ApiClient, expire_sudo, set_sudo
from tests.factories import make_user

KEY = re.compile(r"qdx_[A-Za-z0-9_-]{40}")


@pytest.fixture
def page(cast) -> str:
    return f"/orgs/{cast.org.slug}/api-keys/"


@pytest.fixture
def org_admin(cast):
    user = make_user("org-admin@acme.test")
    OrgMembership.objects.create(user=user, organization=cast.org, role=OrgMembership.OrgRole.ADMIN)
    return user


def test_an_org_owner_creates_an_admin_key_shown_once(cast, client, page):
    client.force_login(cast.owner)
    set_sudo(client, True)
    created = client.post(page, {"action": "create", "name": "Provisioning", "scope": "admin"})
    assert (created.status_code, created["Location"]) == (302, page)
    shown = client.get(page)
    assert shown["Cache-Control"] == "no-store"
    raw = KEY.search(shown.content.decode()).group(0)
    key = ApiKey.find(raw)
    assert (key.project, key.scope, key.created_by) == (None, "admin", cast.owner)
    assert raw not in client.get(page).content.decode()
    assert ApiClient(raw).get("/api/v1/org/projects").status_code == 200
    assert AuditEvent.objects.filter(action="api_key.created", organization=cast.org).count() == 1


def test_an_org_admin_makes_write_keys_but_never_admin_keys(cast, client, page, org_admin):
    client.force_login(org_admin)
    set_sudo(client, True)
    body = client.get(page).content.decode()
    assert 'value="write"' in body and 'value="admin"' not in body
    assert client.post(page, {"action": "create", "name": "CI", "scope": "write"}).status_code == 302
    refused = client.post(page, {"action": "create", "name": "Sneaky", "scope": "admin"})
    assert refused.status_code == 400  # not a choice offered to an admin
    assert list(ApiKey.objects.values_list("name", "scope")) == [("CI", "write")]


def test_creating_needs_sudo_mode(cast, client, page):
    client.force_login(cast.owner)
    expire_sudo(client)
    response = client.post(page, {"action": "create", "name": "CI", "scope": "read"})
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/confirm-password/")
    assert not ApiKey.objects.exists()


def test_revoking_an_org_wide_key(cast, client, page, org_admin):
    key, raw = ApiKey.issue(organization=cast.org, name="old", scope="write")
    client.force_login(org_admin)
    assert client.post(page, {"action": "revoke", "key_id": key.pk}).status_code == 302
    assert ApiClient(raw).get("/api/v1/org/projects").status_code == 401


@pytest.mark.parametrize("who", ["admin", "member", "viewer", "outsider"])
def test_people_who_dont_administer_the_organization_get_a_404(cast, client, page, who):
    client.force_login(cast.user(who))
    assert client.get(page).status_code == 404
    assert client.post(page, {"action": "create", "name": "x", "scope": "read"}).status_code == 404
    assert not ApiKey.objects.exists()


def test_anonymous_visitors_are_sent_to_log_in(client, page):
    assert client.get(page)["Location"].startswith("/accounts/login/")


def test_the_project_keys_page_links_org_admins_to_it(cast, client, page):
    client.force_login(cast.owner)
    assert page in client.get(f"/p/{cast.project.slug}/settings/api-keys/").content.decode()
    client.force_login(cast.admin)
    assert page not in client.get(f"/p/{cast.project.slug}/settings/api-keys/").content.decode()
