"""SPEC §5 project resolution, row by row: every rule, for org-wide keys, locked keys and sessions.

The table runs through `qodex.api_auth.resolve_project` itself (both the routes that require a
project and those that fall back to the default), and the rows that require one also through HTTP.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from django.test import RequestFactory

from projects.access import Actor
from projects.models import ApiKey, Project
from projects.roles import Role
from qodex.api_auth import resolve_project
from qodex.api_errors import ApiError
from tests.api.conftest import ApiClient
from tests.factories import add_member, make_project, make_user

REQUIRED, OPTIONAL = True, False


@dataclass
class World:
    """Acme: P (default), Q, D (deleted). Globex: F. Credentials by name."""

    projects: dict[str, Project]
    keys: dict[str, str]
    users: dict[str, object]


@pytest.fixture
def world(cast) -> World:
    acme, globex = cast.org, cast.other_project.organization
    q = make_project(acme, "Q")
    d = make_project(acme, "D")
    d.soft_delete()
    projects = {"P": cast.project, "Q": q, "D": d, "F": cast.other_project}

    def key(project=None, org=acme):
        return ApiKey.issue(organization=org, project=project, name="k", scope="write")[1]

    keys = {"org_key": key(), "P_key": key(cast.project), "F_key": key(cast.other_project, globex)}
    two_orgs = add_member(cast.project, Role.MEMBER, make_user("both@acme.test"))
    add_member(cast.other_project, Role.MEMBER, two_orgs)
    users = {
        "org_owner": cast.owner,  # owner of Acme, member of P only
        "P_member": cast.member,  # member of P only
        "two_orgs": two_orgs,  # member of P (Acme) and F (Globex); default project is P
        "nobody": make_user("nobody@else.test"),
    }
    return World(projects, keys, users)


def public_id(world: World, name: str | None) -> str | None:
    if name is None:
        return None
    if name in world.projects:
        return world.projects[name].public_id
    return {
        "unknown": "proj_0123456789abcdef",
        "short": "proj_123",
        "upper": "proj_0123456789ABCDEF",
        "empty": "",
    }[name]


# (credential, X-Project-ID, X-Org-ID, required, expected: a project name or (status, code))
ROWS = [
    # Rule 1: the header must be well formed, in the tenant, alive.
    ("org_key", "Q", None, REQUIRED, "Q"),
    ("org_key", "Q", None, OPTIONAL, "Q"),
    ("org_key", "short", None, REQUIRED, (400, "invalid_project_id")),
    ("org_key", "upper", None, REQUIRED, (400, "invalid_project_id")),
    ("org_key", "empty", None, OPTIONAL, (400, "invalid_project_id")),
    ("org_key", "unknown", None, REQUIRED, (404, "project_not_found")),
    ("org_key", "D", None, REQUIRED, (404, "project_not_found")),
    ("org_key", "F", None, REQUIRED, (404, "project_not_found")),
    # Rule 2: a locked key means its project.
    ("P_key", None, None, REQUIRED, "P"),
    ("P_key", None, None, OPTIONAL, "P"),
    # Rule 3: nothing named: 400 where a project is required, else the tenant's default.
    ("org_key", None, None, REQUIRED, (400, "project_required")),
    ("org_key", None, None, OPTIONAL, "P"),
    ("org_owner", None, None, REQUIRED, (400, "project_required")),
    ("org_owner", None, None, OPTIONAL, "P"),
    ("P_member", None, None, OPTIONAL, "P"),
    # Rule 4: the header wins, ownership still checked.
    ("P_key", "P", None, REQUIRED, "P"),
    ("P_key", "Q", None, REQUIRED, (403, "project_forbidden")),
    ("P_key", "F", None, REQUIRED, (404, "project_not_found")),  # outside the tenant: no existence leak
    ("P_key", "D", None, REQUIRED, (404, "project_not_found")),
    ("P_key", "short", None, REQUIRED, (400, "invalid_project_id")),
    ("F_key", "P", None, REQUIRED, (404, "project_not_found")),
    ("org_owner", "Q", None, REQUIRED, "Q"),  # org owners act as admins on every project
    ("P_member", "P", None, REQUIRED, "P"),
    ("P_member", "Q", None, REQUIRED, (404, "project_not_found")),  # not a member
    ("P_member", "D", None, REQUIRED, (404, "project_not_found")),
    # The active tenant of a session: X-Org-ID (one the user belongs to) or the default project's org.
    ("two_orgs", "F", None, REQUIRED, (404, "project_not_found")),
    ("two_orgs", "F", "Globex", REQUIRED, "F"),
    ("two_orgs", "P", "Globex", REQUIRED, (404, "project_not_found")),
    ("two_orgs", None, "Globex", OPTIONAL, (404, "project_not_found")),  # not a member of Globex's default
    ("P_member", "P", "Globex", REQUIRED, (404, "org_not_found")),
    ("P_member", "P", "org_bad", REQUIRED, (400, "invalid_org_id")),
    ("org_key", "P", "Globex", REQUIRED, "P"),  # a key's tenant is its organization; X-Org-ID is for sessions
    ("nobody", None, None, OPTIONAL, (404, "org_not_found")),
]


def org_header(world: World, name: str | None) -> str | None:
    if name == "Globex":
        return world.projects["F"].organization.public_id
    return name


def caller(world: World, credential: str) -> Actor:
    if credential in world.keys:
        return Actor(api_key=ApiKey.find(world.keys[credential]))
    return Actor(user=world.users[credential])


def headers(world: World, project: str | None, org: str | None) -> dict[str, str]:
    result = {}
    if project is not None:
        result["X-Project-ID"] = public_id(world, project)
    if org is not None:
        result["X-Org-ID"] = org_header(world, org)
    return result


@pytest.mark.parametrize(("credential", "project", "org", "required", "expected"), ROWS)
def test_resolution_table(world, credential, project, org, required, expected):
    request = RequestFactory().get("/api/v1/x", headers=headers(world, project, org))
    request.auth = caller(world, credential)
    if isinstance(expected, str):
        access = resolve_project(request, required=required)
        assert access.project == world.projects[expected]
    else:
        with pytest.raises(ApiError) as raised:
            resolve_project(request, required=required)
        assert (raised.value.status, raised.value.code) == expected


@pytest.mark.parametrize(
    ("credential", "project", "org", "required", "expected"), [row for row in ROWS if row[3] is REQUIRED]
)
def test_resolution_table_over_http(world, client, credential, project, org, required, expected):
    if credential in world.keys:
        api = ApiClient(world.keys[credential])
    else:
        client.force_login(world.users[credential])
        api = ApiClient(client=client)
    response = api.get("/api/v1/project", headers=headers(world, project, org))
    if isinstance(expected, str):
        assert response.status_code == 200, response.content
        assert response.json()["id"] == world.projects[expected].public_id
    else:
        assert (response.status_code, response.json()["error"]["code"]) == expected


def test_a_locked_keys_project_carries_the_keys_role(world):
    request = RequestFactory().get("/")
    request.auth = caller(world, "P_key")
    assert resolve_project(request).role == Role.ADMIN
