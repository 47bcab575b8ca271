"""Scenario and collection pages (SPEC §4, §9) under `/p/<slug>/scenarios/`.

Every view is wrapped by projects.access.project_view: viewers read (and export), members and up change
things through qa.doors. The steps editor is a server-rendered form with a row per step; adding, removing
and moving rows re-renders the rows (htmx swaps them in place; without JavaScript the page comes back) and
only "Save" changes the scenario.
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Count, Prefetch
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.text import slugify
from django.views.decorators.http import require_http_methods

from byok.gateway import LlmError
from projects.access import Actor, ProjectAccess, project_view
from projects.models import Project
from qa import doors, exporters, generation, importers
from qa.models import Collection, CollectionScenario, Priority, Scenario, Script
from qa.scenario_forms import (
    CollectionForm,
    DraftForm,
    GenerateForm,
    ImportForm,
    ScenarioForm,
    ScriptForm,
    StepRow,
    apply_op,
    attach,
    rows_from_post,
    rows_from_steps,
    steps_from_rows,
)
from qa.steps import check_steps, in_order
from qodex.doors import Conflict, Invalid, show_on_form

SAFE = ["GET", "HEAD"]
PAGE_SIZE = 50
WRITE = "project:write"


def run_url(project: Project) -> str:
    """Where "Run now" posts: the test runs' start (qa.run_pages.test_run_start)."""
    return reverse("projects:test_run_start", kwargs={"slug": project.slug})


def get_scenario(project: Project, scenario_id: int) -> Scenario:
    """A scenario of this project (from the URL), or 404: ids of other projects don't exist here."""
    scripts = Prefetch("scripts", queryset=Script.objects.order_by("pk"))
    return get_object_or_404(
        Scenario.objects.for_project(project).select_related("created_by").prefetch_related(scripts),
        pk=scenario_id,
    )


def posted_id(request: HttpRequest, name: str) -> int:
    value = request.POST.get(name, "")
    if not value.isdigit():
        raise Http404(f"No such {name.removesuffix('_id')}.")
    return int(value)


def first_message(refusal: Invalid | Conflict) -> str:
    return next(iter(refusal.fields.values()))[0] if refusal.fields else refusal.message


# --- the list and export ---------------------------------------------------------------------------------


def filtered(project: Project, params) -> tuple[Any, dict[str, str]]:
    """The project's scenarios narrowed by the list's filters (`tag`, `status`, `priority`, `type`, `q`)."""
    chosen = {
        "tag": params.get("tag", "").strip().lower()[:40],
        "status": params.get("status", "") if params.get("status") in Scenario.Status.values else "",
        "priority": params.get("priority", "") if params.get("priority") in Priority.values else "",
        "type": params.get("type", "") if params.get("type") in Scenario.Type.values else "",
        "q": params.get("q", "").strip()[:200],
    }
    scenarios = Scenario.objects.for_project(project)
    if chosen["tag"]:
        scenarios = scenarios.tagged(chosen["tag"])
    for name in ("status", "priority", "type"):
        if chosen[name]:
            scenarios = scenarios.filter(**{name: chosen[name]})
    if chosen["q"]:
        scenarios = scenarios.filter(name__icontains=chosen["q"])
    return scenarios, chosen


@project_view()
@require_http_methods(SAFE)
def scenario_list(request: HttpRequest, project: Project, access: ProjectAccess) -> HttpResponse:
    scenarios, chosen = filtered(project, request.GET)
    # The list shows counts, not steps: the steps stay in the database (one query for the page).
    rows = scenarios.with_step_count().defer("steps", "description").order_by("-updated_at", "-pk")
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    tags = sorted(
        {tag for tags in Scenario.objects.for_project(project).values_list("tags", flat=True) for tag in tags}
    )
    export_query = "&".join(f"{name}={value}" for name, value in chosen.items() if value)
    context = {
        "page": page,
        "chosen": chosen,
        "filtering": any(chosen.values()),
        "tags": tags,
        "statuses": Scenario.Status.choices,
        "priorities": Priority.choices,
        "types": Scenario.Type.choices,
        "export_query": export_query,
    }
    return render(request, "qa/scenarios/list.html", context)


