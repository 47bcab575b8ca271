"""The one permission mechanism for every `/p/<slug>/` route (SPEC §3).

    @project_view(write="project:admin")
    def members(request, project, access): ...

- anonymous → login redirect;
- not a member (and not an org owner/admin), deleted or unknown slug → the same 404;
- a role without the scope for this method → 403, before the view runs, so nothing changes.

Safe methods need `read` (default `project:read`), everything else needs `write` (default `project:write`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.db.models import OuterRef, Subquery
from django.http import Http404

from projects import roles
from projects.models import ORG_ADMIN_ROLES, OrgMembership, Project, ProjectMember
from projects.roles import Role

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True)
class ProjectAccess:
    project: Project
    role: Role

    def can(self, scope: str) -> bool:
        return roles.has_scope(self.role, scope)

    @property
    def scopes(self) -> frozenset[str]:
        return roles.scopes_for(self.role)

    # For templates, which cannot call can("…").
    @property
    def can_write(self) -> bool:
        return self.can("project:write")

    @property
    def is_admin(self) -> bool:
        return self.can("project:admin")

    @property
    def is_owner(self) -> bool:
        return self.can("project:owner")


def get_project_access(user, slug: str) -> ProjectAccess:
    """Load a live project by slug with the user's effective role, in one query; Http404 if out of reach."""
    return project_access_in(user, Project.objects.filter(slug=slug))


def project_access_in(user, projects) -> ProjectAccess:
    """The user's access to the one live project in `projects` (a queryset narrowed to it).

    Shared by the pages (by slug) and the API (by slug or `proj_` id within the active tenant).
    """
    if not user.is_authenticated:
        raise Http404
    member_role = ProjectMember.objects.filter(project=OuterRef("pk"), user=user).values("role")[:1]
    org_role = OrgMembership.objects.filter(organization=OuterRef("organization_id"), user=user).values(
        "role"
    )[:1]
    project = (
        projects.alive()
        .select_related("organization")
        .annotate(member_role=Subquery(member_role), org_role=Subquery(org_role))
        .first()
    )
    if project is None:
        raise Http404("No such project.")
    role = roles.highest(project.member_role, Role.ADMIN if project.org_role in ORG_ADMIN_ROLES else None)
    if role is None:
        raise Http404("No such project.")  # identical to a missing slug: no existence leak
    return ProjectAccess(project=project, role=role)


def project_view(*, read: str = "project:read", write: str = "project:write"):
    """Decorate a view taking `(request, project, access, ...)` and routed with `<slug:slug>`."""

    def decorator(view):
        @wraps(view)
        def wrapper(request, slug: str, *args, **kwargs):
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            access = get_project_access(request.user, slug)
            needed = read if request.method in SAFE_METHODS else write
            if not access.can(needed):
                raise PermissionDenied(f"Your role ({access.role.label}) can’t do this here.")
            request.project = access.project
            request.project_access = access
            remember_last_project(request.user, access.project)
            return view(request, access.project, access, *args, **kwargs)

        wrapper.project_scopes = {"read": read, "write": write}
        return wrapper

    return decorator


def remember_last_project(user, project: Project) -> None:
    """Only for redirecting `/`; written when it changes, not on every page view."""
    if user.last_project_id != project.pk:
        user.last_project_id = project.pk
        user.save(update_fields=["last_project"])
