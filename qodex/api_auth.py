"""API authentication and authorization in one module (SPEC §3, §5): who calls, which project, may they.

Every route's `auth=` is `project_route(...)` or `org_route(...)` (or `authenticate()` for routes that
only need a caller). Ninja runs it before the body is parsed, so an outsider gets its 401/403/404 and never
a validation error. It does three things, once each:

1. `find_caller`: an API key (`Authorization: Bearer qdx_…` or `X-API-Key`) or the browser session (CSRF
   on unsafe methods) becomes an `Actor`; a key that is present but unusable stops there with its own 401,
   so a bad key never falls back to a cookie;
2. the route's target: the active tenant (`active_tenant`) and, for project routes, the project by slug or
   by the SPEC §5 rules (`resolve_project`);
3. `actor.require(target, scope)`: the one role function, with the scope the method needs.

Routes then read `request.auth` (the Actor), `request.project_access` or `request.organization`.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from django.conf import settings
from django.db.models import Exists, OuterRef, Q
from django.http import Http404, HttpRequest
from ninja.security.base import AuthBase
from ninja.utils import check_csrf

from projects.access import SAFE_METHODS, Actor, ProjectAccess, project_access_in
from projects.models import ApiKey, Organization, OrgMembership, Project, ProjectMember
from qodex.api_errors import ApiError

PROJECT_ID_RE = re.compile(r"^proj_[0-9a-f]{16}$")
ORG_ID_RE = re.compile(r"^org_[0-9a-f]{16}$")

Policy = Callable[[HttpRequest, Actor], None]


# --- 1. who is calling ------------------------------------------------------------------------------------


def key_actor(request: HttpRequest, raw: str) -> Actor:
    """The Actor for a raw key, or an ApiError saying exactly why the key does not work."""
    key = ApiKey.find(raw.strip())
    if key is None:
        raise ApiError(401, "invalid_api_key", "This API key is not valid. Check that you copied all of it.")
    status = key.status
    if status == "revoked":
        raise ApiError(401, "api_key_revoked", "This API key was revoked. Create a new one to continue.")
    if status == "expired":
        raise ApiError(401, "api_key_expired", "This API key has expired. Create a new one to continue.")
    if status == "project_deleted":
        raise ApiError(
            401, "api_key_revoked", "This API key’s project was deleted, so the key stopped working."
        )
    key.touch()
    request.api_key = key
    return Actor.of(request)


def find_caller(request: HttpRequest) -> Actor | None:
    """The caller of an API request; None when nobody authenticated (ninja answers 401)."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer":
        return key_actor(request, token)
    if header := request.headers.get("X-API-Key"):
        return key_actor(request, header)
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return None
    if not user.is_verified:
        raise ApiError(403, "email_not_verified", "Verify your email address before using the API.")
    if check_csrf(request) is not None:
        raise ApiError(
            403,
            "csrf_failed",
            "The CSRF check failed. Send the csrftoken cookie’s value in the X-CSRFToken header.",
        )
    return Actor.of(request)


class ApiAuth(AuthBase):
    """Ninja's `auth=`: find the caller, then apply the route's policy (target and scope)."""

    openapi_type = "http"
    openapi_scheme = "bearer"
    openapi_description = (
        "`Authorization: Bearer qdx_…`, `X-API-Key: qdx_…`, or the browser session "
        f"(cookie `{settings.SESSION_COOKIE_NAME}`, X-CSRFToken on unsafe methods)."
    )

    def __init__(self, policy: Policy | None = None) -> None:
        self.policy = policy
        super().__init__()

    def __call__(self, request: HttpRequest) -> Actor | None:
        actor = find_caller(request)
        if actor is not None:
            request.auth = actor  # ninja sets it after we return; the policy's checks need it now
            if self.policy is not None:
                self.policy(request, actor)
        return actor


def authenticate(policy: Policy | None = None) -> list:
    return [ApiAuth(policy)]


# --- 2. which organization and project ----------------------------------------------------------------


def default_project_for(user) -> Project | None:
    """The user's default project: the first project they can open, organization defaults first."""
    return (
        Project.objects.for_user(user)
        .select_related("organization")
        .order_by("-is_default", "created_at", "pk")
        .first()
    )


def active_tenant(request: HttpRequest) -> Organization:
    """The organization a request acts in (SPEC §5): the key's, else `X-Org-ID`, else the organization of
    the user's default project. Cached on the request."""
    cached = getattr(request, "_qodex_tenant", None)
    if cached is not None:
        return cached
    actor = request.auth
    key = actor.api_key
    tenant = key.organization if key is not None else _session_tenant(request, actor.user)
    request._qodex_tenant = tenant
    return tenant