def download(project: Project, scenarios: list[Scenario], format: str, stem: str) -> HttpResponse:
    if format == "postman":
        document = exporters.postman_collection(scenarios, name=project.name)
        filename = f"{stem}.postman_collection.json"
    else:
        document = exporters.qodex_document(scenarios)
        filename = f"{stem}.qodex-scenarios.json"
    response = JsonResponse(document, json_dumps_params={"indent": 2, "ensure_ascii": False})
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"
    return response


SCRIPTS_IN_ORDER = Prefetch("scripts", queryset=Script.objects.order_by("pk"))


@project_view()
@require_http_methods(SAFE)
def scenarios_export(request: HttpRequest, project: Project, access: ProjectAccess) -> HttpResponse:
    """The listed scenarios (the list's filters, or `?ids=3,5`) as a download: ours or `?format=postman`."""
    ids = [part for part in request.GET.get("ids", "").split(",") if part.strip()]
    if ids:
        if not all(part.strip().isdigit() and len(part.strip()) < 19 for part in ids):
            raise Http404("No such scenario.")
        scenarios = Scenario.objects.for_project(project).filter(pk__in=[int(part) for part in ids])
    else:
        scenarios, _ = filtered(project, request.GET)
    scenarios = list(scenarios.prefetch_related(SCRIPTS_IN_ORDER).order_by("pk"))
    try:
        return download(project, scenarios, request.GET.get("format", "qodex"), f"{project.slug}-scenarios")
    except exporters.NothingToExport as nothing:
        messages.error(request, str(nothing))
        return redirect("projects:scenarios", slug=project.slug)


@project_view()
@require_http_methods(SAFE)
def scenario_export(
    request: HttpRequest, project: Project, access: ProjectAccess, scenario_id: int
) -> HttpResponse:
    scenario = get_scenario(project, scenario_id)
    stem = f"{project.slug}-{slugify(scenario.name) or 'scenario'}"
    try:
        return download(project, [scenario], request.GET.get("format", "qodex"), stem)
    except exporters.NothingToExport as nothing:
        messages.error(request, str(nothing))
        return redirect("projects:scenario", slug=project.slug, scenario_id=scenario.pk)


# --- create, edit, duplicate, delete ---------------------------------------------------------------------


def editor_context(
    scenario_type: str, rows: list[StepRow] | None, steps_json: str = "", **extra
) -> dict[str, Any]:
    return {"editor_type": scenario_type, "rows": rows or [], "steps_json": steps_json, **extra}


def read_steps(request: HttpRequest, scenario_type: str) -> tuple[list[Any] | None, list[StepRow], str, list]:
    """The posted steps: (raw steps or None when they couldn't be read, rows, JSON text, problems)."""
    if scenario_type == Scenario.Type.UI:
        text = request.POST.get("steps_json", "")
        try:
            raw = json.loads(text) if text.strip() else []
        except ValueError as error:
            return (
                None,
                [],
                text,
                [f"The steps are not valid JSON (line {error.lineno}, column {error.colno})."],
            )
        _, problems = check_steps(raw, scenario_type)
        return raw, [], text, [problem.sentence for problem in problems]
    rows = rows_from_post(request.POST)
    raw, problems = steps_from_rows(rows)
    # A text that couldn't be read is None, which the check takes as empty: every problem shows at once.
    problems = sorted(problems + check_steps(raw, scenario_type)[1], key=lambda problem: problem.index)
    general = attach(rows, problems)
    if problems:
        count = f"{len(problems)} problem{'s' if len(problems) != 1 else ''}"
        return raw, rows, "", general or [f"{count} in the steps: see the steps marked below."]
    return raw, rows, "", []


def moved_rows(request: HttpRequest) -> list[StepRow] | None:
    """The rows after the editor's add/remove/move button (`op`); None when the form was saved."""
    op = request.POST.get("op", "save")
    return None if op == "save" else apply_op(rows_from_post(request.POST), op)


