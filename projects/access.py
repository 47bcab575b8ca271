"""Who is acting, with which role, and the one permission decorator for every `/p/<slug>/` page (SPEC §3).

`Actor` is the caller of a door: a signed-in person or an API key, with whether sudo mode is active. Its
role on a project or an organization comes from `projects.roles.effective_role`, the one role function;
`actor.require(target, scope)` is how pages, API routes and doors ask for permission.

    @project_view(write="project:admin")
    def members(request, project, access): ...

- anonymous → login redirect;
- not a member (and not an org owner/admin), deleted or unknown slug → the same 404;
- a role without the scope for this method → 403, before the view runs, so nothing changes.

Safe methods need `read` (default `project:read`), everything else needs `write` (default `project:write`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.db.models import OuterRef, Subquery
from django.http import Http404

from accounts import sudo as sudo_mode
from projects import roles
from projects.models import ApiKey, Organization, OrgMembership, Project, ProjectMember
from projects.roles import Role
from qodex.doors import Forbidden, NotFound, SudoRequired

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(eq=False)
class Actor:
    """Who acts: a person (`user`) or an API key (`api_key`); `sudo` is a recent password confirmation
    (keys are exempt from sudo mode, SPEC §11). Roles are looked up once per target and kept."""

    user: object | None = None
    api_key: ApiKey | None = None
    sudo: bool = False
    ip: str | None = None
    site: str = ""  # scheme and host of the request, for links in emails ("https://qodex.example")
    _roles: dict = field(default_factory=dict, repr=False)

    @classmethod
    def of(cls, request) -> Actor:
        """The actor of a page or API request (kept on the request)."""
        actor = getattr(request, "actor", None)
        if actor is None:
            where = {"ip": request.META.get("REMOTE_ADDR"), "site": request.build_absolute_uri("/")[:-1]}
            key = getattr(request, "api_key", None)
            if key is not None:
                actor = cls(api_key=key, sudo=True, **where)
            else:
                user = request.user if request.user.is_authenticated else None
                actor = cls(user=user, sudo=user is not None and sudo_mode.is_active(request), **where)
            request.actor = actor
        return actor

    @classmethod
    def person_at(cls, request, user) -> Actor:
        """`user` acting through `request` just after signing up or logging in (not yet request.user)."""
        return cls(user=user, ip=request.META.get("REMOTE_ADDR"), site=request.build_absolute_uri("/")[:-1])

    @property
    def person(self):
        """The person behind the action: the user, or whoever created the key (None if gone)."""
        return self.user if self.api_key is None else self.api_key.created_by

    @property
    def label(self) -> str:
        if self.api_key is not None:
            return f"API key {self.api_key.name} ({self.api_key.prefix}…)"
        return str(self.user) if self.user is not None else "system"

    # Roles -----------------------------------------------------------------------------------------------

    def role_on(self, target: Project | Organization) -> Role | None:
        key = (type(target).__name__, target.pk)
        if key not in self._roles:
            self._roles[key] = (
                _project_role(self, target) if isinstance(target, Project) else _org_role(self, target)
            )
        return self._roles[key]

    def knows(self, target: Project | Organization, role: Role | None) -> None:
        """Keep a role computed elsewhere by effective_role (the page decorator's one query)."""
        self._roles[(type(target).__name__, target.pk)] = role

    def can(self, target: Project | Organization, scope: str) -> bool:
        return roles.has_scope(self.role_on(target), scope)

    def require(self, target: Project | Organization, scope: str) -> None:
        """Refuse unless this actor's role on `target` holds `scope`: 404 without any role, else 403."""
        role = self.role_on(target)
        if role is None and isinstance(target, Project):
            raise NotFound(
                "No project with this id or slug is reachable with these credentials.",
                code="project_not_found",
            )
        if role is None:  # the caller's own tenant: it knows the organization exists
            raise Forbidden(f"Only owners and admins of {target.name} can do this.")
        if roles.has_scope(role, scope):
            return
        if self.api_key is not None:
            raise Forbidden(
                f"This API key ({self.api_key.get_scope_display().lower()}) can’t do this; "
                "use a key with more authority.",
                code="insufficient_scope",
            )
        where = target.name
        raise Forbidden(f"Your role ({role.label}) can’t do this in {where}.")

    def require_sudo(self) -> None:
        if not self.sudo:
            raise SudoRequired()


def _project_role(actor: Actor, project: Project) -> Role | None:
    if project.deleted_at is not None:
        return None
    if actor.api_key is not None:
        key = actor.api_key
        if key.organization_id != project.organization_id or key.project_id not in (None, project.pk):
            return None
        return roles.effective_role(key_scope=key.scope)
    if actor.user is None:
        return None
    member = ProjectMember.objects.filter(project=project, user=actor.user).values_list("role", flat=True)
    org = OrgMembership.objects.filter(organization_id=project.organization_id, user=actor.user)
    return roles.effective_role(
        member_role=member.first(), org_role=org.values_list("role", flat=True).first()
    )


def _org_role(actor: Actor, organization: Organization) -> Role | None:
    if actor.api_key is not None:
        key = actor.api_key
        if key.organization_id != organization.pk or key.project_id is not None:
            return None  # a project-locked key has no say over its organization
        return roles.effective_role(key_scope=key.scope)
    if actor.user is None:
        return None
    membership = OrgMembership.objects.filter(organization=organization, user=actor.user)
    return roles.effective_role(org_role=membership.values_list("role", flat=True).first())


@dataclass(frozen=True)
class ProjectAccess:
    """A project with the role the caller has there (what pages and API routes are handed)."""

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
    def can_edit_environments(self) -> bool:
        return self.can("environment:write")

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
    """The user's access to the one live project in `projects` (a queryset narrowed to it), in one query.

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
    role = None
    if project is not None:
        role = roles.effective_role(member_role=project.member_role, org_role=project.org_role)
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
            Actor.of(request).knows(access.project, access.role)
            return view(request, access.project, access, *args, **kwargs)

        wrapper.project_scopes = {"read": read, "write": write}
        return wrapper

    return decorator
