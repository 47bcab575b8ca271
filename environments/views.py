"""Environment pages under `/p/<slug>/settings/environments/` (SPEC §4, §6).

Every view is wrapped by projects.access.project_view: read its first line. Viewers read everything with
secrets masked; members and up create, edit, delete, import, test and capture logins; replacing a stored
secret also needs sudo mode (SPEC §11). Anyone in the project may switch their own active environment.
"""

from __future__ import annotations

import copy
import json
from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.text import slugify
from django.views.decorators.http import require_http_methods, require_POST

from accounts import sudo
from environments import doors
from environments.forms import (
    LIVE_VALIDATED,
    PRESET_CHOICES,
    EnvironmentForm,
    ImportForm,
    ImportSecretsForm,
    PreviewForm,
    left_out_secrets,
    variable_formset,
)
from environments.login import CAPTURE_TIMEOUT, LoginResult, check_api_login
from environments.models import PRESETS, Environment
from environments.rendering import UnknownVariables, preview
from projects.access import Actor, ProjectAccess, project_view
from projects.models import Project, ProjectMember
from qodex import crypto
from qodex.doors import Conflict, Invalid, show_on_form

# Secrets are decrypted when a row loads: the list never needs them.
SECRET_COLUMNS = ("auth_token", "auth_password", "ui_storage_state")
SAFE = ["GET", "HEAD"]


def get_environment(project: Project, environment_id: int) -> Environment:
    """An environment of this project (from the URL), or 404: ids of other projects don't exist here."""
    return get_object_or_404(
        Environment.objects.for_project(project).select_related("updated_by"), pk=environment_id
    )


def confirm_password_url(request: HttpRequest, next_url: str | None = None) -> str:
    return f"{reverse('accounts:confirm_password')}?{urlencode({'next': next_url or request.path})}"


def save_environment(form: EnvironmentForm, environment: Environment) -> bool:
    """Save the environment with its staged variables (one transaction); a name taken by a concurrent
    request becomes a field error instead of a 500."""
    try:
        with transaction.atomic():
            environment.save()
    except IntegrityError:
        form.add_error("name", f"This project already has an environment named “{environment.name}”.")
        return False
    return True


def validated_field(request: HttpRequest, form: EnvironmentForm) -> HttpResponse:
    """htmx inline validation: the one field, re-rendered with its errors; nothing is saved."""
    form.is_valid()
    return render(request, "partials/field.html", {"field": form[request.POST["validate"]]})


def wants_validation(request: HttpRequest) -> bool:
    return bool(request.htmx) and request.POST.get("validate") in LIVE_VALIDATED


# --- list, create --------------------------------------------------------------------------------------


@project_view(write="environment:write")
@require_http_methods(SAFE)
def environment_list(request: HttpRequest, project: Project, access: ProjectAccess) -> HttpResponse:
    environments = (
        Environment.objects.for_project(project)
        .select_related("updated_by")
        .defer(*SECRET_COLUMNS)
        .order_by("name")
    )
    context = {"environments": environments, "can_write": access.can("environment:write")}
    return render(request, "environments/list.html", context)


@project_view(read="environment:write", write="environment:write")
def environment_new(request: HttpRequest, project: Project, access: ProjectAccess) -> HttpResponse:
    preset = request.POST.get("preset") or request.GET.get("preset") or "production"
    if preset not in PRESETS:
        preset = "production"
    environment = Environment(project=project)
    environment.apply_preset(preset)
    data = request.POST if request.method == "POST" else None
    form = EnvironmentForm(data, instance=environment, validate_url=request.path)
    variables = variable_formset(environment, data)
    if request.method == "POST":
        if wants_validation(request):
            return validated_field(request, form)
        if form.is_valid() & variables.is_valid():
            for name, value in form.secret_changes().items():
                setattr(environment, name, value)
            variables.stage(environment)
            try:
                doors.create_environment(Actor.of(request), project, environment, preset=preset)
            except (Invalid, Conflict) as refusal:
                show_on_form(form, refusal, field="name")
            else:
                messages.success(request, f"Created {environment.name}.")
                return redirect("projects:environment", slug=project.slug, environment_id=environment.pk)
    presets = [(name, label, PRESETS[name]) for name, label in PRESET_CHOICES]
    context = {"form": form, "variables": variables, "preset": preset, "presets": presets}
    return render(request, "environments/new.html", context, status=400 if data is not None else 200)