def editor_only(request: HttpRequest, template: str, rows: list[StepRow]) -> HttpResponse:
    """Under htmx, only the steps editor comes back (the page's `steps_editor` partial)."""
    context = {**editor_context(Scenario.Type.API, rows), "unsaved": True}
    return render(request, f"{template}#steps_editor", context)


@project_view(read=WRITE, write=WRITE)
def scenario_new(request: HttpRequest, project: Project, access: ProjectAccess) -> HttpResponse:
    scenario_type = request.GET.get("type") or request.POST.get("type") or Scenario.Type.API
    if scenario_type not in Scenario.Type.values:
        scenario_type = Scenario.Type.API
    if request.method != "POST":
        form = ScenarioForm(initial={"type": scenario_type})
        rows = [StepRow(method="GET", target="${API_BASE_URL}/")]
        context = {"form": form, **editor_context(scenario_type, rows, "[]")}
        return render(request, "qa/scenarios/new.html", context)

    form = ScenarioForm(request.POST)
    context: dict[str, Any] = {"form": form}
    if scenario_type == Scenario.Type.API and (moved := moved_rows(request)) is not None:
        if request.htmx:
            return editor_only(request, "qa/scenarios/new.html", moved)
        context.update(editor_context(scenario_type, moved), unsaved=True)
        return render(request, "qa/scenarios/new.html", context)
    raw, rows, steps_json, step_errors = read_steps(request, scenario_type)
    if form.is_valid() and not step_errors:
        try:
            scenario = doors.create_scenario(
                Actor.of(request), project, {**form.changes(), "type": scenario_type, "steps": raw}
            )
        except (Invalid, Conflict) as refusal:
            show_on_form(form, refusal, "name")
        else:
            messages.success(request, f"Created {scenario.name}.")
            return redirect("projects:scenario", slug=project.slug, scenario_id=scenario.pk)
    context.update(editor_context(scenario_type, rows, steps_json, step_errors=step_errors))
    return render(request, "qa/scenarios/new.html", context, status=400)


def detail_page(
    request: HttpRequest,
    access: ProjectAccess,
    scenario: Scenario,
    *,
    form: ScenarioForm | None = None,
    rows: list[StepRow] | None = None,
    steps_json: str | None = None,
    status: int = 200,
    **extra,
) -> HttpResponse:
    if form is None:
        form = ScenarioForm.of(scenario)
    if rows is None and scenario.type == Scenario.Type.API:
        rows = rows_from_steps(scenario.steps)
    if steps_json is None:
        steps_json = json.dumps(in_order(scenario.steps), indent=2, ensure_ascii=False)
    scripts = list(scenario.scripts.all())
    script_forms = extra.pop("script_forms", {})
    for script in scripts:
        script.bound_form = script_forms.get(script.pk)  # a failed edit, shown on its script
    context = {
        "scenario": scenario,
        "form": form,
        **editor_context(scenario.type, rows, steps_json),
        "scripts": scripts,
        "new_script_form": extra.pop("new_script_form", None)
        or ScriptForm(initial={"language": Script.Language.JAVASCRIPT}),
        "run_url": run_url(scenario.project),
        "collections": list(scenario.collections.order_by("name").values_list("pk", "name")),
        **extra,
    }
    return render(request, "qa/scenarios/detail.html", context, status=status)