def _session_tenant(request: HttpRequest, user) -> Organization:
    header = request.headers.get("X-Org-ID")
    if header is None:
        project = default_project_for(user)
        if project is None:
            raise ApiError(
                404, "org_not_found", "You don’t belong to any organization yet. Create a project first."
            )
        return project.organization
    if not ORG_ID_RE.match(header):
        raise ApiError(400, "invalid_org_id", "X-Org-ID must look like org_ followed by 16 hex characters.")
    belongs = Exists(OrgMembership.objects.filter(organization=OuterRef("pk"), user=user)) | Exists(
        ProjectMember.objects.filter(
            project__organization=OuterRef("pk"), project__deleted_at__isnull=True, user=user
        )
    )
    tenant = Organization.objects.filter(Q(public_id=header) & belongs).first()
    if tenant is None:
        raise ApiError(
            404, "org_not_found", "No organization with this id is reachable with these credentials."
        )
    return tenant


def project_not_found() -> ApiError:
    return ApiError(
        404, "project_not_found", "No project with this id or slug is reachable with these credentials."
    )


def resolve_project(request: HttpRequest, *, slug: str | None = None, required: bool = True) -> ProjectAccess:
    """The project a request acts on (SPEC §5), with the caller's role there; ApiError when out of reach.

    - a `/p/<slug>/` route names its project by slug (404 outside the tenant);
    1. else `X-Project-ID` must match `^proj_[0-9a-f]{16}$` (400 `invalid_project_id`) and name a live
       project of the tenant (404 `project_not_found`);
    2. else a project-locked key means its project;
    3. else 400 `project_required`, or the tenant's default project where the route allows it;
    4. whatever named the project, a locked key never reaches another one (403 `project_forbidden`) and a
       person must have a role there (404 otherwise).
    """
    actor: Actor = request.auth
    key = actor.api_key
    locked = key.project if key is not None and key.project_id is not None else None
    in_tenant = Project.objects.filter(organization=active_tenant(request))
    if slug is not None:
        projects = in_tenant.filter(slug=slug)
    elif (header := request.headers.get("X-Project-ID")) is not None:
        if not PROJECT_ID_RE.match(header):
            raise ApiError(
                400,
                "invalid_project_id",
                "X-Project-ID must look like proj_ followed by 16 lowercase hex characters.",
            )
        projects = in_tenant.filter(public_id=header)
    elif locked is not None:
        projects = None
    elif required:
        raise ApiError(
            400,
            "project_required",
            "This route acts on one project: send X-Project-ID, or use a project-locked key.",
        )
    else:
        projects = in_tenant.filter(is_default=True)

    if key is None:
        try:
            access = project_access_in(actor.user, projects)
        except Http404:
            raise project_not_found() from None
        actor.knows(access.project, access.role)
        return access
    project = locked if projects is None else projects.alive().select_related("organization").first()
    if project is None:
        raise project_not_found()
    if locked is not None and project.pk != locked.pk:
        raise ApiError(
            403,
            "project_forbidden",
            f"This API key is locked to the project {locked.slug} and can’t reach any other.",
        )
    return ProjectAccess(project=project, role=actor.role_on(project))


# --- 3. may they: the route policies ------------------------------------------------------------------


def _scope_for(request: HttpRequest, read: str, write: str | None) -> str | None:
    return read if request.method in SAFE_METHODS else write


def project_route(
    *,
    read: str = "project:read",
    write: str = "project:write",
    required: bool = True,
    org_scope: bool = False,
) -> list:
    """`auth=` for routes acting on one project: `/p/{slug}/…` by slug, the others by SPEC §5 resolution.

    `required=False`: without a header or locked key, the tenant's default project (memories).
    `org_scope=True`: `?scope=org` acts on the tenant's org-wide data instead (`request.organization`,
    `request.project_access = None`), read with `org:read` and changed with `org:admin`.
    """

    def policy(request: HttpRequest, actor: Actor) -> None:
        if org_scope and request.GET.get("scope") == "org":
            request.organization = _org_target(request, actor, "org:read", "org:admin")
            request.project_access = None
            return
        match = request.resolver_match
        slug = match.kwargs.get("slug") if match is not None else None
        access = resolve_project(request, slug=slug, required=required)
        actor.require(access.project, _scope_for(request, read, write))
        request.project_access = access

    return authenticate(policy)


def _org_target(request: HttpRequest, actor: Actor, read: str, write: str) -> Organization:
    if actor.api_key is not None and actor.api_key.project_id is not None:
        raise ApiError(
            403,
            "project_forbidden",
            f"This API key is locked to the project {actor.api_key.project.slug}; "
            "organization routes need an org-wide key.",
        )
    tenant = active_tenant(request)
    if scope := _scope_for(request, read, write):
        actor.require(tenant, scope)
    return tenant


def org_route(*, read: str = "org:read", write: str | None = None) -> list:
    """`auth=` for `/org/…` routes: the tenant (org-wide keys and sessions; a locked key is refused).

    Reads need `read` on the organization. Changes are authorized by their door, which knows what they
    touch: renaming a project is for that project's admins, minting an org-wide key for the org's admins,
    so the page and the API answer the same (`write=None`). Pass `write` to guard a route that has none.
    """

    def policy(request: HttpRequest, actor: Actor) -> None:
        request.organization = _org_target(request, actor, read, write)

    return authenticate(policy)
