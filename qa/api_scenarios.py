"""Scenarios, their scripts and collections in the JSON API mirror (SPEC §5 "Work objects over the API"):
`/api/v1/p/<slug>/scenarios` (+ `export`, `import`) and `/api/v1/p/<slug>/collections`.

Routes translate: JSON in, a qa.doors door called, the object out. Bodies are typed loosely where the door
has the better message (a step is checked by qa.steps, which names the step and the field).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from django.db.models import Prefetch
from django.http import HttpRequest
from ninja import Body, Field, Query, Router, Schema, Status
from pydantic import field_validator

from qa import doors, exporters
from qa.models import Collection, CollectionScenario, Scenario, Script
from qa.steps import in_order
from qodex.api_auth import project_route
from qodex.api_errors import ERRORS, ApiError
from qodex.pagination import PageParams, paginate
from qodex.schemas import Out

router = Router(tags=["scenarios"])

BY_SLUG = project_route()
MAX_EXPORT_IDS = 500


def _all(related: Any) -> Any:
    """A related manager as its (prefetched) list."""
    return list(related.all()) if hasattr(related, "all") else related


class ScriptOut(Out):
    id: int
    name: str
    language: str
    source: str
    created_at: datetime
    updated_at: datetime


class ScenarioOut(Out):
    id: int
    name: str
    description: str
    type: str = Field(description="`api` or `ui`.")
    status: str = Field(description="`draft` or `active`: only active scenarios run from triggers.")
    priority: str = Field(description="`critical`, `high`, `medium` or `low`.")
    tags: list[str]
    steps: list[dict[str, Any]] = Field(description="SPEC §9 steps, in order (see qa/steps.py).")
    scripts: list[ScriptOut]
    created_at: datetime
    updated_at: datetime

    @field_validator("steps", mode="before")
    @classmethod
    def _steps(cls, steps: Any) -> Any:
        return in_order(steps)

    @field_validator("scripts", mode="before")
    @classmethod
    def _scripts(cls, scripts: Any) -> Any:
        return _all(scripts)


class ScenarioPage(Out):
    items: list[ScenarioOut]
    next_cursor: str | None


class ScenarioFilters(PageParams):
    tag: str | None = Field(None, max_length=40, description="Only scenarios with this tag.")
    status: Literal["draft", "active"] | None = None
    priority: Literal["critical", "high", "medium", "low"] | None = None
    type: Literal["api", "ui"] | None = None
    q: str | None = Field(None, max_length=200, description="Name contains (any case).")


class ScenarioPatch(Schema):
    name: str | None = None
    description: str | None = None
    type: str | None = Field(None, description="`api` or `ui`.")
    status: str | None = Field(None, description="`draft` or `active`.")
    priority: str | None = Field(None, description="`critical`, `high`, `medium` or `low`.")
    tags: list[Any] | None = None
    steps: list[Any] | None = Field(None, description="Replaces the whole list.")


class ScenarioCreate(ScenarioPatch):
    name: str
    type: str = "api"
    status: str = "draft"
    priority: str = "medium"
    tags: list[Any] = Field(default_factory=list)
    steps: list[Any] = Field(default_factory=list)


class ScriptPatch(Schema):
    name: str | None = None
    language: str | None = Field(None, description="`python`, `javascript`, `typescript` or `shell`.")
    source: str | None = None


class ScriptCreate(ScriptPatch):
    name: str
    language: str = "python"
    source: str = ""


class CreatedItem(Out):
    id: int
    name: str


class ImportResult(Out):
    created: list[CreatedItem]


class CollectionOut(Out):
    id: int
    name: str
    description: str
    scenario_ids: list[int] = Field(validation_alias="entries", description="The scenarios, in run order.")
    created_at: datetime
    updated_at: datetime

    @field_validator("scenario_ids", mode="before")
    @classmethod
    def _ids(cls, entries: Any) -> Any:
        return [entry.scenario_id for entry in _all(entries)] if hasattr(entries, "all") else entries


class CollectionPage(Out):
    items: list[CollectionOut]
    next_cursor: str | None


class CollectionPatch(Schema):
    name: str | None = None
    description: str | None = None
    scenario_ids: list[Any] | None = Field(None, description="Replaces the list and its order.")


class CollectionCreate(CollectionPatch):
    name: str
    description: str = ""
    scenario_ids: list[Any] = Field(default_factory=list)


ExportFormat = Literal["qodex", "postman"]


# --- helpers ---------------------------------------------------------------------------------------------


def scenarios_of(request: HttpRequest):
    return Scenario.objects.for_project(request.project_access.project).prefetch_related(
        Prefetch("scripts", queryset=Script.objects.order_by("pk"))
    )


def get_scenario(request: HttpRequest, scenario_id: int) -> Scenario:
    scenario = scenarios_of(request).filter(pk=scenario_id).first()
    if scenario is None:
        raise ApiError(404, "scenario_not_found", "No scenario with this id in this project.")
    return scenario


def get_script(request: HttpRequest, scenario: Scenario, script_id: int) -> Script:
    script = Script.objects.for_project(request.project_access.project).filter(
        pk=script_id, scenario=scenario
    )
    script = script.select_related("scenario").first()
    if script is None:
        raise ApiError(404, "script_not_found", "No script with this id on this scenario.")
    return script


def collections_of(request: HttpRequest):
    entries = Prefetch("entries", queryset=CollectionScenario.objects.order_by("position", "pk"))
    return Collection.objects.for_project(request.project_access.project).prefetch_related(entries)


def get_collection(request: HttpRequest, collection_id: int) -> Collection:
    collection = collections_of(request).filter(pk=collection_id).first()
    if collection is None:
        raise ApiError(404, "collection_not_found", "No collection with this id in this project.")
    return collection


def reloaded(request: HttpRequest, scenario: Scenario) -> Scenario:
    return get_scenario(request, scenario.pk)


def export(request: HttpRequest, scenarios: list[Scenario], format: str) -> dict[str, Any]:
    if format == "postman":
        try:
            return exporters.postman_collection(scenarios, name=request.project_access.project.name)
        except exporters.NothingToExport as nothing:
            raise ApiError(422, "nothing_to_export", str(nothing)) from None
    return exporters.qodex_document(scenarios)


def parse_ids(ids: str) -> list[int]:
    parts = [part.strip() for part in ids.split(",") if part.strip()]
    if not parts or not all(part.isdigit() and len(part) < 19 for part in parts):
        raise ApiError(
            422,
            "validation_failed",
            "Some fields are not valid.",
            fields={"ids": ["Give scenario ids: ?ids=3,5,8"]},
        )
    if len(parts) > MAX_EXPORT_IDS:
        raise ApiError(
            422,
            "validation_failed",
            "Some fields are not valid.",
            fields={"ids": [f"At most {MAX_EXPORT_IDS} ids."]},
        )
    return list(dict.fromkeys(int(part) for part in parts))


# --- scenarios -------------------------------------------------------------------------------------------


@router.get("/p/{slug}/scenarios", response={200: ScenarioPage, **ERRORS}, auth=BY_SLUG)
def list_scenarios(request: HttpRequest, slug: str, filters: Query[ScenarioFilters]):
    scenarios = scenarios_of(request)
    if filters.tag:
        scenarios = scenarios.tagged(filters.tag)
    for name in ("status", "priority", "type"):
        if getattr(filters, name):
            scenarios = scenarios.filter(**{name: getattr(filters, name)})
    if filters.q and filters.q.strip():
        scenarios = scenarios.filter(name__icontains=filters.q.strip())
    return paginate(scenarios, filters)


@router.post("/p/{slug}/scenarios", response={201: ScenarioOut, **ERRORS}, auth=BY_SLUG)
def create_scenario(request: HttpRequest, slug: str, payload: ScenarioCreate):
    scenario = doors.create_scenario(request.auth, request.project_access.project, payload.model_dump())
    return Status(201, reloaded(request, scenario))


@router.get("/p/{slug}/scenarios/export", response={200: dict[str, Any], **ERRORS}, auth=BY_SLUG)
def export_scenarios(request: HttpRequest, slug: str, ids: str | None = None, format: ExportFormat = "qodex"):
    """Several scenarios (`?ids=3,5`; all of the project's without it) as our document, or as a Postman
    Collection v2.1 with `?format=postman`."""
    scenarios = scenarios_of(request).order_by("pk")
    if ids is not None:
        wanted = parse_ids(ids)
        found = {scenario.pk: scenario for scenario in scenarios.filter(pk__in=wanted)}
        missing = [pk for pk in wanted if pk not in found]
        if missing:
            raise ApiError(
                404,
                "scenario_not_found",
                f"No scenario with id {', '.join(map(str, missing[:10]))} in this project.",
            )
        return export(request, [found[pk] for pk in wanted], format)
    return export(request, list(scenarios), format)


@router.post("/p/{slug}/scenarios/import", response={201: ImportResult, **ERRORS}, auth=BY_SLUG)
def import_scenarios(request: HttpRequest, slug: str, document: Body[dict[str, Any]]):
    """Our document or a Postman Collection v2.1; clashing names are renamed (“Login (2)”), never
    overwritten."""
    created = doors.import_scenarios(request.auth, request.project_access.project, document)
    return Status(201, {"created": created})


@router.get("/p/{slug}/scenarios/{int:scenario_id}", response={200: ScenarioOut, **ERRORS}, auth=BY_SLUG)
def get_one(request: HttpRequest, slug: str, scenario_id: int):
    return get_scenario(request, scenario_id)


@router.patch("/p/{slug}/scenarios/{int:scenario_id}", response={200: ScenarioOut, **ERRORS}, auth=BY_SLUG)
def update_scenario(request: HttpRequest, slug: str, scenario_id: int, payload: ScenarioPatch):
    scenario = get_scenario(request, scenario_id)
    changes = payload.model_dump(exclude_unset=True)
    doors.update_scenario(request.auth, request.project_access.project, scenario, changes)
    return reloaded(request, scenario)


@router.delete("/p/{slug}/scenarios/{int:scenario_id}", response={204: None, **ERRORS}, auth=BY_SLUG)
def delete_scenario(request: HttpRequest, slug: str, scenario_id: int):
    doors.delete_scenario(request.auth, request.project_access.project, get_scenario(request, scenario_id))
    return Status(204, None)


@router.post(
    "/p/{slug}/scenarios/{int:scenario_id}/duplicate", response={201: ScenarioOut, **ERRORS}, auth=BY_SLUG
)
def duplicate_scenario(request: HttpRequest, slug: str, scenario_id: int):
    """A draft copy named “<name> (copy)”, with the same steps and scripts."""
    scenario = get_scenario(request, scenario_id)
    copy = doors.duplicate_scenario(request.auth, request.project_access.project, scenario)
    return Status(201, reloaded(request, copy))


@router.get(
    "/p/{slug}/scenarios/{int:scenario_id}/export", response={200: dict[str, Any], **ERRORS}, auth=BY_SLUG
)
def export_scenario(request: HttpRequest, slug: str, scenario_id: int, format: ExportFormat = "qodex"):
    """One scenario as our document, or as a Postman Collection v2.1 with `?format=postman`."""
    return export(request, [get_scenario(request, scenario_id)], format)


# --- scripts ---------------------------------------------------------------------------------------------


@router.post(
    "/p/{slug}/scenarios/{int:scenario_id}/scripts", response={201: ScriptOut, **ERRORS}, auth=BY_SLUG
)
def add_script(request: HttpRequest, slug: str, scenario_id: int, payload: ScriptCreate):
    scenario = get_scenario(request, scenario_id)
    script = doors.add_script(request.auth, request.project_access.project, scenario, payload.model_dump())
    return Status(201, script)


@router.patch(
    "/p/{slug}/scenarios/{int:scenario_id}/scripts/{int:script_id}",
    response={200: ScriptOut, **ERRORS},
    auth=BY_SLUG,
)
def update_script(request: HttpRequest, slug: str, scenario_id: int, script_id: int, payload: ScriptPatch):
    script = get_script(request, get_scenario(request, scenario_id), script_id)
    changes = payload.model_dump(exclude_unset=True)
    return doors.update_script(request.auth, request.project_access.project, script, changes)


@router.delete(
    "/p/{slug}/scenarios/{int:scenario_id}/scripts/{int:script_id}",
    response={204: None, **ERRORS},
    auth=BY_SLUG,
)
def delete_script(request: HttpRequest, slug: str, scenario_id: int, script_id: int):
    script = get_script(request, get_scenario(request, scenario_id), script_id)
    doors.delete_script(request.auth, request.project_access.project, script)
    return Status(204, None)


# --- collections -----------------------------------------------------------------------------------------


@router.get("/p/{slug}/collections", response={200: CollectionPage, **ERRORS}, auth=BY_SLUG)
def list_collections(request: HttpRequest, slug: str, page: Query[PageParams]):
    return paginate(collections_of(request), page)


@router.post("/p/{slug}/collections", response={201: CollectionOut, **ERRORS}, auth=BY_SLUG)
def create_collection(request: HttpRequest, slug: str, payload: CollectionCreate):
    collection = doors.create_collection(request.auth, request.project_access.project, payload.model_dump())
    return Status(201, get_collection(request, collection.pk))


@router.get(
    "/p/{slug}/collections/{int:collection_id}", response={200: CollectionOut, **ERRORS}, auth=BY_SLUG
)
def get_collection_route(request: HttpRequest, slug: str, collection_id: int):
    return get_collection(request, collection_id)


@router.patch(
    "/p/{slug}/collections/{int:collection_id}", response={200: CollectionOut, **ERRORS}, auth=BY_SLUG
)
def update_collection(request: HttpRequest, slug: str, collection_id: int, payload: CollectionPatch):
    collection = get_collection(request, collection_id)
    changes = payload.model_dump(exclude_unset=True)
    doors.update_collection(request.auth, request.project_access.project, collection, changes)
    return get_collection(request, collection.pk)


@router.delete("/p/{slug}/collections/{int:collection_id}", response={204: None, **ERRORS}, auth=BY_SLUG)
def delete_collection(request: HttpRequest, slug: str, collection_id: int):
    doors.delete_collection(
        request.auth, request.project_access.project, get_collection(request, collection_id)
    )
    return Status(204, None)