@project_view()
def scenario_detail(
    request: HttpRequest, project: Project, access: ProjectAccess, scenario_id: int
) -> HttpResponse:
    """One scenario: read by everyone, edited by members (actions: save with the editor's `op`,
    duplicate, add_script, update_script, delete_script)."""
    scenario = get_scenario(project, scenario_id)
    if request.method != "POST":
        return detail_page(request, access, scenario)
    actor = Actor.of(request)
    action = request.POST.get("action", "save")
    if action == "duplicate":
        copy = doors.duplicate_scenario(actor, project, scenario)
        messages.success(request, f"Duplicated as {copy.name} (a draft).")
        return redirect("projects:scenario", slug=project.slug, scenario_id=copy.pk)
    if action in ("add_script", "update_script", "delete_script"):
        return script_action(request, access, scenario, action)
    if action != "save":
        messages.error(request, "Unknown action.")
        return redirect("projects:scenario", slug=project.slug, scenario_id=scenario.pk)

    form = ScenarioForm(request.POST)
    if scenario.type == Scenario.Type.API and (moved := moved_rows(request)) is not None:
        if request.htmx:
            return editor_only(request, "qa/scenarios/detail.html", moved)
        return detail_page(request, access, scenario, form=form, rows=moved, unsaved=True)
    raw, rows, steps_json, step_errors = read_steps(request, scenario.type)
    if form.is_valid() and not step_errors:
        changes = form.changes()
        if changes["type"] != scenario.type and raw:
            form.add_error("type", "Remove the steps before changing the type: API and UI steps differ.")
        else:
            try:
                doors.update_scenario(actor, project, scenario, {**changes, "steps": raw})
            except (Invalid, Conflict) as refusal:
                show_on_form(form, refusal, "name")
            else:
                messages.success(request, f"Saved {scenario.name}.")
                return redirect("projects:scenario", slug=project.slug, scenario_id=scenario.pk)
        scenario.refresh_from_db()
    return detail_page(
        request,
        access,
        scenario,
        form=form,
        rows=rows,
        steps_json=steps_json if scenario.type == Scenario.Type.UI else None,
        step_errors=step_errors,
        status=400,
    )


def script_action(
    request: HttpRequest, access: ProjectAccess, scenario: Scenario, action: str
) -> HttpResponse:
    project, actor = access.project, Actor.of(request)
    if action == "delete_script":
        script = get_object_or_404(scenario.scripts.all(), pk=posted_id(request, "script_id"))
        doors.delete_script(actor, project, script)
        messages.success(request, f"Deleted the script {script.name}.")
        return redirect(scenario_url(scenario) + "#scripts")
    form = ScriptForm(request.POST)
    script = None
    if action == "update_script":
        script = get_object_or_404(scenario.scripts.all(), pk=posted_id(request, "script_id"))
    if form.is_valid():
        try:
            if script is None:
                script = doors.add_script(actor, project, scenario, form.cleaned_data)
                messages.success(request, f"Added the script {script.name}.")
            else:
                doors.update_script(actor, project, script, form.cleaned_data)
                messages.success(request, f"Saved the script {script.name}.")
        except Invalid as refusal:
            show_on_form(form, refusal, "source")
        else:
            return redirect(scenario_url(scenario) + "#scripts")
    if script is None:
        return detail_page(request, access, scenario, new_script_form=form, status=400, open_new_script=True)
    return detail_page(request, access, scenario, script_forms={script.pk: form}, status=400)


def scenario_url(scenario: Scenario) -> str:
    return reverse("projects:scenario", kwargs={"slug": scenario.project.slug, "scenario_id": scenario.pk})


@project_view(read=WRITE, write=WRITE)
def scenario_delete(
    request: HttpRequest, project: Project, access: ProjectAccess, scenario_id: int
) -> HttpResponse:
    scenario = get_scenario(project, scenario_id)
    if request.method == "POST":
        doors.delete_scenario(Actor.of(request), project, scenario)
        messages.success(request, f"Deleted {scenario.name}.")
        return redirect("projects:scenarios", slug=project.slug)
    collections = list(scenario.collections.order_by("name").values_list("name", flat=True))
    return render(request, "qa/scenarios/delete.html", {"scenario": scenario, "in_collections": collections})


# --- import and AI drafts --------------------------------------------------------------------------------


@project_view(read=WRITE, write=WRITE)
def scenario_import(request: HttpRequest, project: Project, access: ProjectAccess) -> HttpResponse:
    """Paste or upload our export or a Postman collection; clashing names are renamed, never overwritten."""
    if request.method != "POST":
        return render(request, "qa/scenarios/import.html", {"form": ImportForm()})
    form = ImportForm(request.POST, request.FILES)
    if form.is_valid():
        try:
            document = importers.load(form.cleaned_data["text"])
            created = doors.import_scenarios(Actor.of(request), project, document)
        except Invalid as refusal:
            problems = [
                m for messages_ in (refusal.fields or {"": [refusal.message]}).values() for m in messages_
            ]
            for problem in problems[:20]:
                form.add_error(form.cleaned_data["field"], problem)
            if len(problems) > 20:
                form.add_error(form.cleaned_data["field"], f"…and {len(problems) - 20} more.")
        else:
            names = ", ".join(scenario.name for scenario in created[:10])
            more = f" and {len(created) - 10} more" if len(created) > 10 else ""
            messages.success(
                request, f"Imported {len(created)} scenario{'s' if len(created) != 1 else ''}: {names}{more}."
            )
            if len(created) == 1:
                return redirect("projects:scenario", slug=project.slug, scenario_id=created[0].pk)
            return redirect("projects:scenarios", slug=project.slug)
    return render(request, "qa/scenarios/import.html", {"form": form}, status=400)


