"""The doors of environments/ (docs/ARCHITECTURE.md): create, edit (replacing secrets and changing
where they go), delete, import, capture a UI login, and switch one's active environment.

The page and the API translate their input onto an unsaved `Environment` (plain fields, the two secret
fields, variables staged with set_variable/delete_variable) and hand it to a door. The door compares it
with what is stored and decides: a change that replaces a stored secret, or alters where the stored
secrets can be sent, needs sudo mode and is audited as `environment.secret_replaced` (SPEC §6).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from environments import login
from environments.models import PLAIN_FIELDS, Environment
from environments.rendering import UnknownVariables, render_value
from projects import audit
from projects.access import Actor
from projects.models import Project, ProjectMember
from qodex.doors import Conflict, Forbidden, Invalid, NotFound, door

SECRET_FIELDS = ("auth_token", "auth_password")
# SPEC §6: the fields that decide where a secret can be sent.
DESTINATION_FIELDS = ("base_url", "api_base_url", "api_login_config", "ui_login_steps", "auth_header_name")


@dataclass
class Diff:
    """What an edit changes, by name only (never values): for the sudo rule and the audit log."""

    fields: list[str] = field(default_factory=list)
    secrets: list[str] = field(default_factory=list)
    destinations: list[str] = field(default_factory=list)

    @property
    def sensitive(self) -> bool:
        return bool(self.secrets or self.destinations)


def holds_secrets(environment: Environment) -> bool:
    return bool(
        environment.auth_token
        or environment.auth_password
        or environment.ui_storage_state
        or environment.secret_variable_names
    )


def _destinations(environment: Environment) -> Any:
    """Every URL and header name a secret can travel to, rendered: a plain variable used in a login URL
    moves the secrets as surely as the URL itself."""
    templates = {
        "base_url": environment.base_url,
        "api_base_url": environment.effective_api_base_url,
        "api_login_url": (environment.api_login_config or {}).get("url"),
        "api_login_header": (environment.api_login_config or {}).get("header_name"),
        "ui_login_urls": [
            step.get("url") for step in environment.ui_login_steps or [] if isinstance(step, dict)
        ],
    }
    try:
        return render_value(templates, environment)
    except UnknownVariables:
        return templates


def diff(stored: Environment, edited: Environment) -> Diff:
    changes = Diff()
    changes.fields = [name for name in PLAIN_FIELDS if getattr(stored, name) != getattr(edited, name)]
    if stored.get_variables(reveal=True) != edited.get_variables(reveal=True) or (
        stored.secret_variable_names != edited.secret_variable_names
    ):
        changes.fields.append("variables")
    # Replacing (or removing) a stored secret; a first value where there was none replaces nothing.
    changes.secrets = [
        name
        for name in SECRET_FIELDS
        if getattr(stored, name) and getattr(stored, name) != getattr(edited, name)
    ]
    stored_values, edited_values = stored.get_variables(reveal=True), edited.get_variables(reveal=True)
    for name in sorted(stored.secret_variable_names):
        if name in edited_values and (
            edited_values[name] != stored_values[name] or name not in edited.secret_variable_names
        ):
            changes.secrets.append(f"variables.{name}")
    if holds_secrets(stored):
        changes.destinations = [
            name for name in DESTINATION_FIELDS if getattr(stored, name) != getattr(edited, name)
        ]
        if not changes.destinations and _destinations(stored) != _destinations(edited):
            changes.destinations = ["variables"]  # a variable a destination uses
    return changes


def _validated_save(environment: Environment) -> None:
    """Validate (the model's rules, then the secrets its login needs) and save, or refuse."""
    try:
        environment.full_clean()
    except ValidationError as error:
        raise Invalid(fields=error.message_dict) from None
    if missing := environment.missing_secrets():
        raise Invalid(fields=missing)
    try:
        with transaction.atomic():
            environment.save()
    except IntegrityError:
        raise Conflict(
            f"This project already has an environment named “{environment.name}”.",
            code="environment_name_taken",
        ) from None


def _of(project: Project, environment: Environment) -> Environment:
    if environment.project_id != project.pk:
        raise NotFound("No environment with this id in this project.", code="environment_not_found")
    return environment


@door("environment.created", scope="environment:write")
def create_environment(
    actor: Actor, project: Project, environment: Environment, *, preset: str = ""
) -> Environment:
    """Save a new environment of `project` (fields, secrets and variables already set on it)."""
    if environment.pk is not None:
        raise Invalid.field("", "This environment exists already.")
    environment.project = project
    environment.updated_by = actor.person
    _validated_save(environment)
    audit.record(
        actor,
        "environment.created",
        project=project,
        target=environment.name,
        details={"preset": preset or None, "auth_type": environment.auth_type},
    )
    return environment


@door("environment.updated", scope="environment:write")
def update_environment(actor: Actor, project: Project, edited: Environment) -> Environment:
    """Save an edited copy of a stored environment. Replacing a stored secret, or changing where the
    stored secrets go (URLs, login config and steps, the header name, or a variable those use), needs
    sudo mode; such a change is audited as `environment.secret_replaced`, with names and never values."""
    stored = Environment.objects.for_project(project).filter(pk=edited.pk).first()
    if stored is None:
        raise NotFound("No environment with this id in this project.", code="environment_not_found")
    changes = diff(stored, edited)
    if changes.sensitive:
        actor.require_sudo()
    edited.updated_by = actor.person
    _validated_save(edited)
    if changes.fields or not changes.sensitive:
        audit.record(
            actor,
            "environment.updated",
            project=project,
            target=edited.name,
            details={"fields": changes.fields},
        )
    if changes.sensitive:
        details = {"secrets": changes.secrets}
        if changes.destinations:
            details["destinations"] = changes.destinations
        audit.record(
            actor, "environment.secret_replaced", project=project, target=edited.name, details=details
        )
    return edited


@door("environment.deleted", scope="environment:write")
def delete_environment(actor: Actor, project: Project, environment: Environment) -> None:
    """Delete; members who had it active fall back to none (SET_NULL)."""
    _of(project, environment)
    name = environment.name
    environment.delete()
    audit.record(actor, "environment.deleted", project=project, target=name)


@door("environment.imported", scope="environment:write")
def import_environment(
    actor: Actor, project: Project, environment: Environment, *, given: list[str], missing: list[str]
) -> Environment:
    """Save an environment read from an export (Environment.from_import) with the secrets asked for."""
    environment.project = project
    environment.updated_by = actor.person
    _validated_save(environment)
    audit.record(
        actor,
        "environment.imported",
        project=project,
        target=environment.name,
        details={"secrets_given": given, "secrets_missing": missing},
    )
    return environment


@door("environment.login_captured", scope="environment:write")
def capture_login(actor: Actor, project: Project, environment: Environment) -> login.CaptureResult:
    """Drive Chromium through the UI login steps and keep the storage state (encrypted) on success."""
    _of(project, environment)
    if environment.auth_type != Environment.AuthType.UI_LOGIN:
        return login.CaptureResult(
            ok=False, error="This environment doesn’t use UI login. Choose it and save first."
        )
    result = login.capture_ui_login(environment)
    if result.ok:
        audit.record(
            actor,
            "environment.login_captured",
            project=project,
            target=environment.name,
            details={"cookies": result.cookie_names, "origins": result.origins},  # names, never values
        )
    return result


@door("environment.switched", scope="environment:switch")
def switch_environment(actor: Actor, project: Project, environment: Environment) -> None:
    """Make `environment` the actor's active one in `project` (the header switcher).

    A personal choice, not a change to the project: nothing goes in the audit log.
    """
    _of(project, environment)
    updated = 0
    if actor.user is not None:
        updated = ProjectMember.objects.filter(project=project, user=actor.user).update(
            active_environment=environment
        )
    if not updated:
        # Org owners/admins reach every project without a membership: there is nowhere to keep a choice,
        # and creating a membership behind their back would list them among the members.
        raise Forbidden(
            "You reach this project as an organization admin, not as a member, so Qodex has nowhere to "
            "remember an active environment for you. Add yourself as a member to switch."
        )


def editable_copy(environment: Environment) -> Environment:
    """A copy the surfaces change before handing it to update_environment (the stored one stays as it is
    for the page's heading and facts if the door refuses)."""
    return copy.copy(environment)
