"""Test runs, findings and the CI webhook in the JSON API (SPEC §5), around the doors of qa.doors.

- `POST /api/v1/p/<slug>/test-runs` queues a run (202), `GET …/test-runs` lists them, `GET …/{id}` shows
  one with its steps, `POST …/{id}/cancel` stops it;
- `GET …/findings` (`?status=&severity=`), `GET|PATCH …/findings/{id}` (`{"status"}`);
- `POST …/webhooks/trigger` queues a run of the active scenarios picked by tags and ids, whose summary
  is POSTed to `callback_url` when it ends (qa.webhooks).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema, Status
from pydantic import StringConstraints, field_validator

from qa import doors
from qa.models import Collection, Finding, Scenario, TestRun
from qodex.api_auth import project_route
from qodex.api_errors import ERRORS, ApiError
from qodex.pagination import PageParams, paginate
from qodex.schemas import Out

router = Router(tags=["test runs"])
BY_SLUG = project_route()

RunStatus = Literal["queued", "running", "passed", "failed", "error", "blocked"]
StepStatus = Literal["passed", "failed", "blocked", "error", "skipped"]
FindingStatus = Literal["open", "fixed", "false_positive", "wontfix"]
Severity = Literal["critical", "high", "medium", "low", "info"]
Name = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)]
Tag = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50)]


# --- shapes --------------------------------------------------------------------------------------------


class StepRequestOut(Out):
    method: str
    url: str


class StepResponseOut(Out):
    status: int


class StepOut(Out):
    scenario_id: int | None
    name: str
    status: StepStatus
    reason: str
    request: StepRequestOut | None
    response: StepResponseOut | None
    started_at: datetime | None
    duration_ms: int | None

    @field_validator("request", mode="before")
    @classmethod
    def _sent(cls, request: Any) -> Any:
        return request if isinstance(request, dict) and request.get("method") else None


class RunOut(Out):
    id: int
    status: RunStatus
    reason: str = Field(description='Why it ended error or blocked ("cancelled", …); "" otherwise.')
    scenario_id: int | None
    collection_id: int | None
    environment: str = Field(validation_alias="environment_name")
    trigger: Literal["user", "api_key", "webhook"]
    steps_total: int
    steps_done: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class RunDetailOut(RunOut):
    steps: list[StepOut] = Field(validation_alias="steps_list")


class RunPage(Out):
    items: list[RunOut]
    next_cursor: str | None


class RunQueuedOut(Out):
    id: int
    status: RunStatus


class RunStart(Schema):
    scenario_id: int | None = Field(None, ge=1)
    collection_id: int | None = Field(None, ge=1)
    scenario: Name | None = Field(None, description="The scenario by name (any case), instead of its id.")
    environment: Name | None = Field(
        None, description="By name; else the caller's active one, else the project's only one."
    )


class RunFilters(PageParams):
    status: RunStatus | None = None


class FindingOut(Out):
    id: int
    title: str
    severity: Severity
    category: str
    status: FindingStatus
    fingerprint: str
    occurrences: int
    first_seen_at: datetime
    last_seen_at: datetime
    test_run_id: int | None
    scenario_id: int | None


class FindingDetailOut(FindingOut):
    evidence: dict[str, Any]


class FindingPage(Out):
    items: list[FindingOut]
    next_cursor: str | None


class FindingFilters(PageParams):
    status: FindingStatus | None = None
    severity: Severity | None = None


class FindingPatch(Schema):
    status: FindingStatus


class WebhookTrigger(Schema):
    environment: Name | None = None
    tags: list[Tag] = Field(default_factory=list, max_length=50)
    scenario_ids: list[Annotated[int, Field(ge=1)]] = Field(default_factory=list, max_length=500)
    callback_url: str | None = Field(None, max_length=2000)


class WebhookQueuedOut(Out):
    test_run_id: int
    status: RunStatus
    scenarios_total: int


# --- test runs -----------------------------------------------------------------------------------------


def get_run(request: HttpRequest, run_id: int) -> TestRun:
    run = TestRun.objects.for_project(request.project_access.project).filter(pk=run_id).first()
    if run is None:
        raise ApiError(404, "test_run_not_found", "No test run with this id in this project.")
    return run


def with_steps(run: TestRun) -> TestRun:
    run.steps_list = list(run.step_results.order_by("position"))
    return run


@router.post("/p/{slug}/test-runs", response={202: RunQueuedOut, **ERRORS}, auth=BY_SLUG)
def start_run(request: HttpRequest, slug: str, payload: RunStart):
    project = request.project_access.project
    scenario = collection = None
    if payload.scenario_id is not None or payload.scenario:
        scenarios = Scenario.objects.for_project(project)
        if payload.scenario_id is not None:
            scenario = scenarios.filter(pk=payload.scenario_id).first()
        else:
            scenario = scenarios.filter(name__iexact=payload.scenario).first()
        if scenario is None:
            raise ApiError(404, "scenario_not_found", "No scenario with this id or name in this project.")
    if payload.collection_id is not None:
        collection = Collection.objects.for_project(project).filter(pk=payload.collection_id).first()
        if collection is None:
            raise ApiError(404, "collection_not_found", "No collection with this id in this project.")
    run = doors.start_run(
        request.auth, project, scenario=scenario, collection=collection, environment=payload.environment
    )
    return Status(202, run)


@router.get("/p/{slug}/test-runs", response={200: RunPage, **ERRORS}, auth=BY_SLUG)
def list_runs(request: HttpRequest, slug: str, filters: Query[RunFilters]):
    runs = TestRun.objects.for_project(request.project_access.project)
    if filters.status:
        runs = runs.filter(status=filters.status)
    return paginate(runs, filters)


@router.get("/p/{slug}/test-runs/{int:run_id}", response={200: RunDetailOut, **ERRORS}, auth=BY_SLUG)
def get_one_run(request: HttpRequest, slug: str, run_id: int):
    return with_steps(get_run(request, run_id))


@router.post("/p/{slug}/test-runs/{int:run_id}/cancel", response={202: RunOut, **ERRORS}, auth=BY_SLUG)
def cancel_run(request: HttpRequest, slug: str, run_id: int):
    run = doors.cancel_run(request.auth, request.project_access.project, get_run(request, run_id))
    return Status(202, run)


# --- findings ------------------------------------------------------------------------------------------


def get_finding(request: HttpRequest, finding_id: int) -> Finding:
    finding = Finding.objects.for_project(request.project_access.project).filter(pk=finding_id).first()
    if finding is None:
        raise ApiError(404, "finding_not_found", "No finding with this id in this project.")
    return finding


@router.get("/p/{slug}/findings", response={200: FindingPage, **ERRORS}, auth=BY_SLUG, tags=["findings"])
def list_findings(request: HttpRequest, slug: str, filters: Query[FindingFilters]):
    findings = Finding.objects.for_project(request.project_access.project)
    if filters.status:
        findings = findings.filter(status=filters.status)
    if filters.severity:
        findings = findings.filter(severity=filters.severity)
    return paginate(findings, filters)


@router.get(
    "/p/{slug}/findings/{int:finding_id}",
    response={200: FindingDetailOut, **ERRORS},
    auth=BY_SLUG,
    tags=["findings"],
)
def get_one_finding(request: HttpRequest, slug: str, finding_id: int):
    return get_finding(request, finding_id)


@router.patch(
    "/p/{slug}/findings/{int:finding_id}",
    response={200: FindingDetailOut, **ERRORS},
    auth=BY_SLUG,
    tags=["findings"],
)
def triage_finding(request: HttpRequest, slug: str, finding_id: int, payload: FindingPatch):
    finding = get_finding(request, finding_id)
    return doors.triage_finding(request.auth, request.project_access.project, finding, payload.status)


# --- the CI webhook ------------------------------------------------------------------------------------


def webhook_scenarios(project, tags: list[str], ids: list[int]) -> list[Scenario]:
    """The active scenarios a trigger picks: those named by id and those carrying any of the tags (none
    of either: every active one), in name order. An id that is not an active scenario is refused."""
    active = list(
        Scenario.objects.for_project(project)
        .filter(status=Scenario.Status.ACTIVE)
        .only("pk", "name", "tags", "steps", "project_id", "status")
        .order_by("name", "pk")
    )
    if not tags and not ids:
        return active
    known = {scenario.pk for scenario in active}
    missing = [pk for pk in dict.fromkeys(ids) if pk not in known]
    if missing:
        listed = ", ".join(str(pk) for pk in missing[:20])
        raise ApiError(
            422,
            "validation_failed",
            f"No active scenario with id {listed} in this project (drafts don't run from webhooks).",
            fields={"scenario_ids": [f"Not an active scenario of this project: {listed}."]},
        )
    wanted_tags = {tag.lower() for tag in tags}
    wanted_ids = set(ids)
    return [
        scenario
        for scenario in active
        if scenario.pk in wanted_ids or wanted_tags & {str(tag).lower() for tag in scenario.tags or []}
    ]


@router.post(
    "/p/{slug}/webhooks/trigger",
    response={202: WebhookQueuedOut, **ERRORS},
    auth=BY_SLUG,
    tags=["webhooks"],
    summary="Run active scenarios from CI; the summary is POSTed to callback_url, signed",
)
def trigger(request: HttpRequest, slug: str, payload: WebhookTrigger):
    project = request.project_access.project
    picked = webhook_scenarios(project, payload.tags, payload.scenario_ids)
    run = doors.start_run(
        request.auth,
        project,
        scenarios=picked,
        environment=payload.environment,
        trigger=TestRun.Trigger.WEBHOOK,
        callback_url=payload.callback_url or "",
    )
    return Status(202, {"test_run_id": run.pk, "status": run.status, "scenarios_total": len(picked)})
