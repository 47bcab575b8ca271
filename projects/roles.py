"""Roles are data: each role grants a set of scopes, and a higher role holds every scope of the lower ones.

The table is SPEC §3. Views ask for a scope (or a minimum role); nothing compares role names by hand.
"""

from __future__ import annotations

from django.db import models


class Role(models.TextChoices):
    VIEWER = "viewer", "Viewer"
    MEMBER = "member", "Member"
    ADMIN = "admin", "Admin"
    OWNER = "owner", "Owner"


RANK = {Role.VIEWER: 0, Role.MEMBER: 1, Role.ADMIN: 2, Role.OWNER: 3}

# Scope -> lowest role that holds it.
SCOPES: dict[str, Role] = {
    "project:read": Role.VIEWER,
    "environment:switch": Role.VIEWER,
    "project:write": Role.MEMBER,  # chats, playground, scenarios, test runs, findings, memory
    "environment:write": Role.MEMBER,  # create/edit/delete, replace secrets, test/capture logins
    "project:admin": Role.ADMIN,  # members, invitations, API keys, BYOK, settings, audit log
    "project:owner": Role.OWNER,  # change an owner, delete the project
}


def rank(role: str) -> int:
    return RANK[Role(role)]


def at_least(role: str, minimum: str) -> bool:
    return rank(role) >= rank(minimum)


def has_scope(role: str, scope: str) -> bool:
    return at_least(role, SCOPES[scope])


def scopes_for(role: str) -> frozenset[str]:
    return frozenset(scope for scope, minimum in SCOPES.items() if at_least(role, minimum))


def highest(*roles: str | None) -> Role | None:
    present = [Role(r) for r in roles if r]
    return max(present, key=rank) if present else None
