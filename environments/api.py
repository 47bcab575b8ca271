"""Environments in the JSON API mirror (SPEC §5, §6): `/api/v1/p/<slug>/environments`.

Secrets go in and never come back: responses carry them masked (`"auth_token": "••••1a2b"`) with a
`has_…` flag. On PATCH a secret that is omitted or null stays as it is; a string replaces it ("" clears).
`variables` merges (RFC 7396): names left out are kept, null removes one, an object sets one.
Replacing a secret (a secret variable's value too, or turning it plain) from a browser session needs
sudo mode (SPEC §11); keys are exempt.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import QuerySet, prefetch_related_objects
from django.http import HttpRequest
from ninja import Field, Query, Router, Schema, Status
from pydantic import field_validator

from environments import doors
from environments.models import PLAIN_FIELDS, Environment, VariableChange
from qodex import crypto
from qodex.api_auth import project_route
from qodex.api_errors import ERRORS, ApiError
from qodex.pagination import PageParams, paginate
from qodex.prepared import prepared
from qodex.schemas import Out

router = Router(tags=["environments"])

READ_WRITE = project_route(write="environment:write")
SECRET_FIELDS = ("auth_token", "auth_password")
AuthType = Literal["none", "static_token", "api_login", "ui_login"]


class VariableOut(Out):
    value: str = Field(description="Masked (••••1a2b) when the variable is secret.")
    secret: bool


class EnvironmentOut(Out):
    id: int
    name: str
    base_url: str
    api_base_url: str
    auth_type: str
    auth_header_name: str
    auth_header_prefix: str
    api_login_config: dict[str, Any]
    ui_login_steps: list[Any]
    auth_email: str
    auth_token: str | None = Field(description="Masked: ••••1a2b (the last four only from 16 characters).")
    has_auth_token: bool = Field(validation_alias="auth_token")
    auth_password: str | None = Field(description="Masked: ••••••••, never any of its characters.")
    has_auth_password: bool = Field(validation_alias="auth_password")
    has_ui_storage_state: bool = Field(validation_alias="ui_storage_state")
    ui_storage_captured_at: datetime | None
    read_only: bool
    max_rps: int | None
    allow_destructive: bool
    allow_security_testing: bool
    variables: dict[str, VariableOut] = Field(validation_alias="masked_variables")
    updated_at: datetime
    created_at: datetime

    @field_validator("auth_token", mode="before")
    @classmethod
    def _masked(cls, secret: str) -> str | None:
        return crypto.mask(secret) or None

    @field_validator("auth_password", mode="before")
    @classmethod
    def _masked_password(cls, secret: str) -> str | None:
        return crypto.mask_password(secret) or None

    @field_validator("has_auth_token", "has_auth_password", "has_ui_storage_state", mode="before")
    @classmethod
    def _present(cls, secret: str) -> bool:
        return bool(secret)


class EnvironmentPage(Out):
    items: list[EnvironmentOut]
    next_cursor: str | None


class VariableIn(Schema):
    value: str | None = Field(
        None, max_length=10_000, description='Omitted or null keeps the stored value ("" for a new variable).'
    )
    secret: bool | None = Field(
        None,
        description="Omitted or null keeps the stored setting (plain for a new variable). "
        "A secret turns plain only with a new value.",
    )


class EnvironmentPatch(Schema):
    name: str | None = Field(None, min_length=1, max_length=100)
    base_url: str | None = Field(None, max_length=500)
    api_base_url: str | None = Field(None, max_length=500)
    auth_type: AuthType | None = None
    auth_header_name: str | None = Field(None, max_length=100)
    auth_header_prefix: str | None = Field(None, max_length=50)
    api_login_config: dict[str, Any] | None = None
    ui_login_steps: list[Any] | None = None
    auth_email: str | None = Field(None, max_length=254)
    read_only: bool | None = None
    max_rps: int | None = Field(None, ge=1, le=100_000)
    allow_destructive: bool | None = None
    allow_security_testing: bool | None = None
    auth_token: str | None = Field(None, max_length=10_000, description="Secret: a string replaces it.")
    auth_password: str | None = Field(None, max_length=1_000, description="Secret: a string replaces it.")
    variables: dict[str, VariableIn | None] | None = Field(
        None,
        description="Merged (RFC 7396): names left out are kept, null removes one, an object sets one.",
    )


class EnvironmentCreate(EnvironmentPatch):
    name: str = Field(..., min_length=1, max_length=100)
    base_url: str = Field(..., max_length=500)
    preset: Literal["production", "staging", "local"] | None = Field(
        None, description="Start from a constraint preset; explicit fields win."
    )


def get_environment(request: HttpRequest, environment_id: int) -> Environment:
    environment = (
        Environment.objects.for_project(request.project_access.project).filter(pk=environment_id).first()
    )
    if environment is None:
        raise ApiError(404, "environment_not_found", "No environment with this id in this project.")
    return environment


def apply(request: HttpRequest, environment: Environment, payload: EnvironmentPatch) -> list[str]:
    """Copy the fields the payload sets onto `environment`; return their names (never their values)."""
    sent = payload.model_dump(exclude_unset=True)
    changed = []
    for field in PLAIN_FIELDS:
        if field in sent and (sent[field] is not None or field == "max_rps"):
            setattr(environment, field, sent[field])
            changed.append(field)
    for field in SECRET_FIELDS:
        if sent.get(field) is not None:
            setattr(environment, field, sent[field])
            changed.append(field)
    if payload.variables is not None:
        problems = []
        for name, change in variable_changes(payload).items():
            try:
                if change is None:
                    environment.delete_variable(name)
                else:
                    environment.set_variable(name, change.value, secret=change.secret)
            except DjangoValidationError as error:
                problems += error.messages
        if problems:
            raise ApiError(
                422, "validation_failed", "Some fields are not valid.", fields={"variables": problems}
            )
        changed.append("variables")
    return changed


def variable_changes(payload: EnvironmentPatch) -> dict[str, VariableChange | None]:
    """The payload's `variables` as the model takes them: name → change, or None to remove it."""
    return {
        name: None if variable is None else VariableChange(variable.value, variable.secret)
        for name, variable in (payload.variables or {}).items()
    }


