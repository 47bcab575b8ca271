"""Forms of the environment pages: every problem shows next to its field, and a form that fails saves nothing.

Secrets never travel back to the browser: their inputs start blank, and blank means "keep what is stored".
"""

from __future__ import annotations

import copy
import json
from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from environments.models import (
    MAKE_PLAIN_NEEDS_VALUE,
    PLAIN_FIELDS,
    PRESETS,
    VARIABLE_NAME_MAX_LENGTH,
    Environment,
    Variable,
    VariableChange,
)

# Shown in a new environment's login fields so nobody starts from a blank JSON box; dropped again when
# the environment uses another auth type and the example was left untouched.
EXAMPLE_API_LOGIN = {
    "method": "POST",
    "url": "${apiBaseUrl}/login",
    "headers": {},
    "body": {"email": "${authEmail}", "password": "${authPassword}"},
    "token_path": "$.data.token",
    "header_name": "Authorization",
    "header_prefix": "Bearer ",
}
EXAMPLE_UI_LOGIN = [
    {"action": "goto", "url": "${baseUrl}/login"},
    {"action": "fill", "selector": "#email", "value": "${authEmail}"},
    {"action": "fill", "selector": "#password", "value": "${authPassword}"},
    {"action": "click", "selector": "button[type=submit]"},
    {"action": "wait_for_url", "url": "**/dashboard"},
]
PRESET_CHOICES = [(name, name.capitalize()) for name in PRESETS]
MAX_IMPORT_BYTES = 256 * 1024
MAX_SECRET_LENGTH = 10_000
# Fields validated in place (htmx) as soon as they change.
LIVE_VALIDATED = ("name", "base_url", "api_base_url", "api_login_config", "ui_login_steps", "max_rps")


def json_error(exc: json.JSONDecodeError) -> str:
    return f"This is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})."


class PrettyJSONField(forms.JSONField):
    """A JSON textarea that shows the value indented and says where a syntax error is."""

    widget = forms.Textarea

    def to_python(self, value):
        if self.disabled or value in self.empty_values:
            return None
        try:
            return json.loads(value)
        except json.JSONDecodeError as exc:
            raise ValidationError(json_error(exc), code="invalid") from None

    def prepare_value(self, value):
        if isinstance(value, forms.fields.InvalidJSONInput):
            return value
        if isinstance(value, str):  # bound data coming back after an error: show it as typed
            return value
        return json.dumps(value, ensure_ascii=False, indent=2)

    def bound_data(self, data, initial):
        if self.disabled:
            return initial
        return data


