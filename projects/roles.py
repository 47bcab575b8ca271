"""Roles are data: each role grants a set of scopes, and a higher role holds every scope of the lower ones.

The table is SPEC §3. `effective_role` is the one place a caller's role is computed, from a project
membership, an organization membership or an API key's scope; pages, the API and the doors all ask it
(through projects.access.Actor) and then ask for a scope. Nothing else compares role names.
"""

from __future__ import annotations

from django.db import models


class Role(models.TextChoices):
    VIEWER = "viewer", "Viewer"
    MEMBER = "member", "Member"
    ADMIN = "admin", "Admin"
    OWNER = "owner", "Owner"


RANK = {Role.VIEWER: 0, Role.MEMBER: 1, Role.ADMIN: 2, Role.OWNER: 3}

# Scope -> lowest role that holds it. `project:*` and `environment:*` are asked of a project, `org:*` of
# an organization (where the role comes from the org membership or an org-wide key).
SCOPES: dict[str, Role] = {
    "project:read": Role.VIEWER,
    "environment:switch": Role.VIEWER,
    "project:write": Role.MEMBER,  # chats, playground, scenarios, test runs, findings, memory
    "environment:write": Role.MEMBER,  # create/edit/delete, replace secrets, test/capture logins
    "project:admin": Role.ADMIN,  # members, invitations, API keys, BYOK, settings, audit log
    "project:owner": Role.OWNER,  # change an owner, delete the project
    "org:read": Role.VIEWER,  # list the organization's projects and keys, read org-wide memories
    "org:admin": Role.ADMIN,  # create projects, manage org-wide keys and org-wide memories
    "org:owner": Role.OWNER,  # mint `admin` keys
}

# An organization role reaches every project of the organization (SPEC §3); an org member gets nothing
# beyond the projects they are a member of.
ORG_ROLE_GRANTS: dict[str, Role] = {"owner": Role.OWNER, "admin": Role.ADMIN}
# An API key acts with the role its scope maps to; `admin` exists on org-wide keys only.
KEY_SCOPE_ROLES: dict[str, Role] = {"read": Role.VIEWER, "write": Role.ADMIN, "admin": Role.OWNER}


def rank(role: str) -> int:
    return RANK[Role(role)]


def at_least(role: str | None, minimum: str) -> bool:
    return role is not None and rank(role) >= rank(minimum)


def has_scope(role: str | None, scope: str) -> bool:
    return at_least(role, SCOPES[scope])


def scopes_for(role: str | None) -> frozenset[str]:
    return frozenset(scope for scope, minimum in SCOPES.items() if at_least(role, minimum))


def highest(*roles: str | None) -> Role | None:
    present = [Role(r) for r in roles if r]
    return max(present, key=rank) if present else None


def effective_role(
    *, member_role: str | None = None, org_role: str | None = None, key_scope: str | None = None
) -> Role | None:
    """The role a caller acts with: a key's scope decides for a key; a person gets the higher of their
    project role and what their organization role grants (an org role can only raise a project role).

    On an organization itself (`org:*` scopes) pass only `org_role` or `key_scope`. None: no access.
    """
    if key_scope is not None:
        return KEY_SCOPE_ROLES[key_scope]
    return highest(member_role, ORG_ROLE_GRANTS.get(org_role or ""))