@prepared
def environments_of(project_id: int) -> QuerySet[Environment]:
    return Environment.objects.for_project(project_id)


@router.get("/p/{slug}/environments", response={200: EnvironmentPage, **ERRORS}, auth=READ_WRITE)
def list_environments(request: HttpRequest, slug: str, page: Query[PageParams]):
    result = paginate(environments_of, page, request.project_access.project.pk, newest_first=False)
    prefetch_related_objects(result["items"], "variables")  # one query for the whole page
    return result


@router.post("/p/{slug}/environments", response={201: EnvironmentOut, **ERRORS}, auth=READ_WRITE)
def create_environment(request: HttpRequest, slug: str, payload: EnvironmentCreate):
    environment = Environment()
    if payload.preset:
        environment.apply_preset(payload.preset)
    apply(request, environment, payload)
    project = request.project_access.project
    return Status(
        201, doors.create_environment(request.auth, project, environment, preset=payload.preset or "")
    )


@router.get(
    "/p/{slug}/environments/{int:environment_id}", response={200: EnvironmentOut, **ERRORS}, auth=READ_WRITE
)
def get_one(request: HttpRequest, slug: str, environment_id: int):
    return get_environment(request, environment_id)


@router.patch(
    "/p/{slug}/environments/{int:environment_id}", response={200: EnvironmentOut, **ERRORS}, auth=READ_WRITE
)
def update_environment(request: HttpRequest, slug: str, environment_id: int, payload: EnvironmentPatch):
    edited = doors.editable_copy(get_environment(request, environment_id))
    apply(request, edited, payload)
    return doors.update_environment(request.auth, request.project_access.project, edited)


@router.delete("/p/{slug}/environments/{int:environment_id}", response={204: None, **ERRORS}, auth=READ_WRITE)
def delete_environment(request: HttpRequest, slug: str, environment_id: int):
    doors.delete_environment(
        request.auth, request.project_access.project, get_environment(request, environment_id)
    )
    return Status(204, None)
