"""SPEC §11 for the API: walk the ninja routers and try every `/api/v1/p/<slug>/…` route and method as
everyone who must not get in, keys included. A route added later is covered the moment it is mounted.
"""

from __future__ import annotations

import re

import pytest

from projects.models import ApiKey
from projects.roles import Role
from qodex.api import api as ninja_api
from tests.api.conftest import ApiClient, error_code
from tests.factories import add_member, make_project, make_user

PARAM = re.compile(r"\{(?:\w+:)?(\w+)\}")


def mirror_operations() -> list[tuple[str, str, object]]:
    """(path, method, operation) for every operation mounted under /p/{slug}/."""
    found = []
    for prefix, router in ninja_api._routers:
        for path, path_view in router.path_operations.items():
            full = (prefix.rstrip("/") + "/" + path.lstrip("/")).lstrip("/")
            if not full.startswith("p/{slug}/"):
                continue
            for operation in path_view.operations:
                for method in operation.methods:
                    found.append((full, method, operation))
    return found


UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
OPERATIONS = mirror_operations()
IDS = [f"{method} {path}" for path, method, _ in OPERATIONS]
UNSAFE_OPERATIONS = [op for op in OPERATIONS if op[1] in UNSAFE]
UNSAFE_IDS = [f"{method} {path}" for path, method, _ in UNSAFE_OPERATIONS]


def url(path: str, slug: str) -> str:
    return "/api/v1/" + PARAM.sub(lambda m: slug if m.group(1) == "slug" else "1", path)


def call(client: ApiClient, method: str, path: str, slug: str):
    return client.request(method, url(path, slug), json={} if method in UNSAFE else None)


def test_the_walk_finds_the_mirror_routes():
    paths = {path for path, _, _ in OPERATIONS}
    assert {"p/{slug}/members", "p/{slug}/memories", "p/{slug}/usage", "p/{slug}/environments"} <= paths


@pytest.mark.parametrize(("path", "method", "operation"), OPERATIONS, ids=IDS)
def test_every_mirror_route_is_guarded_by_project_route(path, method, operation):
    policies = [getattr(callback, "policy", None) for callback in operation.auth_callbacks]
    assert len(policies) == 1 and policies[0].__qualname__.startswith("project_route"), (
        f"{method} {path} must declare auth=project_route(...) from qodex.api_auth"
    )


@pytest.mark.parametrize(("path", "method", "operation"), OPERATIONS, ids=IDS)
def test_anonymous_callers_get_401(cast, path, method, operation):
    response = call(ApiClient(), method, path, cast.project.slug)
    assert (response.status_code, error_code(response)) == (401, "authentication_required")


@pytest.mark.parametrize(("path", "method", "operation"), OPERATIONS, ids=IDS)
def test_non_members_get_the_same_404_as_a_missing_slug(cast, client, path, method, operation):
    for user in (cast.outsider, add_member(cast.other_project, Role.OWNER)):
        client.force_login(user)
        session = ApiClient(client=client)
        response = call(session, method, path, cast.project.slug)
        missing = call(session, method, path, "no-such-project")
        assert response.status_code == 404, (user, method, path)
        assert response.json() == missing.json()


@pytest.mark.parametrize(("path", "method", "operation"), UNSAFE_OPERATIONS, ids=UNSAFE_IDS)
def test_viewers_are_refused_every_unsafe_method(cast, client, path, method, operation):
    client.force_login(cast.viewer)
    response = call(ApiClient(client=client), method, path, cast.project.slug)
    assert (response.status_code, error_code(response)) == (403, "permission_denied")


@pytest.mark.parametrize(("path", "method", "operation"), OPERATIONS, ids=IDS)
def test_a_key_locked_to_project_a_is_forbidden_on_project_b(cast, path, method, operation):
    project_a = make_project(cast.org, "A")
    _, raw = ApiKey.issue(organization=cast.org, project=project_a, name="A", scope="write")
    response = call(ApiClient(raw), method, path, cast.project.slug)
    assert (response.status_code, error_code(response)) == (403, "project_forbidden")


@pytest.mark.parametrize(("path", "method", "operation"), OPERATIONS, ids=IDS)
def test_keys_of_another_organization_get_404(cast, path, method, operation):
    globex = cast.other_project.organization
    for project in (None, cast.other_project):
        _, raw = ApiKey.issue(organization=globex, project=project, name="theirs", scope="write")
        response = call(ApiClient(raw), method, path, cast.project.slug)
        assert (response.status_code, error_code(response)) == (404, "project_not_found")


@pytest.mark.parametrize(("path", "method", "operation"), UNSAFE_OPERATIONS, ids=UNSAFE_IDS)
def test_read_keys_are_refused_every_unsafe_method(cast, path, method, operation):
    _, raw = ApiKey.issue(organization=cast.org, project=cast.project, name="ro", scope="read")
    response = call(ApiClient(raw), method, path, cast.project.slug)
    assert (response.status_code, error_code(response)) == (403, "insufficient_scope")


@pytest.mark.parametrize(("path", "method", "operation"), OPERATIONS, ids=IDS)
def test_soft_deleted_projects_answer_404_to_their_owner_and_org_keys(cast, client, path, method, operation):
    project = make_project(cast.org, "Doomed")
    owner = add_member(project, Role.OWNER, make_user("doomed@acme.test"))
    _, raw = ApiKey.issue(organization=cast.org, name="org", scope="write")
    project.soft_delete()
    client.force_login(owner)
    for caller in (ApiClient(client=client), ApiClient(raw)):
        response = call(caller, method, path, project.slug)
        assert response.status_code == 404, (method, path)
