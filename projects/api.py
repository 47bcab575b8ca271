"""Projects in the JSON API (SPEC §5): the resolved project, the /org routes, and the /p/<slug>/ mirror of
members (usage is in usage/api.py). Each route's first line, its `auth=`, says who may call it
(projects.api_access)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import QuerySet
from django.http import HttpRequest
from ninja import Field, Query, Router, Schema, Status
from pydantic import AliasPath, StringConstraints, field_validator

from projects import doors
from projects.models import ApiKey, Project, ProjectMember, validate_project_slug
from qodex.api_auth import org_route, project_route
from qodex.api_errors import ERRORS, ApiError
from qodex.pagination import PageParams, paginate
from qodex.prepared import prepared
from qodex.schemas import Out

router = Router()

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


# --- the resolved project -------------------------------------------------------------------------------


class ProjectOut(Out):
    id: str = Field(validation_alias="public_id", description="The `proj_` id.")
    name: str
    slug: str
    is_default: bool
    memory_count: int
    created_at: datetime


@router.get("/project", response={200: ProjectOut, **ERRORS}, auth=project_route(), tags=["projects"])
def current_project(request: HttpRequest):
    """The project this request resolves to: lets CI confirm which project a key reaches."""
    return request.project_access.project


# --- /org/projects --------------------------------------------------------------------------------------


class ProjectCreate(Schema):
    name: Name
    slug: str | None = Field(
        None, max_length=48, description="2–48 of a-z, 0-9 and -; derived from the name."
    )

    @field_validator("slug")
    @classmethod
    def _valid_slug(cls, value: str | None) -> str | None:
        # The one slug rule (validate_project_slug), asked here too so every bad field is named at once.
        if value is not None:
            try:
                validate_project_slug(value)
            except DjangoValidationError as error:
                raise ValueError(" ".join(error.messages)) from None
        return value


class ProjectUpdate(Schema):
    name: Name | None = None
    is_default: bool | None = None


class ProjectPage(Out):
    items: list[ProjectOut]
    next_cursor: str | None


def tenant_project(request: HttpRequest, project_id: str) -> Project:
    """A live project of the tenant by its `proj_` id; deleted, unknown and foreign ids are one 404."""
    project = Project.objects.alive().filter(organization=request.organization, public_id=project_id).first()
    if project is None:
        raise ApiError(404, "project_not_found", f"No project {project_id} in this organization.")
    return project


@prepared
def live_projects(organization_id: int) -> QuerySet[Project]:
    return Project.objects.alive().filter(organization_id=organization_id)


@router.get("/org/projects", response={200: ProjectPage, **ERRORS}, auth=org_route(), tags=["org"])
def list_projects(request: HttpRequest, page: Query[PageParams]):
    return paginate(live_projects, page, request.organization.pk, newest_first=False)


@router.post("/org/projects", response={201: ProjectOut, **ERRORS}, auth=org_route(), tags=["org"])
def create_project(request: HttpRequest, payload: ProjectCreate):
    project = doors.create_project(request.auth, request.organization, payload.name, slug=payload.slug or "")
    return Status(201, project)


@router.get(
    "/org/projects/{project_id}", response={200: ProjectOut, **ERRORS}, auth=org_route(), tags=["org"]
)
def get_project(request: HttpRequest, project_id: str):
    return tenant_project(request, project_id)


@router.patch(
    "/org/projects/{project_id}", response={200: ProjectOut, **ERRORS}, auth=org_route(), tags=["org"]
)
def update_project(request: HttpRequest, project_id: str, payload: ProjectUpdate):
    project = tenant_project(request, project_id)
    if payload.is_default is False and project.is_default:
        raise ApiError(
            409,
            "default_project",
            "An organization always has a default project: make another project the default instead.",
        )
    if payload.name is not None:
        doors.rename_project(request.auth, project, payload.name)
    if payload.is_default:
        doors.make_default(request.auth, project)
    return project


@router.delete("/org/projects/{project_id}", response={204: None, **ERRORS}, auth=org_route(), tags=["org"])
def delete_project(request: HttpRequest, project_id: str):
    """Soft delete: the slug stays reserved, memories become org-wide, keys locked to it stop working."""
    doors.delete_project(request.auth, tenant_project(request, project_id))
    return Status(204, None)


# --- /org/api-keys --------------------------------------------------------------------------------------


class ApiKeyOut(Out):
    id: int
    name: str
    prefix: str
    scope: str
    project_id: str | None = Field(None, validation_alias=AliasPath("project", "public_id"))
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime | None
    status: str


class ApiKeyCreated(ApiKeyOut):
    key: str = Field(description="The key itself. Shown only in this response: store it now.")


class ApiKeyCreate(Schema):
    name: Name
    scope: Literal["read", "write", "admin"] = Field(
        "read", description="`admin` keys are org-wide and act as owners; only org owners create them."
    )
    project_id: str | None = Field(None, description="A `proj_` id: the key can reach only that project.")
    expires_at: datetime | None = Field(None, description="With a time zone: `2027-01-31T00:00:00Z`.")


class ApiKeyPage(Out):
    items: list[ApiKeyOut]
    next_cursor: str | None


@prepared
def live_api_keys(organization_id: int) -> QuerySet[ApiKey]:
    return ApiKey.objects.active().filter(organization_id=organization_id).select_related("project")


@router.get("/org/api-keys", response={200: ApiKeyPage, **ERRORS}, auth=org_route(), tags=["org"])
def list_api_keys(request: HttpRequest, page: Query[PageParams]):
    return paginate(live_api_keys, page, request.organization.pk)


@router.post("/org/api-keys", response={201: ApiKeyCreated, **ERRORS}, auth=org_route(), tags=["org"])
def create_api_key(request: HttpRequest, payload: ApiKeyCreate):
    project = tenant_project(request, payload.project_id) if payload.project_id else None
    key, raw = doors.create_api_key(
        request.auth,
        request.organization,
        name=payload.name,
        scope=payload.scope,
        project=project,
        expires_at=payload.expires_at,
    )
    key.key = raw
    return Status(201, key)


@router.delete("/org/api-keys/{int:key_id}", response={204: None, **ERRORS}, auth=org_route(), tags=["org"])
def revoke_api_key(request: HttpRequest, key_id: int):
    key = (
        ApiKey.objects.select_related("project").filter(organization=request.organization, pk=key_id).first()
    )
    if key is None:
        raise ApiError(404, "api_key_not_found", "No API key with this id in this organization.")
    doors.revoke_api_key(request.auth, request.organization, key)
    return Status(204, None)


# --- /p/<slug>/members ----------------------------------------------------------------------------------


class MemberOut(Out):
    id: int
    email: str = Field(validation_alias=AliasPath("user", "email"))
    name: str = Field(validation_alias=AliasPath("user", "name"))
    role: str
    joined_at: datetime


class MemberPage(Out):
    items: list[MemberOut]
    next_cursor: str | None


class InvitationCreate(Schema):
    email: str = Field(..., max_length=254)
    role: Literal["viewer", "member", "admin", "owner"] = "member"


class InvitationOut(Out):
    id: int
    email: str
    role: str
    status: str
    expires_at: datetime


@prepared
def members_of(project_id: int) -> QuerySet[ProjectMember]:
    return ProjectMember.objects.filter(project_id=project_id).select_related("user")


@router.get("/p/{slug}/members", response={200: MemberPage, **ERRORS}, auth=project_route(), tags=["members"])
def list_members(request: HttpRequest, slug: str, page: Query[PageParams]):
    return paginate(members_of, page, request.project_access.project.pk, newest_first=False)


@router.post(
    "/p/{slug}/members",
    response={201: InvitationOut, **ERRORS},
    auth=project_route(write="project:admin"),
    tags=["members"],
)
def invite_member(request: HttpRequest, slug: str, payload: InvitationCreate):
    """Invite someone by email; they join when they accept the link."""
    invitation = doors.invite_member(
        request.auth, request.project_access.project, payload.email, payload.role
    )
    return Status(201, invitation)


@router.delete(
    "/p/{slug}/members/{int:member_id}",
    response={204: None, **ERRORS},
    auth=project_route(write="project:admin"),
    tags=["members"],
)
def remove_member(request: HttpRequest, slug: str, member_id: int):
    project = request.project_access.project
    member = project.members.select_related("user").filter(pk=member_id).first()
    if member is None:
        raise ApiError(404, "member_not_found", "No member with this id in this project.")
    doors.remove_member(request.auth, project, member)
    return Status(204, None)


class MemberUpdate(Schema):
    role: Literal["viewer", "member", "admin", "owner"]


@router.patch(
    "/p/{slug}/members/{int:member_id}",
    response={200: MemberOut, **ERRORS},
    auth=project_route(write="project:admin"),
    tags=["members"],
)
def change_member(request: HttpRequest, slug: str, member_id: int, payload: MemberUpdate):
    """Change a member's role; granting or changing the owner role is for owners in sudo mode."""
    project = request.project_access.project
    member = project.members.select_related("user").filter(pk=member_id).first()
    if member is None:
        raise ApiError(404, "member_not_found", "No member with this id in this project.")
    return doors.change_member_role(request.auth, project, member, payload.role)
