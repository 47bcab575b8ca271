"""Environments: where a project's tests run, how they authenticate, and what they may do there (SPEC §6)."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

import jsonpath
from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models, transaction
from django.db.models.functions import Lower
from django.utils import timezone

from qodex import crypto, outbound
from qodex.crypto import EncryptedTextField

if TYPE_CHECKING:
    from projects.models import Project

VARIABLE_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
VARIABLE_NAME_MAX_LENGTH = 100
# Said by the page and the API alike: turning a secret plain would otherwise show its stored value.
MAKE_PLAIN_NEEDS_VALUE = "Enter its new value to make it a plain variable: a secret's value is never shown."
# Built-in variables (camelCase → SCREAMING_SNAKE); an environment's own variables can't take these names.
BUILTIN_VARIABLES = {
    "baseUrl": "BASE_URL",
    "apiBaseUrl": "API_BASE_URL",
    "authEmail": "AUTH_EMAIL",
    "authPassword": "AUTH_PASSWORD",
    "authToken": "AUTH_TOKEN",
}
BUILTIN_VARIABLE_NAMES = frozenset(BUILTIN_VARIABLES) | frozenset(BUILTIN_VARIABLES.values())
# A login that sends the password (`$${…}` is an escaped literal, not a use).
PASSWORD_PLACEHOLDER_RE = re.compile(r"(?<!\$)\$\{\s*(authPassword|AUTH_PASSWORD)\s*\}")

LOGIN_METHODS = ("GET", "POST", "PUT", "PATCH")
API_LOGIN_REQUIRED_KEYS = ("method", "url", "token_path")
API_LOGIN_KEYS = frozenset(API_LOGIN_REQUIRED_KEYS) | {"headers", "body", "header_name", "header_prefix"}

# What each UI login action needs. Every step may carry all four keys (forms post them all); the ones an
# action doesn't use are ignored.
STEP_KEYS = ("action", "selector", "value", "url")
STEP_REQUIRES = {
    "goto": ("url",),
    "fill": ("selector", "value"),
    "click": ("selector",),
    "press": ("value",),  # the key, e.g. "Enter"; on `selector` when given, else on the page
    "wait_for_url": ("url",),
    "wait_for_selector": ("selector",),
}

# Suggested constraints when creating an environment (SPEC §6).
PRESETS: dict[str, dict[str, Any]] = {
    "production": {
        "read_only": True,
        "max_rps": 5,
        "allow_destructive": False,
        "allow_security_testing": False,
    },
    "staging": {
        "read_only": False,
        "max_rps": 20,
        "allow_destructive": True,
        "allow_security_testing": False,
    },
    "local": {"read_only": False, "max_rps": 50, "allow_destructive": True, "allow_security_testing": False},
}

EXPORT_FORMAT = 1
# Every field that is neither a secret nor bookkeeping: what the form edits, the API returns as written,
# and export/import carry. Secrets (token, password, storage state, secret values) never are.
PLAIN_FIELDS = (
    "name",
    "base_url",
    "api_base_url",
    "auth_type",
    "auth_header_name",
    "auth_header_prefix",
    "api_login_config",
    "ui_login_steps",
    "auth_email",
    "read_only",
    "max_rps",
    "allow_destructive",
    "allow_security_testing",
)


def validate_http_url(value: str) -> None:
    """An absolute http(s) URL with a host; internal names such as `http://api:8000` are fine.

    The outbound policy's syntax check, without DNS: addresses are checked when a request is sent.
    """
    try:
        outbound.check_syntax(value or "")
    except outbound.OutboundRefused as refusal:
        raise ValidationError(refusal.message) from None


def api_login_config_errors(config: Any) -> list[str]:
    """Every problem with an API login config, as sentences; [] when it is usable."""
    if not isinstance(config, dict) or not config:
        return ["Describe the login request: method, url and token_path."]
    errors = []
    unknown = sorted(set(config) - API_LOGIN_KEYS)
    if unknown:
        known = ", ".join(sorted(API_LOGIN_KEYS))
        errors.append(f"Unknown key {', '.join(unknown)}; the config uses {known}.")
    for key in API_LOGIN_REQUIRED_KEYS:
        if not isinstance(config.get(key), str) or not config[key].strip():
            errors.append(f"“{key}” is required.")
    method = config.get("method")
    if isinstance(method, str) and method.strip() and method.upper() not in LOGIN_METHODS:
        errors.append(f"“method” must be one of {', '.join(LOGIN_METHODS)}, not “{method}”.")
    path = config.get("token_path")
    if isinstance(path, str) and path.strip():
        try:
            jsonpath.compile(path)
        except jsonpath.JSONPathError as exc:
            reason = str(exc).splitlines()[0]
            errors.append(f"“token_path” {path} is not a valid JSONPath ({reason}); e.g. $.data.token.")
    headers = config.get("headers", {})
    if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
        errors.append("“headers” must be an object of header names to text values.")
    for key in ("header_name", "header_prefix"):
        if key in config and not isinstance(config[key], str):
            errors.append(f"“{key}” must be text.")
    if config.get("header_name") == "":
        errors.append("“header_name” can't be empty; leave it out to use Authorization.")
    return errors


def ui_login_steps_errors(steps: Any) -> list[str]:
    """Every problem with a list of UI login steps, as sentences naming the step; [] when usable."""
    if not isinstance(steps, list) or not steps:
        return ["Add at least one step, starting with a goto to the login page."]
    errors = []
    actions = ", ".join(STEP_REQUIRES)
    for number, step in enumerate(steps, start=1):
        if not isinstance(step, dict):
            errors.append(f"Step {number} must be an object with an action.")
            continue
        action = step.get("action")
        if action not in STEP_REQUIRES:
            errors.append(f"Step {number} has action “{action}”; use one of {actions}.")
            continue
        unknown = sorted(set(step) - set(STEP_KEYS))
        if unknown:
            errors.append(f"Step {number} ({action}) has unknown key {', '.join(unknown)}.")
        for key in STEP_REQUIRES[action]:
            value = step.get(key)
            # Filling an empty value is legitimate (clearing a field); every other required key isn't.
            empty_ok = action == "fill" and key == "value"
            if not isinstance(value, str) or (not value.strip() and not empty_ok):
                errors.append(f"Step {number} ({action}) needs a “{key}”.")
        for key in STEP_KEYS[1:]:
            optional = key not in STEP_REQUIRES[action]
            if optional and step.get(key) is not None and not isinstance(step[key], str):
                errors.append(f"Step {number} ({action}): “{key}” must be text.")
    return errors


def variable_name_errors(name: Any) -> list[str]:
    """Every problem with a variable name, as sentences; [] when it can be used."""
    # fullmatch: `$` alone would let a trailing newline through.
    if not isinstance(name, str) or not VARIABLE_NAME_RE.fullmatch(name):
        return [
            f"“{name}” is not a valid variable name: use letters, digits and _, not starting with a digit."
        ]
    if name in BUILTIN_VARIABLE_NAMES:
        return [f"“{name}” is a built-in variable; pick another name."]
    if len(name) > VARIABLE_NAME_MAX_LENGTH:
        most = VARIABLE_NAME_MAX_LENGTH
        return [f"“{name[:20]}…” is too long for a variable name: at most {most} characters."]
    return []


def validate_variable_name(name: str) -> None:
    """The validator of Variable.name (VARIABLE_NAME_RE, not a built-in, not too long)."""
    errors = variable_name_errors(name)
    if errors:
        raise ValidationError(errors[0])


def variables_errors(variables: Any) -> list[str]:
    """Every problem with variables as an export carries them (`{name: {value, secret}}`); [] if valid."""
    if not isinstance(variables, dict):
        return ["Variables must be an object of names to {value, secret}."]
    errors = []
    for name, entry in variables.items():
        errors += variable_name_errors(name)
        if not isinstance(entry, dict) or not isinstance(entry.get("secret", False), bool):
            errors.append(f"Variable “{name}” must be {{value, secret}}.")
        elif not isinstance(entry.get("value", ""), str):
            errors.append(f"Variable “{name}” must have a text value.")
    return errors


class VariableChange(NamedTuple):
    """What a page row or an API object asks for one variable.

    `value` None keeps the stored value ("" for a new variable); `secret` None keeps the stored setting
    (plain for a new variable).
    """

    value: str | None = None
    secret: bool | None = None


class EnvironmentQuerySet(models.QuerySet):
    def for_project(self, project: Project | int) -> EnvironmentQuerySet:
        """The only way views fetch environments: always scoped to the project from the URL or key."""
        return self.filter(project=project)


class Environment(models.Model):
    """A target the project's tests run against: URLs, authentication, constraints and variables.

    Defaults are the production preset (read-only, 5 requests per second, nothing destructive, no
    security testing): an environment nobody configured is treated as one that must not be harmed.
    Creating one from a preset (`apply_preset("staging")`) or editing it opens it up.

    Secrets (`auth_token`, `auth_password`, `ui_storage_state`, secret variables) are encrypted at rest:
    assign plaintext, read plaintext, the column holds ciphertext. The environment's own variables are
    Variable rows (`environment.variables`), changed through set_variable() and delete_variable(): see
    "Variables" below.
    """

    class AuthType(models.TextChoices):
        NONE = "none", "None"
        STATIC_TOKEN = "static_token", "Static token"
        API_LOGIN = "api_login", "API login"
        UI_LOGIN = "ui_login", "UI login"

    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="environments")
    name = models.CharField(max_length=100)
    base_url = models.CharField(max_length=500, validators=[validate_http_url])
    api_base_url = models.CharField(
        max_length=500,
        blank=True,
        validators=[validate_http_url],
        help_text="Leave blank to use the base URL.",
    )

    auth_type = models.CharField(max_length=20, choices=AuthType.choices, default=AuthType.NONE)
    auth_token = EncryptedTextField(blank=True, default="")
    auth_header_name = models.CharField(max_length=100, default="Authorization")
    auth_header_prefix = models.CharField(max_length=50, blank=True, default="Bearer ")
    api_login_config = models.JSONField(default=dict, blank=True)
    ui_login_steps = models.JSONField(default=list, blank=True)
    # Playwright's storageState JSON, as captured by environments.login.capture_ui_login().
    ui_storage_state = EncryptedTextField(blank=True, default="")
    ui_storage_captured_at = models.DateTimeField(null=True, blank=True)
    auth_email = models.CharField(max_length=254, blank=True)
    auth_password = EncryptedTextField(blank=True, default="")

    read_only = models.BooleanField(default=True, help_text="Only GET, HEAD and OPTIONS requests are sent.")
    max_rps = models.PositiveIntegerField(
        null=True,
        blank=True,
        default=5,
        validators=[MinValueValidator(1, "At least 1 request per second; leave it blank for unlimited.")],
        help_text="Requests per second at most; blank for unlimited.",
    )
    allow_destructive = models.BooleanField(default=False)
    allow_security_testing = models.BooleanField(default=False)

    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects = EnvironmentQuerySet.as_manager()

    class Meta:
        db_table = "environments"
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                Lower("name"),
                "project",
                name="environment_name_unique_per_project",
                violation_error_message="This project already has an environment with this name.",
            )
        ]

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs) -> None:
        # Without a trailing slash, "${baseUrl}/login" never renders as "…//login".
        self.base_url = (self.base_url or "").strip().rstrip("/")
        self.api_base_url = (self.api_base_url or "").strip().rstrip("/")
        stale_token_key = token_cache_key(self) if self.pk and self.updated_at else None
        staged = getattr(self, "_staged_variables", None)
        written = self._current_variables() if staged else None
        # The environment and its staged variables are written together or not at all.
        with transaction.atomic():
            super().save(*args, **kwargs)
            if staged:
                self._write_variables(staged)
        if written is not None:
            self._loaded_variables = list(written.values())
        self._staged_variables = {}
        if stale_token_key:
            cache.delete(stale_token_key)

    def refresh_from_db(self, using=None, fields=None, from_queryset=None) -> None:
        """Reload from the database; a full reload also drops staged variable changes and the rows read."""
        if fields is None:
            self._staged_variables, self._loaded_variables = {}, None
        super().refresh_from_db(using=using, fields=fields, from_queryset=from_queryset)

    @property
    def effective_api_base_url(self) -> str:
        """The API base URL, falling back to the base URL when none is set."""
        return (self.api_base_url or self.base_url).rstrip("/")

    def apply_preset(self, preset: str) -> None:
        """Set the constraints of a named preset (production, staging, local)."""
        for field, value in PRESETS[preset].items():
            setattr(self, field, value)

    def clean(self) -> None:
        errors: dict[str, list[str]] = {}
        name = (self.name or "").strip()
        if name and self.project_id:
            others = Environment.objects.for_project(self.project).exclude(pk=self.pk)
            if others.filter(name__iexact=name).exists():
                errors["name"] = [f"This project already has an environment named “{name}”."]
        # A config left over from another auth type is still checked: switching back must work.
        uses_api_login = self.auth_type == self.AuthType.API_LOGIN or self.api_login_config
        if uses_api_login and (problems := api_login_config_errors(self.api_login_config)):
            errors["api_login_config"] = problems
        uses_ui_login = self.auth_type == self.AuthType.UI_LOGIN or self.ui_login_steps
        if uses_ui_login and (problems := ui_login_steps_errors(self.ui_login_steps)):
            errors["ui_login_steps"] = problems
        if self.auth_type == self.AuthType.STATIC_TOKEN and not (self.auth_header_name or "").strip():
            errors["auth_header_name"] = ["Name the header the token is sent in, such as Authorization."]
        if errors:
            raise ValidationError(errors)

    def missing_secrets(self) -> dict[str, list[str]]:
        """The secrets this environment's authentication can't work without, by field: a static token
        needs its token, a login that sends ${authPassword} its password. Checked when saving through a
        door, not by clean(): an import is validated before its secrets are asked for."""
        errors = {}
        if self.auth_type == self.AuthType.STATIC_TOKEN and not self.auth_token:
            errors["auth_token"] = ["Enter the token to send, or choose another authentication."]
        if self.auth_type in (self.AuthType.API_LOGIN, self.AuthType.UI_LOGIN) and not self.auth_password:
            uses_api = self.auth_type == self.AuthType.API_LOGIN
            login = self.api_login_config if uses_api else self.ui_login_steps
            if PASSWORD_PLACEHOLDER_RE.search(json.dumps(login)):
                errors["auth_password"] = ["The login uses ${authPassword}: enter the password it sends."]
        return errors

    # Variables ------------------------------------------------------------------------------------------
    #
    # The rows are read once per instance, on first use (a list loads them for all its environments in
    # one query with `prefetch_related("variables")`), and kept as save() writes them.
    # set_variable() and delete_variable() stage a change on this instance, seen at once by every read
    # below; the next save() writes the environment and all its staged changes in one transaction, so the
    # page, the API and import never leave half an edit behind. A save also moves updated_at, which
    # retires a cached login token that used the old values.

    def _stored_variables(self) -> dict[str, Variable]:
        """The rows as stored, by name: read once (no query when a list prefetched them)."""
        if self.pk is None:
            return {}
        if getattr(self, "_loaded_variables", None) is None:
            self._loaded_variables = list(self.variables.all())
        return {row.name: row for row in self._loaded_variables}

    def _current_variables(self) -> dict[str, Variable]:
        """The rows as the next save() leaves them: the stored ones with the staged changes applied."""
        rows = self._stored_variables()
        for name, row in getattr(self, "_staged_variables", {}).items():
            if row is None:
                rows.pop(name, None)
            else:
                rows[name] = row
        return dict(sorted(rows.items()))

    def _stage(self, name: str, row: Variable | None) -> None:
        """Keep `row` (None: a removal) for the next save(), replacing what was staged for `name`."""
        self._staged_variables = {**getattr(self, "_staged_variables", {}), name: row}

    def _write_variables(self, staged: dict[str, Variable | None]) -> None:
        removed = [name for name, row in staged.items() if row is None]
        if removed:
            self.variables.filter(name__in=removed).delete()
        rows = [row for row in staged.values() if row is not None]
        for row in rows:
            row.environment = self
        # One upsert on (environment, name): a stored name is updated in place, so renames and swaps in one
        # save never collide, and a name another request added meanwhile is overwritten, not a 500.
        Variable.objects.bulk_create(
            rows,
            update_conflicts=True,
            unique_fields=["environment", "name"],
            update_fields=["value", "secret", "updated_at"],
        )

    def get_variables(self, reveal: bool = False) -> dict[str, str]:
        """The environment's own variables by name: plaintext when `reveal`, else secrets masked."""
        return {
            name: row.value if reveal else row.masked_value for name, row in self._current_variables().items()
        }

    @property
    def masked_variables(self) -> dict[str, dict[str, Any]]:
        """Each variable as people and the API see it: `{"value": …, "secret": bool}`, secrets masked."""
        return {
            name: {"value": row.masked_value, "secret": row.secret}
            for name, row in self._current_variables().items()
        }

    @property
    def secret_variable_names(self) -> set[str]:
        return {name for name, row in self._current_variables().items() if row.secret}

    def set_variable(self, name: str, value: str | None = None, secret: bool | None = None) -> None:
        """Add or replace a variable, staged until the next save().

        `value=None` keeps the current value, so an edit can leave a secret blank and change only its
        secrecy; `secret=None` keeps the current setting (plain for a new variable). A secret turns plain
        only with a new value (ValidationError otherwise), as its old one would be shown.
        """
        validate_variable_name(name)
        current = self._current_variables().get(name)
        if secret is None:
            secret = current.secret if current else False
        if value is None:
            if current is not None and current.secret and not secret:
                raise ValidationError(f"“{name}”: {MAKE_PLAIN_NEEDS_VALUE}")
            value = current.value if current else ""
        self._stage(name, Variable(name=name, value=str(value), secret=secret))

    def delete_variable(self, name: str) -> None:
        """Remove a variable, staged until the next save(); a name that doesn't exist is no error."""
        self._stage(name, None)

    def replaced_secret_variables(self, changes: Mapping[str, VariableChange | None]) -> list[str]:
        """Names of stored secret variables that `changes` overwrite or turn plain, sorted.

        The one rule for "this replaces a secret variable" (SPEC §6, §11: a session needs sudo mode for
        it), asked by the page and the API alike. `changes` maps a stored name to what is asked for it;
        None removes the variable, which reveals nothing and sends it nowhere, so it doesn't count.
        """
        stored = self._stored_variables()
        return sorted(
            name
            for name, change in changes.items()
            if change is not None
            and name in stored
            and stored[name].secret
            and (change.value is not None or change.secret is False)
        )

    # Auth -----------------------------------------------------------------------------------------------

    def auth_header(self, token: str) -> dict[str, str]:
        """The header that carries `token` to the target: from the API login config or the static fields."""
        if self.auth_type == self.AuthType.API_LOGIN:
            name = self.api_login_config.get("header_name") or "Authorization"
            prefix = self.api_login_config.get("header_prefix", "Bearer ")
        else:
            name, prefix = self.auth_header_name or "Authorization", self.auth_header_prefix
        return {name: f"{prefix}{token}"}

    # Export / import ------------------------------------------------------------------------------------

    def to_export(self) -> dict[str, Any]:
        """A JSON document of this environment with every secret left out (listed in `secrets_left_out`).

        The login config and steps are exported as written: secrets belong in secret variables,
        referenced as ${name}, not in the config itself.
        """
        data: dict[str, Any] = {"qodex_environment": EXPORT_FORMAT}
        data.update({field: getattr(self, field) for field in PLAIN_FIELDS})
        data["variables"] = {
            name: {"secret": True} if row.secret else {"value": row.value, "secret": False}
            for name, row in self._current_variables().items()
        }
        left_out = [field for field in ("auth_token", "auth_password") if getattr(self, field)]
        left_out += [f"variables.{name}" for name in sorted(self.secret_variable_names)]
        data["secrets_left_out"] = left_out
        return data

    @classmethod
    def from_import(cls, project, data: Any, *, user=None) -> Environment:
        """An unsaved, validated environment of `project` from `to_export()` data; its secrets are empty.

        A name already taken in the project gets a suffix (“Staging (2)”): imports never overwrite.
        Raises ValidationError when the document isn't an environment export or doesn't validate.
        """
        if not isinstance(data, dict) or data.get("qodex_environment") != EXPORT_FORMAT:
            raise ValidationError(
                f'This is not a Qodex environment export (expected "qodex_environment": {EXPORT_FORMAT}).'
            )
        fields = {field: data[field] for field in PLAIN_FIELDS if field in data and data[field] is not None}
        environment = cls(project=project, updated_by=user, **fields)
        environment.name = _free_name(project, str(environment.name or "").strip() or "Imported")
        variables = data.get("variables") or {}
        errors: dict[str, list[str]] = {}
        try:
            environment.full_clean()
        except ValidationError as exc:
            errors.update(exc.message_dict)
        if problems := variables_errors(variables):
            errors["variables"] = problems
        if errors:
            raise ValidationError(errors)
        for name, entry in variables.items():
            secret = bool(entry.get("secret"))
            environment.set_variable(name, "" if secret else entry.get("value", ""), secret=secret)
        return environment


