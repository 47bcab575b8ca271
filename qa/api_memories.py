"""Memories in the JSON API (SPEC §5): `/api/v1/memories` on the resolved project (default project
allowed, `?scope=org` for org-wide memories) and the mirror `/api/v1/p/<slug>/memories`.

Both paths share the handlers below; only the guard differs. `memory_count` follows every change because
memories are created and deleted only through Memory.objects.add() and Memory.delete().
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema, Status
from pydantic import AliasPath, StringConstraints

from qa import doors
from qa.models import Memory, MemoryQuerySet
from qodex.api_auth import project_route
from qodex.api_errors import ERRORS, ApiError
from qodex.pagination import PageParams, paginate
from qodex.schemas import Out

router = Router(tags=["memories"])

Content = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=doors.MEMORY_MAX)]
Scope = Literal["project", "org"]


class MemoryOut(Out):
    id: int
    content: str
    metadata: dict[str, Any]
    project_id: str | None = Field(
        None,
        validation_alias=AliasPath("project", "public_id"),
        description="The project's `proj_` id; null for an org-wide memory.",
    )
    created_at: datetime
    updated_at: datetime


class MemoryPage(Out):
    items: list[MemoryOut]
    next_cursor: str | None


class MemoryCreate(Schema):
    content: Content
    metadata: dict[str, Any] = Field(default_factory=dict)


class MemoryUpdate(Schema):
    content: Content | None = None
    metadata: dict[str, Any] | None = None


class MemoryFilters(PageParams):
    q: str | None = Field(None, max_length=200, description="Full-text search in the content.")
    scope: Scope | None = Field(None, description="`org`: the organization's org-wide memories.")


# Routes without a slug: the project from X-Project-ID, a locked key, or the tenant's default.
RESOLVED = project_route(required=False, org_scope=True)
# The mirror: the project from the slug.
BY_SLUG = project_route()


def scoped(request: HttpRequest) -> MemoryQuerySet:
    """The only memories this request may see: its project's, or its organization's org-wide ones."""
    access = request.project_access
    memories = Memory.objects.select_related("project")
    if access is None:
        return memories.org_wide(request.organization)
    return memories.for_project(access.project)


def get_memory(request: HttpRequest, memory_id: int) -> Memory:
    memory = scoped(request).filter(pk=memory_id).first()
    if memory is None:
        raise ApiError(404, "memory_not_found", "No memory with this id here.")
    return memory


def list_memories(request: HttpRequest, filters: MemoryFilters):
    memories = scoped(request)
    if filters.q and filters.q.strip():
        memories = memories.search(filters.q.strip())
    return paginate(memories, filters)


def target(request: HttpRequest):
    """What the memory doors act on: the project, or the organization for org-wide memories."""
    access = request.project_access
    return access.project if access is not None else request.organization


def create_memory(request: HttpRequest, payload: MemoryCreate):
    memory = doors.add_memory(request.auth, target(request), payload.content, payload.metadata)
    return Status(201, memory)


def update_memory(request: HttpRequest, memory: Memory, payload: MemoryUpdate):
    return doors.update_memory(
        request.auth, target(request), memory, content=payload.content, metadata=payload.metadata
    )


def delete_memory(request: HttpRequest, memory: Memory):
    doors.delete_memory(request.auth, target(request), memory)
    return Status(204, None)


# --- /memories ------------------------------------------------------------------------------------------


@router.get("/memories", response={200: MemoryPage, **ERRORS}, auth=RESOLVED)
def memories(request: HttpRequest, filters: Query[MemoryFilters]):
    return list_memories(request, filters)


@router.post("/memories", response={201: MemoryOut, **ERRORS}, auth=RESOLVED)
def memories_create(request: HttpRequest, payload: MemoryCreate, scope: Scope | None = None):
    return create_memory(request, payload)


@router.get("/memories/{int:memory_id}", response={200: MemoryOut, **ERRORS}, auth=RESOLVED)
def memory(request: HttpRequest, memory_id: int, scope: Scope | None = None):
    return get_memory(request, memory_id)


@router.patch("/memories/{int:memory_id}", response={200: MemoryOut, **ERRORS}, auth=RESOLVED)
def memory_update(request: HttpRequest, memory_id: int, payload: MemoryUpdate, scope: Scope | None = None):
    return update_memory(request, get_memory(request, memory_id), payload)


@router.delete("/memories/{int:memory_id}", response={204: None, **ERRORS}, auth=RESOLVED)
def memory_delete(request: HttpRequest, memory_id: int, scope: Scope | None = None):
    return delete_memory(request, get_memory(request, memory_id))


# --- /p/<slug>/memories ---------------------------------------------------------------------------------


class SlugMemoryFilters(PageParams):
    q: str | None = Field(None, max_length=200, description="Full-text search in the content.")


@router.get("/p/{slug}/memories", response={200: MemoryPage, **ERRORS}, auth=BY_SLUG)
def project_memories(request: HttpRequest, slug: str, filters: Query[SlugMemoryFilters]):
    return list_memories(request, filters)


@router.post("/p/{slug}/memories", response={201: MemoryOut, **ERRORS}, auth=BY_SLUG)
def project_memories_create(request: HttpRequest, slug: str, payload: MemoryCreate):
    return create_memory(request, payload)


@router.get("/p/{slug}/memories/{int:memory_id}", response={200: MemoryOut, **ERRORS}, auth=BY_SLUG)
def project_memory(request: HttpRequest, slug: str, memory_id: int):
    return get_memory(request, memory_id)


@router.patch("/p/{slug}/memories/{int:memory_id}", response={200: MemoryOut, **ERRORS}, auth=BY_SLUG)
def project_memory_update(request: HttpRequest, slug: str, memory_id: int, payload: MemoryUpdate):
    return update_memory(request, get_memory(request, memory_id), payload)


@router.delete("/p/{slug}/memories/{int:memory_id}", response={204: None, **ERRORS}, auth=BY_SLUG)
def project_memory_delete(request: HttpRequest, slug: str, memory_id: int):
    return delete_memory(request, get_memory(request, memory_id))