class EnvironmentForm(forms.ModelForm):
    """The plain fields of an environment, plus the two secret inputs (applied by the view)."""

    auth_token = forms.CharField(
        label="Token",
        required=False,
        strip=False,
        max_length=MAX_SECRET_LENGTH,
        # render_value: what was typed comes back in the response to a failed POST (never otherwise: the
        # stored token is not the field's initial value).
        widget=forms.PasswordInput(attrs={"autocomplete": "off"}, render_value=True),
    )
    clear_auth_token = forms.BooleanField(label="Remove the stored token", required=False)
    auth_password = forms.CharField(
        label="Password",
        required=False,
        strip=False,
        max_length=MAX_SECRET_LENGTH,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}, render_value=True),
        help_text="Feeds ${authPassword}.",
    )
    clear_auth_password = forms.BooleanField(label="Remove the stored password", required=False)
    api_login_config = PrettyJSONField(
        label="Login request",
        required=False,
        help_text="method, url, headers, body and token_path (a JSONPath such as $.data.token); "
        "header_name and header_prefix say how the token is sent.",
    )
    ui_login_steps = PrettyJSONField(
        label="Login steps",
        required=False,
        help_text="A list of steps: goto (url), fill (selector, value), click (selector), press (value), "
        "wait_for_url (url), wait_for_selector (selector). Values may use ${variables}.",
    )

    class Meta:
        model = Environment
        fields = list(PLAIN_FIELDS)
        labels = {
            "base_url": "Base URL",
            "api_base_url": "API base URL",
            "auth_type": "Authentication",
            "auth_header_name": "Header name",
            "auth_header_prefix": "Header prefix",
            "auth_email": "Login email",
            "read_only": "Read-only",
            "max_rps": "Max requests per second",
            "allow_destructive": "Allow destructive requests",
            "allow_security_testing": "Allow security testing",
        }
        help_texts = {
            "base_url": "Where the app runs, such as https://staging.example.com. Feeds ${baseUrl}.",
            "api_base_url": "Leave blank to use the base URL. Feeds ${apiBaseUrl}.",
            "auth_header_prefix": "Put before the token, such as “Bearer ” (mind the space).",
            "auth_email": "Feeds ${authEmail}.",
            "read_only": "Only GET, HEAD and OPTIONS requests are sent.",
            "max_rps": "Blank for unlimited.",
            "allow_destructive": "Scenarios may delete and overwrite data here.",
            "allow_security_testing": "Scenarios may probe for vulnerabilities here.",
        }
        widgets = {
            "base_url": forms.URLInput(attrs={"placeholder": "https://staging.example.com"}),
            "api_base_url": forms.URLInput(attrs={"placeholder": "https://api.staging.example.com"}),
            "auth_email": forms.EmailInput(attrs={"placeholder": "qa@example.com"}),
        }

    def __init__(self, *args, validate_url: str = "", **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["base_url"].error_messages["required"] = (
            "Enter where the app runs, such as https://staging.example.com."
        )
        self.fields["auth_header_name"].required = False
        self.fields["auth_header_prefix"].strip = False
        self.fields["auth_header_name"].widget.attrs["placeholder"] = "Authorization"
        self.fields["name"].widget.attrs["placeholder"] = "Staging"
        self.fields["max_rps"].widget.attrs["min"] = 1
        for name in ("api_login_config", "ui_login_steps"):
            self.fields[name].widget.attrs.update({"rows": 12, "class": "code", "spellcheck": "false"})
        # Start from a working example rather than an empty box (dropped again by clean() if untouched).
        if not self.instance.api_login_config:
            self.initial["api_login_config"] = EXAMPLE_API_LOGIN
        if not self.instance.ui_login_steps:
            self.initial["ui_login_steps"] = EXAMPLE_UI_LOGIN
        if validate_url:
            for name in LIVE_VALIDATED:
                self.fields[name].widget.attrs.update(
                    {
                        "hx-post": validate_url,
                        "hx-trigger": "change",
                        "hx-target": "closest .field",
                        "hx-swap": "outerHTML",
                        "hx-vals": json.dumps({"validate": name}),
                    }
                )

    def clean_name(self) -> str:
        name = (self.cleaned_data.get("name") or "").strip()
        if not name:
            raise ValidationError("Give the environment a name, such as Staging.")
        return name

    def clean_auth_header_name(self) -> str:
        return (self.cleaned_data.get("auth_header_name") or "").strip() or "Authorization"

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        auth_type = data.get("auth_type")
        config = data.get("api_login_config")
        if config is None or (auth_type != Environment.AuthType.API_LOGIN and config == EXAMPLE_API_LOGIN):
            data["api_login_config"] = {}
        steps = data.get("ui_login_steps")
        if steps is None or (auth_type != Environment.AuthType.UI_LOGIN and steps == EXAMPLE_UI_LOGIN):
            data["ui_login_steps"] = []
        return data

    def secret_changes(self) -> dict[str, str]:
        """The secret fields this submission sets: {"auth_token": "new value" or "" to remove}."""
        data = getattr(self, "cleaned_data", {})
        changes = {}
        for name in ("auth_token", "auth_password"):
            if data.get(f"clear_{name}"):
                changes[name] = ""
            elif data.get(name):
                changes[name] = data[name]
        return changes


class VariableForm(forms.ModelForm):
    """One row of the variables table: a stored variable (`stored`) or a new one.

    A stored secret never travels back: its value input is an empty PasswordInput, and blank keeps it.
    """

    name = forms.CharField(required=False, max_length=VARIABLE_NAME_MAX_LENGTH)
    value = forms.CharField(required=False, strip=False, max_length=MAX_SECRET_LENGTH)

    class Meta:
        model = Variable
        fields = ["name", "value", "secret"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # A copy: validation writes the submitted values onto self.instance.
        self.stored: Variable | None = copy.copy(self.instance) if self.instance.pk else None
        self.fields["name"].widget.attrs.update({"placeholder": "name", "spellcheck": "false"})
        self.fields["value"].widget.attrs["placeholder"] = "value"
        typed_secret = self.stored is None and self.is_bound and self["secret"].data
        if self.stored_secret or typed_secret:
            # A stored secret is never sent back; what was just typed comes back, in a password input, only in
            # the response to the failed submission that carried it.
            self.fields["value"].widget = forms.PasswordInput(
                attrs={"autocomplete": "off"}, render_value=True
            )
        if self.stored_secret:
            self.initial["value"] = ""  # nor kept in the form, where has_changed() would compare it

    @property
    def stored_secret(self) -> bool:
        return self.stored is not None and self.stored.secret

    @property
    def masked_value(self) -> str:
        return self.stored.masked_value if self.stored is not None else ""

    def has_changed(self) -> bool:
        # A new row with neither name nor value is an empty row, whatever its Secret box says.
        if self.stored is None and not (self["name"].data or "").strip() and not self["value"].data:
            return False
        return super().has_changed()

    def clean_name(self) -> str:
        return (self.cleaned_data.get("name") or "").strip()

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("DELETE"):
            return data
        if not data.get("name"):
            or_remove = ", or tick Remove" if self.stored else ""
            self.add_error("name", f"Name this variable{or_remove}.")
        if self.stored_secret and not data.get("secret") and not data.get("value"):
            self.add_error("value", MAKE_PLAIN_NEEDS_VALUE)
        return data

    def change(self) -> VariableChange | None:
        """What this row asks for its stored variable: None removes it; a blank secret keeps its value."""
        data = getattr(self, "cleaned_data", {})
        if data.get("DELETE"):
            return None
        value = data.get("value") or ""
        return VariableChange(None if self.stored_secret and not value else value, bool(data.get("secret")))


class BaseVariableFormSet(forms.BaseInlineFormSet):
    """The variables table: Django's inline formset over the environment's Variable rows.

    It only validates; `stage()` hands the rows to Environment.set_variable()/delete_variable(), so the
    environment and its variables are saved together by Environment.save(). A row missing from the
    submission is kept: a truncated or tampered form never deletes by omission.
    """

    def add_fields(self, form, index) -> None:
        super().add_fields(form, index)
        gone = "This variable was removed meanwhile; reload the page."
        form.fields["id"].error_messages["invalid_choice"] = gone
        if "DELETE" in form.fields:
            form.fields["DELETE"].label = "Remove"

    def _changed_forms(self) -> list[VariableForm]:
        deleted = self.deleted_forms
        return [form for form in self.forms if form in deleted or form.has_changed()]

    def clean(self) -> None:
        if any(self.errors):
            return
        changed = self._changed_forms()
        # Names that stay as they are come first, so "used twice" lands on a row that changed.
        kept = {row.pk: row.name for row in self.get_queryset()}
        for form in changed:
            if form.stored is not None:
                kept.pop(form.stored.pk, None)
        seen, duplicates = set(kept.values()), False
        for form in changed:
            name = form.cleaned_data.get("name")
            if form.change() is None or not name:
                continue
            if name in seen:
                form.add_error("name", f"“{name}” is used twice; each variable needs its own name.")
                duplicates = True
            seen.add(name)
        if not duplicates:
            super().clean()

    def secret_replacements(self, environment: Environment) -> list[str]:
        """Names of stored secret variables this submission overwrites or turns plain (they need sudo)."""
        changes = {form.stored.name: form.change() for form in self.forms if form.stored is not None}
        return environment.replaced_secret_variables(changes)

    def stage(self, environment: Environment) -> None:
        """Stage every changed row on `environment`, to be written by its next save()."""
        changed = self._changed_forms()
        # Names given up first (removed or renamed rows), so another row may take one in the same save.
        for form in changed:
            change = form.change()
            if form.stored is not None and (change is None or form.cleaned_data["name"] != form.stored.name):
                environment.delete_variable(form.stored.name)
        for form in changed:
            change = form.change()
            if change is None:
                continue
            value = change.value if change.value is not None else form.stored.value
            environment.set_variable(form.cleaned_data["name"], value, secret=change.secret)


VariableFormSet = forms.inlineformset_factory(
    Environment,
    Variable,
    form=VariableForm,
    formset=BaseVariableFormSet,
    extra=2,
    max_num=200,
    can_delete=True,
    can_delete_extra=False,
)


def variable_formset(environment: Environment, data=None) -> BaseVariableFormSet:
    """The variables table of `environment` (unsaved for the new page: only empty rows)."""
    return VariableFormSet(data, instance=environment, prefix="var")


class PreviewForm(forms.Form):
    template = forms.CharField(
        label="Template",
        strip=False,
        max_length=10_000,
        widget=forms.Textarea(attrs={"rows": 3, "class": "code", "spellcheck": "false"}),
        initial="${apiBaseUrl}/users?token=${authToken}",
    )


class ImportForm(forms.Form):
    file = forms.FileField(label="Upload an export", required=False)
    document = forms.CharField(
        label="…or paste it",
        required=False,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 10, "class": "code", "spellcheck": "false"}),
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        upload = data.get("file")
        if upload is not None:
            if upload.size > MAX_IMPORT_BYTES:
                raise ValidationError(
                    {"file": "This file is over 256 KB; an environment export is far smaller."}
                )
            try:
                text = upload.read().decode("utf-8")
            except UnicodeDecodeError:
                raise ValidationError(
                    {"file": "This file is not UTF-8 text; upload the .json export."}
                ) from None
            field = "file"
        else:
            text, field = data.get("document") or "", "document"
        if not text.strip():
            raise ValidationError({"document": "Upload the .json file or paste its contents."})
        if len(text.encode()) > MAX_IMPORT_BYTES:
            raise ValidationError({field: "This is over 256 KB; an environment export is far smaller."})
        try:
            data["parsed"] = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValidationError({field: json_error(exc)}) from None
        data["text"] = text
        return data


def left_out_secrets(environment: Environment, document: dict[str, Any]) -> list[tuple[str, str]]:
    """(field, label) for each secret the imported environment needs: the export's list, and every
    secret variable (they all arrive empty)."""
    listed = document.get("secrets_left_out") if isinstance(document.get("secrets_left_out"), list) else []
    wanted = [name for name in ("auth_token", "auth_password") if name in listed]
    if environment.auth_type == Environment.AuthType.STATIC_TOKEN and "auth_token" not in wanted:
        wanted.append("auth_token")
    logs_in = environment.auth_type in (Environment.AuthType.API_LOGIN, Environment.AuthType.UI_LOGIN)
    if logs_in and "auth_password" not in wanted:
        wanted.append("auth_password")
    labels = {"auth_token": "Token", "auth_password": "Login password"}
    fields = [(name, labels[name]) for name in ("auth_token", "auth_password") if name in wanted]
    fields += [
        (f"variable__{name}", f"Variable ${{{name}}}") for name in sorted(environment.secret_variable_names)
    ]
    return fields


class ImportSecretsForm(forms.Form):
    """The secrets an export left out, asked for before the environment is created (blank = later)."""

    def __init__(self, secrets: list[tuple[str, str]], *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name, label in secrets:
            self.fields[name] = forms.CharField(
                label=label,
                required=False,
                strip=False,
                max_length=MAX_SECRET_LENGTH,
                widget=forms.PasswordInput(attrs={"autocomplete": "off"}),
            )

    def apply(self, environment: Environment) -> tuple[list[str], list[str]]:
        """Set the given secrets on `environment`; (names given, names still missing)."""
        given, missing = [], []
        for name, value in self.cleaned_data.items():
            label = name.replace("variable__", "variables.")
            if not value:
                missing.append(label)
            elif name.startswith("variable__"):
                environment.set_variable(name.removeprefix("variable__"), value, secret=True)
                given.append(label)
            else:
                setattr(environment, name, value)
                given.append(label)
        return given, missing