@project_view(read=WRITE, write=WRITE)  # it spends: members and up, like the POST it leads to
def scenario_generate(request: HttpRequest, project: Project, access: ProjectAccess) -> HttpResponse:
    """Describe a scenario (optionally with an OpenAPI document), get a draft from the project's model,
    review and edit it, then save it as a draft scenario. Nothing is saved before "Save as draft"."""
    form = GenerateForm(request.POST if request.method == "POST" else None)
    context: dict[str, Any] = {"form": form, "draft_form": None, "refusal": "", "reply": ""}
    if request.method != "POST":
        return render(request, "qa/scenarios/generate.html", context)
    action = request.POST.get("action", "draft")
    if action == "save":
        return save_draft(request, project, context)
    if not form.is_valid():  # htmx swaps only 2xx answers in
        return render(request, "qa/scenarios/generate.html", context, status=200 if request.htmx else 400)
    try:
        draft = generation.draft_scenario(
            project, request.user, form.cleaned_data["description"], form.cleaned_data["openapi"]
        )
    except LlmError as refused:
        context["refusal"] = refused.message  # the description and document stay in the form
        return render(request, "qa/scenarios/generate.html", context, status=200)
    except generation.UnusableReply as unusable:
        context.update(refusal=unusable.message, reply=unusable.reply)
        return render(request, "qa/scenarios/generate.html", context, status=200)
    context["draft_form"] = DraftForm(
        prefix="draft",
        initial={
            "name": draft.name,
            "description": draft.description,
            "priority": draft.priority,
            "tags": ", ".join(draft.tags),
            "steps": draft.steps_json,
        },
    )
    context["draft_problems"] = [problem.sentence for problem in draft.problems]
    context["preview"] = draft.steps if isinstance(draft.steps, list) else []
    return render(request, "qa/scenarios/generate.html", context)


def save_draft(request: HttpRequest, project: Project, context: dict[str, Any]) -> HttpResponse:
    draft_form = DraftForm(request.POST, prefix="draft")
    context["draft_form"] = draft_form
    if draft_form.is_valid():
        data = {**draft_form.cleaned_data, "type": Scenario.Type.API, "status": Scenario.Status.DRAFT}
        try:
            scenario = doors.create_scenario(Actor.of(request), project, data, origin="generated")
        except (Invalid, Conflict) as refusal:
            show_on_form(draft_form, refusal, "steps")
        else:
            messages.success(request, f"Saved {scenario.name} as a draft. Review it, then make it active.")
            return redirect("projects:scenario", slug=project.slug, scenario_id=scenario.pk)
    steps = draft_form.cleaned_data.get("steps") if hasattr(draft_form, "cleaned_data") else None
    context["preview"] = steps if isinstance(steps, list) else []
    return render(request, "qa/scenarios/generate.html", context, status=400)


# --- collections -----------------------------------------------------------------------------------------


def get_collection(project: Project, collection_id: int) -> Collection:
    entries = Prefetch(
        "entries", queryset=CollectionScenario.objects.select_related("scenario").order_by("position", "pk")
    )
    return get_object_or_404(
        Collection.objects.for_project(project).prefetch_related(entries), pk=collection_id
    )


@project_view()
@require_http_methods(SAFE)
def collection_list(request: HttpRequest, project: Project, access: ProjectAccess) -> HttpResponse:
    collections = (
        Collection.objects.for_project(project).annotate(scenario_count=Count("entries")).order_by("name")
    )
    return render(
        request, "qa/scenarios/collections.html", {"collections": collections, "run_url": run_url(project)}
    )