# --- one environment ------------------------------------------------------------------------------------


def detail_page(
    request: HttpRequest,
    access: ProjectAccess,
    environment: Environment,
    *,
    form: EnvironmentForm | None = None,
    variables=None,
    status: int = 200,
    **extra,
) -> HttpResponse:
    """The environment page: the edit form for members, masked facts for viewers, preview and login."""
    can_write = access.can("environment:write")
    if can_write and form is None:
        form = EnvironmentForm(instance=copy.copy(environment), validate_url=request.path)
        variables = variable_formset(environment)
    context = {
        "environment": environment,
        "can_write": can_write,
        "sudo_active": sudo.is_active(request),
        "replace_url": confirm_password_url(request, environment_url(environment) + "#secrets"),
        "form": form,
        "variables": variables,
        "token_mask": crypto.mask(environment.auth_token),
        "password_mask": crypto.mask_password(environment.auth_password),
        "masked_variables": environment.masked_variables,
        "preview_form": extra.pop("preview_form", None) or PreviewForm(),
        "api_login_json": json.dumps(environment.api_login_config, indent=2, ensure_ascii=False),
        "ui_login_json": json.dumps(environment.ui_login_steps, indent=2, ensure_ascii=False),
        "capture_timeout": CAPTURE_TIMEOUT,
        **extra,
    }
    return render(request, "environments/detail.html", context, status=status)


def environment_url(environment: Environment) -> str:
    return reverse(
        "projects:environment", kwargs={"slug": environment.project.slug, "environment_id": environment.pk}
    )


@project_view(write="environment:write")
def environment_detail(
    request: HttpRequest, project: Project, access: ProjectAccess, environment_id: int
) -> HttpResponse:
    environment = get_environment(project, environment_id)
    if request.method != "POST":
        return detail_page(request, access, environment)

    # The form edits a copy: a submission that fails leaves the page's heading and facts as stored.
    editing = doors.editable_copy(environment)
    form = EnvironmentForm(request.POST, instance=editing, validate_url=request.path)
    variables = variable_formset(environment, request.POST)
    if wants_validation(request):
        return validated_field(request, form)
    if form.is_valid() & variables.is_valid():
        for name, value in form.secret_changes().items():
            setattr(editing, name, value)
        variables.stage(editing)
        try:
            doors.update_environment(Actor.of(request), project, editing)  # sudo: PageRefusals asks for it
        except (Invalid, Conflict) as refusal:
            show_on_form(form, refusal, field="name")
        else:
            messages.success(request, f"Saved {editing.name}.")
            return redirect("projects:environment", slug=project.slug, environment_id=editing.pk)
    return detail_page(request, access, environment, form=form, variables=variables, status=400)


@project_view(read="environment:write", write="environment:write")
def environment_delete(
    request: HttpRequest, project: Project, access: ProjectAccess, environment_id: int
) -> HttpResponse:
    environment = get_environment(project, environment_id)
    if request.method == "POST":
        doors.delete_environment(Actor.of(request), project, environment)
        messages.success(request, f"Deleted {environment.name}.")
        return redirect("projects:environments", slug=project.slug)
    in_use = ProjectMember.objects.filter(project=project, active_environment=environment).count()
    return render(request, "environments/delete.html", {"environment": environment, "in_use": in_use})


@project_view(write="environment:write")
@require_http_methods(SAFE)
def environment_export(
    request: HttpRequest, project: Project, access: ProjectAccess, environment_id: int
) -> HttpResponse:
    """The environment as a JSON download; every secret is left out (`secrets_left_out` names them)."""
    environment = get_environment(project, environment_id)
    response = JsonResponse(environment.to_export(), json_dumps_params={"indent": 2, "ensure_ascii": False})
    filename = f"{project.slug}-{slugify(environment.name) or 'environment'}.json"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"
    return response