def _free_name(project, name: str) -> str:
    taken = {n.lower() for n in Environment.objects.for_project(project).values_list("name", flat=True)}
    candidate, n = name, 2
    while candidate.lower() in taken:
        candidate, n = f"{name} ({n})", n + 1
    return candidate


# Variables ------------------------------------------------------------------------------------------------


class Variable(models.Model):
    """One of an environment's own variables, used in templates as `${name}` (SPEC §6).

    `value` is an EncryptedTextField for plain variables too: one column and one rotation path
    (`manage.py rotate_encryption_keys` finds it like every other encrypted field), and a variable
    turned secret later never leaves its old value readable in the table. `secret` decides what people
    see: a secret's value is only ever shown masked. Change rows through Environment.set_variable() and
    delete_variable() (the page, the API and import all do), so the environment is saved with them.
    """

    # No index of its own: the unique constraint's (environment, name) index serves every lookup by
    # environment, in name order.
    environment = models.ForeignKey(
        Environment, on_delete=models.CASCADE, related_name="variables", db_index=False
    )
    name = models.CharField(max_length=VARIABLE_NAME_MAX_LENGTH, validators=[validate_variable_name])
    value = EncryptedTextField(blank=True, default="")
    secret = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "environment_variables"
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["environment", "name"],
                name="variable_name_unique_per_environment",
                violation_error_message="This environment already has a variable with this name.",
            )
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def masked_value(self) -> str:
        """The value as people see it: a secret masked (`••••1a2b`), a plain value as it is."""
        return crypto.mask(self.value) if self.secret else self.value


# The API login token cache --------------------------------------------------------------------------------


def token_cache_key(environment: Environment) -> str:
    # updated_at in the key: a save in any process (web, worker) makes every older cached token unreachable,
    # even with a per-process cache.
    stamp = environment.updated_at.timestamp() if environment.updated_at else 0
    return f"environments:login-token:{environment.pk}:{stamp}"


def cached_token(environment: Environment) -> str | None:
    """The token the last successful API login returned, if it is under 30 minutes old and unchanged since."""
    if environment.pk is None:
        return None
    sealed = cache.get(token_cache_key(environment))
    return crypto.decrypt(sealed) if sealed else None


def cache_token(environment: Environment, token: str) -> None:
    """Keep `token` for settings.QODEX_LOGIN_TOKEN_TTL_SECONDS (encrypted: caches may be shared)."""
    if environment.pk is not None:
        cache.set(token_cache_key(environment), crypto.encrypt(token), settings.QODEX_LOGIN_TOKEN_TTL_SECONDS)


def clear_cached_token(environment: Environment) -> None:
    cache.delete(token_cache_key(environment))
