"""Projects in the JSON API (SPEC §5): the resolved project, the /org routes, and the /p/<slug>/ mirror of
members and usage. Each route's first line, its `auth=`, says who may call it (projects.api_access)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Literal

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from django.db import IntegrityError
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone
from ninja import Field, Query, Router, Schema, Status
from pydantic import AliasPath, StringConstraints, field_validator

from accounts import sudo
from projects import audit, invitations, onboarding
from projects import members as member_changes
from projects.api_access import org_route, project_route
from projects.forms import grantable_roles
from projects.models import ApiKey, Project, ProjectMember, validate_project_slug
from projects.roles import Role
from qodex.api_errors import ERRORS, ApiError
from qodex.pagination import PageParams, paginate
from qodex.prepared import prepared
from qodex.schemas import Out

router = Router()

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


def sudo_required(request: HttpRequest) -> None:
    """Sensitive actions by a session need a recent password confirmation (SPEC §11); keys are exempt."""
    if request.auth.user is not None and not sudo.is_active(request):
        raise ApiError(
            403,
            "sudo_required",
            "Confirm your password at /accounts/confirm-password/ first, then try again within 30 minutes.",
        )


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
    slug: str | None = Field(None, max_length=48)

    @field_validator("slug")
    @classmethod
    def _valid_slug(cls, value: str | None) -> str | None:
        if value is None:
            return None
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
    if payload.slug and Project.objects.filter(slug=payload.slug).exists():
        raise ApiError(409, "slug_taken", f"The slug “{payload.slug}” is taken; pick another one.")
    # The creator owns it: the signed-in user, or whoever created the key if still in the organization.
    owner = request.auth.user
    if owner is None:
        creator = request.auth.api_key.created_by
        in_org = creator is not None and request.organization.memberships.filter(user=creator).exists()
        owner = creator if in_org else None
    try:
        project = onboarding.create_project(
            owner, request.organization, payload.name, request, slug=payload.slug or ""
        )
    except IntegrityError:
        raise ApiError(409, "slug_taken", "That slug was taken a moment ago; pick another one.") from None
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
    if payload.name is not None:
        project.rename(payload.name, request=request)
    if payload.is_default is True and not project.is_default:
        project.set_default(request=request)
    elif payload.is_default is False and project.is_default:
        raise ApiError(
            409,
            "default_project",
            "An organization always has a default project: make another project the default instead.",
        )
    return project


@router.delete("/org/projects/{project_id}", response={204: None, **ERRORS}, auth=org_route(), tags=["org"])
def delete_project(request: HttpRequest, project_id: str):
    """Soft delete: the slug stays reserved, memories become org-wide, keys locked to it stop working."""
    project = tenant_project(request, project_id)
    user = request.auth.user
    if user is not None and project.role_of(user) != Role.OWNER and not _owns_organization(request):
        raise ApiError(403, "permission_denied", "Only an owner can delete a project.")
    sudo_required(request)
    if project.is_default:
        raise ApiError(
            409,
            "default_project",
            "This is the organization’s default project. Make another project the default first.",
        )
    project.soft_delete(request=request)
    return Status(204, None)


def _owns_organization(request: HttpRequest) -> bool:
    return request.organization.memberships.filter(user=request.auth.user, role="owner").exists()


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
    scope: Literal["read", "write"] = "read"
    project_id: str | None = Field(None, description="A `proj_` id: the key can reach only that project.")
    expires_at: datetime | None = None

    @field_validator("expires_at")
    @classmethod
    def _in_the_future(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        if timezone.is_naive(value):
            value = timezone.make_aware(value, timezone.utc)
        if value <= timezone.now() + timedelta(seconds=1):
            raise ValueError("Pick an expiry date in the future.")
        return value


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
    sudo_required(request)
    project = tenant_project(request, payload.project_id) if payload.project_id else None
    key, raw = ApiKey.issue(
        organization=request.organization,
        project=project,
        name=payload.name,
        scope=payload.scope,
        expires_at=payload.expires_at,
        created_by=request.auth.user or request.auth.api_key.created_by,
    )
    audit.record(
        request,
        "api_key.created",
        project=project,
        organization=request.organization,
        target=f"{key.name} ({key.prefix}…)",
        details={"scope": key.scope, "prefix": key.prefix, "project": project.public_id if project else None},
    )
    key.key = raw
    return Status(201, key)


@router.delete("/org/api-keys/{int:key_id}", response={204: None, **ERRORS}, auth=org_route(), tags=["org"])
def revoke_api_key(request: HttpRequest, key_id: int):
    key = ApiKey.objects.filter(organization=request.organization, pk=key_id).first()
    if key is None:
        raise ApiError(404, "api_key_not_found", "No API key with this id in this organization.")
    if key.revoked_at is None:
        key.revoke()
        audit.record(
            request,
            "api_key.revoked",
            project=key.project,
            organization=request.organization,
            target=f"{key.name} ({key.prefix}…)",
        )
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

    @field_validator("email")
    @classmethod
    def _valid_email(cls, value: str) -> str:
        value = value.strip()
        try:
            validate_email(value)
        except DjangoValidationError:
            raise ValueError("Enter a valid email address.") from None
        return value


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
    access = request.project_access
    if payload.role not in dict(grantable_roles(access.role)):
        raise ApiError(403, "permission_denied", "Only an owner can invite another owner.")
    if access.project.members.filter(user__email__iexact=payload.email).exists():
        raise ApiError(409, "already_member", f"{payload.email} is already a member of this project.")
    inviter = request.auth.user or request.auth.api_key.created_by
    invitation = invitations.invite(request, access.project, payload.email, payload.role, inviter)
    return Status(201, invitation)


@router.delete(
    "/p/{slug}/members/{int:member_id}",
    response={204: None, **ERRORS},
    auth=project_route(write="project:admin"),
    tags=["members"],
)
def remove_member(request: HttpRequest, slug: str, member_id: int):
    access = request.project_access
    project = access.project
    member = project.members.select_related("user").filter(pk=member_id).first()
    if member is None:
        raise ApiError(404, "member_not_found", "No member with this id in this project.")
    if member.role == Role.OWNER and not access.can("project:owner"):
        raise ApiError(403, "permission_denied", "Only an owner can remove an owner.")
    try:
        member_changes.change(request, member, new_role=None)
    except member_changes.LastOwner as refusal:
        raise ApiError(409, "last_owner", refusal.message) from None
    return Status(204, None)


# --- /p/<slug>/usage ------------------------------------------------------------------------------------


class UsagePage(Out):
    items: list[dict]
    next_cursor: str | None
    note: str


@router.get(
    "/p/{slug}/usage",
    response={200: UsagePage, **ERRORS},
    auth=project_route(read="project:admin", write="project:admin"),
    tags=["usage"],
)
def list_usage(request: HttpRequest, slug: str, page: Query[PageParams]):
    """LLM calls charged to this project (SPEC §8); the usage log arrives with its own issue."""
    return {
        "items": [],
        "next_cursor": None,
        "note": "The LLM usage log is not recorded yet; this list stays empty until it is.",
    }