def scenario_choices(project: Project) -> list[tuple[int, str]]:
    return list(Scenario.objects.for_project(project).order_by("name").values_list("pk", "name"))


@project_view(read=WRITE, write=WRITE)
def collection_new(request: HttpRequest, project: Project, access: ProjectAccess) -> HttpResponse:
    form = CollectionForm(request.POST if request.method == "POST" else None)
    choices = scenario_choices(project)
    chosen = (
        [int(pk) for pk in request.POST.getlist("scenario_ids") if pk.isdigit()]
        if request.method == "POST"
        else []
    )
    if request.method == "POST" and form.is_valid():
        ordered = [pk for pk, _ in choices if pk in chosen]  # in the order they are listed
        try:
            collection = doors.create_collection(
                Actor.of(request), project, {**form.cleaned_data, "scenario_ids": ordered}
            )
        except (Invalid, Conflict) as refusal:
            show_on_form(form, refusal, "name")
        else:
            messages.success(request, f"Created the collection {collection.name}.")
            return redirect("projects:collection", slug=project.slug, collection_id=collection.pk)
    context = {"form": form, "choices": choices, "chosen": chosen}
    return render(request, "qa/scenarios/collection_new.html", context, status=400 if form.is_bound else 200)


@project_view()
def collection_detail(
    request: HttpRequest, project: Project, access: ProjectAccess, collection_id: int
) -> HttpResponse:
    """A collection: its scenarios in run order. Members rename it, add, remove and move scenarios (each
    change saved at once)."""
    collection = get_collection(project, collection_id)
    entries = list(collection.entries.all())
    ids = [entry.scenario_id for entry in entries]
    form = CollectionForm(initial={"name": collection.name, "description": collection.description})
    if request.method == "POST":
        action, changes = request.POST.get("action", ""), None
        if action == "save":
            form = CollectionForm(request.POST)
            if form.is_valid():
                changes = form.cleaned_data
        elif action == "add":
            changes = {"scenario_ids": [*ids, posted_id(request, "scenario_id")]}
        elif action in ("up", "down", "remove"):
            index = posted_id(request, "position")
            if index >= len(ids):
                raise Http404("No such position.")
            if action == "remove":
                del ids[index]
            elif action == "up" and index > 0:
                ids[index - 1], ids[index] = ids[index], ids[index - 1]
            elif action == "down" and index < len(ids) - 1:
                ids[index + 1], ids[index] = ids[index], ids[index + 1]
            changes = {"scenario_ids": ids}
        else:
            messages.error(request, "Unknown action.")
        if changes is not None:
            try:
                doors.update_collection(Actor.of(request), project, collection, changes)
            except (Invalid, Conflict) as refusal:
                if action == "save":
                    show_on_form(form, refusal, "name")
                else:
                    messages.error(request, first_message(refusal))
                    return redirect("projects:collection", slug=project.slug, collection_id=collection.pk)
            else:
                messages.success(request, "Saved." if action == "save" else "Order saved.")
                return redirect("projects:collection", slug=project.slug, collection_id=collection.pk)
        elif action != "save":
            return redirect("projects:collection", slug=project.slug, collection_id=collection.pk)
    in_collection = set(ids)
    context = {
        "collection": collection,
        "entries": entries,
        "form": form,
        "addable": [(pk, name) for pk, name in scenario_choices(project) if pk not in in_collection],
        "run_url": run_url(project),
    }
    return render(request, "qa/scenarios/collection.html", context, status=400 if form.is_bound else 200)


@project_view(read=WRITE, write=WRITE)
def collection_delete(
    request: HttpRequest, project: Project, access: ProjectAccess, collection_id: int
) -> HttpResponse:
    collection = get_collection(project, collection_id)
    if request.method == "POST":
        doors.delete_collection(Actor.of(request), project, collection)
        messages.success(request, f"Deleted the collection {collection.name}; its scenarios stay.")
        return redirect("projects:collections", slug=project.slug)
    return render(request, "qa/scenarios/collection_delete.html", {"collection": collection})
