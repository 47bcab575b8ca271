"""SPEC §5 memories: the resolved project (default allowed), ?q=, ?scope=org, by id; memory_count follows."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from qa.models import Memory
from tests.api.conftest import ApiClient, error_code
from tests.factories import make_project

URL = "/api/v1/memories"


@pytest.fixture
def api(cast, make_key):
    return ApiClient(make_key())


def count(project) -> int:
    project.refresh_from_db()
    return project.memory_count


def test_without_a_project_header_memories_go_to_the_default_project(cast, api):
    response = api.post(URL, json={"content": "Staging resets nightly", "metadata": {"source": "ops"}})
    assert response.status_code == 201
    body = response.json()
    assert {"id", "content", "metadata", "project_id", "created_at"} <= set(body)
    assert body["project_id"] == cast.project.public_id
    assert body["metadata"] == {"source": "ops"}
    assert count(cast.project) == 1


def test_the_header_names_the_project(cast, api):
    other = make_project(cast.org, "Other")
    response = api.post(URL, json={"content": "x"}, headers={"X-Project-ID": other.public_id})
    assert response.json()["project_id"] == other.public_id
    assert count(other) == 1
    assert api.get(URL).json()["items"] == []  # the default project has none
    assert len(api.get(URL, headers={"X-Project-ID": other.public_id}).json()["items"]) == 1


def test_a_locked_key_uses_its_project(cast, make_key):
    other = make_project(cast.org, "Other")
    api = ApiClient(make_key(project=other))
    assert api.post(URL, json={"content": "x"}).json()["project_id"] == other.public_id


def test_get_patch_delete_by_id_keep_the_count(cast, api):
    memory_id = api.post(URL, json={"content": "old"}).json()["id"]
    assert api.get(f"{URL}/{memory_id}").json()["content"] == "old"
    patched = api.patch(f"{URL}/{memory_id}", json={"content": "new", "metadata": {"k": 1}}).json()
    assert (patched["content"], patched["metadata"]) == ("new", {"k": 1})
    assert count(cast.project) == 1
    assert api.delete(f"{URL}/{memory_id}").status_code == 204
    assert count(cast.project) == 0
    response = api.get(f"{URL}/{memory_id}")
    assert (response.status_code, error_code(response)) == (404, "memory_not_found")


def test_memories_of_another_project_are_not_found_by_id(cast, api):
    other = make_project(cast.org, "Other")
    theirs = Memory.objects.add(project=other, content="secret plans")
    for method in ("get", "patch", "delete"):
        response = getattr(api, method)(f"{URL}/{theirs.pk}")
        assert response.status_code == 404, method
    assert count(other) == 1


def test_q_searches_the_content(cast, api):
    for text in (
        "The staging database resets nightly",
        "Login uses single sign-on",
        "Databases are backed up",
    ):
        Memory.objects.add(project=cast.project, content=text)
    found = [m["content"] for m in api.get(URL, q="database").json()["items"]]
    assert "The staging database resets nightly" in found
    assert "Login uses single sign-on" not in found


def test_scope_org_lists_org_wide_memories(cast, api):
    Memory.objects.add(organization=cast.org, content="Company style guide")
    Memory.objects.add(project=cast.project, content="Project note")
    items = api.get(URL, scope="org").json()["items"]
    assert [m["content"] for m in items] == ["Company style guide"]
    assert items[0]["project_id"] is None
    created = api.post(f"{URL}?scope=org", json={"content": "Org rule"}).json()
    assert created["project_id"] is None


def test_scope_org_is_refused_to_locked_keys_and_project_only_members(cast, make_key, client):
    response = ApiClient(make_key(project=cast.project)).get(URL, scope="org")
    assert (response.status_code, error_code(response)) == (403, "project_forbidden")
    client.force_login(cast.member)
    response = client.get(URL, {"scope": "org"})
    assert (response.status_code, error_code(response)) == (403, "permission_denied")


def test_viewers_read_but_cannot_write(cast, client):
    Memory.objects.add(project=cast.project, content="x")
    client.force_login(cast.viewer)
    assert len(client.get(URL).json()["items"]) == 1
    response = client.post(URL, {"content": "y"}, content_type="application/json")
    assert (response.status_code, error_code(response)) == (403, "permission_denied")


def test_members_write(cast, client):
    client.force_login(cast.member)
    response = client.post(URL, {"content": "y"}, content_type="application/json")
    assert response.status_code == 201


def test_empty_content_is_a_422(api):
    response = api.post(URL, json={"content": "   "})
    assert response.status_code == 422
    assert "content" in response.json()["error"]["fields"]


def test_the_mirror_route_serves_the_same_memories(cast, api):
    Memory.objects.add(project=cast.project, content="via mirror")
    base = f"/api/v1/p/{cast.project.slug}/memories"
    assert [m["content"] for m in api.get(base).json()["items"]] == ["via mirror"]
    created = api.post(base, json={"content": "second"}).json()
    assert api.delete(f"{base}/{created['id']}").status_code == 204
    assert count(cast.project) == 1


def test_memories_are_created_only_through_the_manager(cast):
    with pytest.raises(ValidationError):
        Memory(project=cast.project, organization=cast.org, content="x").save()


def test_adding_to_a_deleted_project_is_refused_and_counts_nothing(cast):
    project = make_project(cast.org, "Gone")
    project.soft_delete()
    with pytest.raises(ValidationError):
        Memory.objects.add(project=project, content="x")
    assert not Memory.objects.filter(content="x").exists()