@project_view(read="environment:write", write="environment:write")
def environment_import(request: HttpRequest, project: Project, access: ProjectAccess) -> HttpResponse:
    """Step one reads the export and asks for the secrets it left out; step two creates the environment."""
    if request.method != "POST":
        return render(request, "environments/import.html", {"form": ImportForm()})
    step_two = request.POST.get("action") == "import"
    form = ImportForm(
        {"document": request.POST.get("document", "")} if step_two else request.POST,
        None if step_two else request.FILES,
    )
    candidate = None
    if form.is_valid():
        try:
            candidate = Environment.from_import(project, form.cleaned_data["parsed"], user=request.user)
        except ValidationError as exc:
            form.add_error("document", import_problems(exc))
    if candidate is None:
        return render(request, "environments/import.html", {"form": form}, status=400)

    document = form.cleaned_data["parsed"]
    secrets_form = ImportSecretsForm(
        left_out_secrets(candidate, document), request.POST if step_two else None
    )
    if step_two and secrets_form.is_valid():
        given, missing = secrets_form.apply(candidate)
        try:
            doors.import_environment(Actor.of(request), project, candidate, given=given, missing=missing)
        except (Invalid, Conflict) as refusal:
            show_on_form(secrets_form, refusal)
        else:
            if missing:
                messages.warning(
                    request, f"Imported {candidate.name}. Still without a value: {', '.join(missing)}."
                )
            else:
                messages.success(request, f"Imported {candidate.name}.")
            return redirect("projects:environment", slug=project.slug, environment_id=candidate.pk)
    context = {
        "candidate": candidate,
        "original_name": str(document.get("name") or ""),
        "document": form.cleaned_data["text"],
        "secrets_form": secrets_form,
    }
    return render(request, "environments/import.html", context, status=400 if step_two else 200)


def import_problems(exc: ValidationError) -> list[str]:
    if hasattr(exc, "error_dict"):
        return [
            f"{field}: {message}" for field, messages_ in exc.message_dict.items() for message in messages_
        ]
    return exc.messages


# --- htmx actions (each also works as a plain form post, answering with the whole page) -----------------


@project_view(write="project:read")  # a POST that reads: the output is masked, so viewers may use it
@require_POST
def environment_preview(
    request: HttpRequest, project: Project, access: ProjectAccess, environment_id: int
) -> HttpResponse:
    """Render a template against the environment with every secret masked, or name the unknowns."""
    environment = get_environment(project, environment_id)
    form = PreviewForm(request.POST)
    result = {}
    if form.is_valid():
        try:
            result = {"ok": True, "output": preview(form.cleaned_data["template"], environment)}
        except UnknownVariables as exc:
            result["unknown"] = exc.names
            result["error"] = str(exc)
    if request.htmx:
        context = {"preview_form": form, "preview": result}
        return render(request, "environments/detail.html#preview_result", context)
    return detail_page(request, access, environment, preview_form=form, preview=result)


@project_view(write="environment:write")
@require_POST
def environment_test_login(
    request: HttpRequest, project: Project, access: ProjectAccess, environment_id: int
) -> HttpResponse:
    """Perform the API login for real; success shows the token masked, failure says exactly why."""
    environment = get_environment(project, environment_id)
    if environment.auth_type != Environment.AuthType.API_LOGIN:
        result = LoginResult(
            ok=False, error="This environment doesn’t use API login. Choose it and save first."
        )
    else:
        result = check_api_login(environment)
    if request.htmx:
        return render(request, "environments/detail.html#login_result", {"login_result": result})
    return detail_page(request, access, environment, login_result=result)


@project_view(write="environment:write")
@require_POST
def environment_capture_login(
    request: HttpRequest, project: Project, access: ProjectAccess, environment_id: int
) -> HttpResponse:
    """Drive headless Chromium through the UI login steps within login.CAPTURE_TIMEOUT."""
    environment = get_environment(project, environment_id)
    result = doors.capture_login(Actor.of(request), project, environment)
    if request.htmx:
        context = {"capture_result": result, "environment": environment}
        return render(request, "environments/detail.html#capture_result", context)
    return detail_page(request, access, environment, capture_result=result)


@project_view(write="environment:switch")  # viewers too: it is their own choice (SPEC §3)
@require_POST
def environment_activate(
    request: HttpRequest, project: Project, access: ProjectAccess, environment_id: int
) -> HttpResponse:
    """Make this the caller's active environment in this project (the header switcher)."""
    environment = get_object_or_404(
        Environment.objects.for_project(project).only("pk", "name", "project_id"), pk=environment_id
    )
    doors.switch_environment(Actor.of(request), project, environment)
    next_url = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(next_url, allowed_hosts={request.get_host()}):
        next_url = reverse("projects:overview", kwargs={"slug": project.slug})
    if request.htmx:
        response = render(request, "partials/environment_switcher.html", {"switcher_next": next_url})
        response["HX-Trigger"] = "environment-switched"
        return response
    messages.success(request, f"Now working against {environment.name}.")
    return redirect(next_url)
