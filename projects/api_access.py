"""The one permission helper for API routes: every route's `auth=` comes from here.

    @router.get("/p/{slug}/members", auth=project_route())
    @router.post("/p/{slug}/members", auth=project_route(write="project:admin"))
    @router.get("/org/projects", auth=org_route())

The guard runs in ninja's authentication step, before the body is read: it authenticates the caller
(qodex.api_auth), resolves the project (projects.resolution), and checks the caller's role for the
method with the same scope table as the web pages (projects.roles). Routes then read
`request.project_access` (or `request.organization` on org routes).
"""

from __future__ import annotations

from projects.access import ProjectAccess
from projects.models import ORG_ADMIN_ROLES, Organization, OrgMembership
from projects.resolution import active_tenant, resolve_project
from qodex.api_auth import SAFE_METHODS, Caller, authenticate
from qodex.api_errors import ApiError


def check_scope(request, access: ProjectAccess, *, read: str, write: str) -> None:
    """403 unless the caller's role holds the scope this method needs."""
    needed = read if request.method in SAFE_METHODS else write
    if access.can(needed):
        return
    if request.auth.is_key:
        raise ApiError(403, "insufficient_scope", "API keys can’t do this; ask a project owner.")
    raise ApiError(
        403, "permission_denied", f"Your role ({access.role.label}) can’t do this in {access.project.name}."
    )


def project_route(
    *,
    read: str = "project:read",
    write: str = "project:write",
    required: bool = True,
    org_scope: bool = False,
) -> list:
    """`auth=` for routes acting on one project: `/p/{slug}/…` by slug, the others by SPEC §5 resolution.

    `required=False`: without a header or locked key, the tenant's default project (memories).
    `org_scope=True`: `?scope=org` acts on the tenant's org-wide data instead (see `org_scope_access`).
    """

    def policy(request, caller: Caller) -> None:
        if org_scope and request.GET.get("scope") == "org":
            request.organization = org_scope_access(request)
            request.project_access = None
            return
        match = request.resolver_match
        slug = match.kwargs.get("slug") if match is not None else None
        access = resolve_project(request, slug=slug, required=required)
        check_scope(request, access, read=read, write=write)
        request.project_access = access

    return authenticate(policy)


def _refuse_locked_keys(caller: Caller) -> None:
    if caller.locked_project is not None:
        raise ApiError(
            403,
            "project_forbidden",
            f"This API key is locked to the project {caller.locked_project.slug}; "
            "organization routes need an org-wide key.",
        )


def org_route() -> list:
    """`auth=` for `/org/…` routes: an org owner/admin (session) or an org-wide key."""

    def policy(request, caller: Caller) -> None:
        _refuse_locked_keys(caller)
        tenant = active_tenant(request)
        if caller.user is not None and not _org_role_in(caller.user, tenant, ORG_ADMIN_ROLES):
            raise ApiError(
                403, "permission_denied", f"Only owners and admins of {tenant.name} can manage it."
            )
        request.organization = tenant

    return authenticate(policy)


def org_scope_access(request) -> Organization:
    """Org-wide data (memories with `?scope=org`): org-wide keys, members of the organization to read,
    its owners and admins to change."""
    caller = request.auth
    _refuse_locked_keys(caller)
    tenant = active_tenant(request)
    if caller.user is not None:
        roles = None if request.method in SAFE_METHODS else ORG_ADMIN_ROLES
        if not _org_role_in(caller.user, tenant, roles):
            raise ApiError(
                403, "permission_denied", f"Org-wide data of {tenant.name} needs the right organization role."
            )
    return tenant


def _org_role_in(user, organization: Organization, roles) -> bool:
    memberships = OrgMembership.objects.filter(user=user, organization=organization)
    if roles is not None:
        memberships = memberships.filter(role__in=roles)
    return memberships.exists()
