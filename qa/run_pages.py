"""The test-run and finding pages (SPEC §4, §9), thin around qa.doors.

- `/p/<slug>/test-runs/`: the runs, newest first, with a form to start one; `POST …/start` queues a
  run (scenario_id or collection_id, optional environment) and lands on it.
- `/p/<slug>/test-runs/<id>/`: one run, its step-by-step results, cancel and re-run failed. While the
  run is queued or running, htmx polls the `progress` partial of the same template.
- `/p/<slug>/findings/` (filters by status and severity) and `/p/<slug>/findings/<id>/` with the
  evidence, the triage buttons and links back to the run and the scenario.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from environments.models import Environment
from projects.access import Actor, ProjectAccess, project_view
from projects.models import Project
from qa import doors
from qa.models import Collection, Finding, Scenario, TestRun
from qodex.doors import Conflict, Invalid, Refused

PAGE_SIZE = 50
POLL_SECONDS = 1  # how often a run's page asks for its progress while it runs


def posted_int(request: HttpRequest, name: str) -> int | None:
    value = request.POST.get(name, "").strip()
    return int(value) if value.isdigit() and len(value) < 19 else None


def refusal_text(refusal: Refused) -> str:
    if isinstance(refusal, Invalid) and refusal.fields:
        return next(iter(refusal.fields.values()))[0]
    return refusal.message


@project_view()
def test_runs(request: HttpRequest, project: Project, access: ProjectAccess) -> HttpResponse:
    """The project's runs, newest first (a constant number of queries, however many)."""
    runs = (
        TestRun.objects.for_project(project)
        .select_related("scenario", "collection", "triggered_by", "api_key")
        .order_by("-created_at", "-pk")
    )
    status = request.GET.get("status", "")
    if status in TestRun.Status.values:
        runs = runs.filter(status=status)
    page = Paginator(runs, PAGE_SIZE).get_page(request.GET.get("page"))
    context = {
        "page": page,
        "status": status,
        "statuses": TestRun.Status.choices,
        "scenarios": Scenario.objects.for_project(project).order_by("name").only("pk", "name", "status"),
        "collections": Collection.objects.for_project(project).order_by("name").only("pk", "name"),
        "environments": Environment.objects.for_project(project).order_by("name").only("pk", "name"),
    }
    return render(request, "qa/test_runs.html", context)


@project_view()
@require_POST
def test_run_start(request: HttpRequest, project: Project, access: ProjectAccess) -> HttpResponse:
    """Queue a run of a scenario or a collection (members and up) and show it."""
    scenario_id, collection_id = posted_int(request, "scenario_id"), posted_int(request, "collection_id")
    scenario = collection = None
    if scenario_id is not None:
        scenario = get_object_or_404(Scenario.objects.for_project(project), pk=scenario_id)
    if collection_id is not None:
        collection = get_object_or_404(Collection.objects.for_project(project), pk=collection_id)
    try:
        run = doors.start_run(
            Actor.of(request),
            project,
            scenario=scenario,
            collection=collection,
            environment=request.POST.get("environment", ""),
        )
    except Invalid as refusal:
        messages.error(request, refusal_text(refusal))
        return redirect("projects:test_runs", slug=project.slug)
    messages.success(request, f"Run #{run.pk} queued against {run.environment_name}.")
    return redirect("projects:test_run", slug=project.slug, pk=run.pk)


@project_view()
def test_run(request: HttpRequest, project: Project, access: ProjectAccess, pk: int) -> HttpResponse:
    """One run with its steps; POST `action=cancel` or `action=rerun` (members and up)."""
    run = get_object_or_404(
        TestRun.objects.for_project(project).select_related(
            "scenario", "collection", "environment", "triggered_by", "api_key"
        ),
        pk=pk,
    )
    if request.method == "POST":
        actor = Actor.of(request)
        action = request.POST.get("action")
        try:
            if action == "cancel":
                doors.cancel_run(actor, project, run)
                messages.success(request, "Cancelling the run: it stops within a few seconds.")
            elif action == "rerun":
                again = doors.rerun_failed(actor, project, run)
                messages.success(request, f"Re-running what failed in #{run.pk} as #{again.pk}.")
                return redirect("projects:test_run", slug=project.slug, pk=again.pk)
            else:
                messages.error(request, "Unknown action.")
        except (Invalid, Conflict) as refusal:
            messages.error(request, refusal_text(refusal))
        return redirect("projects:test_run", slug=project.slug, pk=run.pk)
    steps = list(run.step_results.select_related("scenario").order_by("position"))
    findings = list(run.findings.order_by("pk").only("pk", "title", "severity", "status", "test_run_id"))
    # `project` and `access` too: the partial renders without the layout that provides them.
    context = {
        "run": run,
        "steps": steps,
        "findings": findings,
        "poll_seconds": POLL_SECONDS,
        "project": project,
        "access": access,
    }
    if request.htmx and request.GET.get("part") == "progress":
        return render(request, "qa/test_run.html#progress", context)
    return render(request, "qa/test_run.html", context)


@project_view()
def findings(request: HttpRequest, project: Project, access: ProjectAccess) -> HttpResponse:
    """The project's findings, most recently seen first, filtered by status (open by default) and severity."""
    found = Finding.objects.for_project(project).select_related("scenario").order_by("-last_seen_at", "-pk")
    status = request.GET.get("status", "open")
    severity = request.GET.get("severity", "")
    if status in Finding.Status.values:
        found = found.filter(status=status)
    else:
        status = ""
    if severity in Finding.Severity.values:
        found = found.filter(severity=severity)
    else:
        severity = ""
    page = Paginator(found, PAGE_SIZE).get_page(request.GET.get("page"))
    context = {
        "page": page,
        "status": status,
        "severity": severity,
        "statuses": Finding.Status.choices,
        "severities": Finding.Severity.choices,
    }
    return render(request, "qa/findings.html", context)


@project_view()
def finding(request: HttpRequest, project: Project, access: ProjectAccess, pk: int) -> HttpResponse:
    """One finding with its evidence; POST `status=…` triages it (members and up)."""
    item = get_object_or_404(
        Finding.objects.for_project(project).select_related("scenario", "test_run"), pk=pk
    )
    if request.method == "POST":
        try:
            doors.triage_finding(Actor.of(request), project, item, request.POST.get("status", ""))
        except (Invalid, Conflict) as refusal:
            messages.error(request, refusal_text(refusal))
        else:
            messages.success(request, f"Marked {item.get_status_display().lower()}.")
        return redirect("projects:finding", slug=project.slug, pk=item.pk)
    return render(request, "qa/finding.html", {"finding": item, "statuses": Finding.Status.choices})
