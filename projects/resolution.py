"""Which organization and which project an API request acts on (SPEC §5). Every API route comes here.

The active tenant: an API key's organization; for a session, the organization named by `X-Org-ID` (one
the user belongs to) or else the organization of the user's default project.

`resolve_project` applies the rules, in this order:
- a `/p/<slug>/` route names its project by slug (404 outside the tenant);
1. else `X-Project-ID` must match `^proj_[0-9a-f]{16}$` (400 `invalid_project_id`) and name a live
   project of the tenant (404 `project_not_found`);
2. else a project-locked key means its project;
3. else 400 `project_required`, or the tenant's default project where the route allows it;
4. whatever named the project, a locked key never reaches another one (403 `project_forbidden`) and a
   session user must be a member of it, or an owner/admin of its organization (404 otherwise).
"""

from __future__ import annotations

import re

from django.db.models import Exists, OuterRef, Q
from django.http import Http404

from projects.access import ProjectAccess, project_access_in
from projects.models import Organization, OrgMembership, Project, ProjectMember
from qodex.api_errors import ApiError

PROJECT_ID_RE = re.compile(r"^proj_[0-9a-f]{16}$")
ORG_ID_RE = re.compile(r"^org_[0-9a-f]{16}$")


def project_not_found() -> ApiError:
    return ApiError(
        404,
        "project_not_found",
        "No project with this id or slug is reachable with these credentials.",
    )


def default_project_for(user) -> Project | None:
    """The user's default project: the first project they can open, organization defaults first."""
    return (
        Project.objects.for_user(user)
        .select_related("organization")
        .order_by("-is_default", "created_at", "pk")
        .first()
    )


def active_tenant(request) -> Organization:
    """The organization this request acts in; cached on the request."""
    cached = getattr(request, "_qodex_tenant", None)
    if cached is not None:
        return cached
    caller = request.auth
    if caller.api_key is not None:
        tenant = caller.api_key.organization
    else:
        tenant = _session_tenant(request, caller.user)
    request._qodex_tenant = tenant
    return tenant


def _session_tenant(request, user) -> Organization:
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


def resolve_project(request, *, slug: str | None = None, required: bool = True) -> ProjectAccess:
    """The project this request acts on, with the caller's role there; ApiError when it may not."""
    caller = request.auth
    tenant = active_tenant(request)
    in_tenant = Project.objects.filter(organization=tenant)
    locked = caller.locked_project
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
        return ProjectAccess(project=locked, role=caller.api_key.role)
    elif required:
        raise ApiError(
            400,
            "project_required",
            "This route acts on one project: send X-Project-ID, or use a project-locked key.",
        )
    else:
        projects = in_tenant.filter(is_default=True)

    if caller.api_key is None:
        try:
            return project_access_in(caller.user, projects)
        except Http404:
            raise project_not_found() from None
    project = projects.alive().select_related("organization").first()
    if project is None:
        raise project_not_found()
    if locked is not None and project.pk != locked.pk:
        raise ApiError(
            403,
            "project_forbidden",
            f"This API key is locked to the project {locked.slug} and can’t reach any other.",
        )
    return ProjectAccess(project=project, role=caller.api_key.role)
