"""Forms of the environment pages: every problem shows next to its field, and a form that fails saves nothing.

Secrets never travel back to the browser: their inputs start blank, and blank means "keep what is stored".
"""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError

from environments.models import PLAIN_FIELDS, PRESETS, Environment, validate_variable_name

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
        widget=forms.PasswordInput(attrs={"autocomplete": "off"}),
    )
    clear_auth_token = forms.BooleanField(label="Remove the stored token", required=False)
    auth_password = forms.CharField(
        label="Password",
        required=False,
        strip=False,
        max_length=MAX_SECRET_LENGTH,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
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

    def _update_errors(self, errors: ValidationError) -> None:
        # Environment.clean() may name a field this form doesn't show (variables): list it above the form
        # rather than fail.
        if hasattr(errors, "error_dict"):
            placed: dict[str, list] = {}
            for field, messages in errors.error_dict.items():
                key = field if field in self.fields else NON_FIELD_ERRORS
                placed.setdefault(key, []).extend(messages)
            errors = ValidationError(placed)
        super()._update_errors(errors)

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


class VariableForm(forms.Form):
    """One row of the variables table. `original` is the name the row had when the page was drawn."""

    original = forms.CharField(required=False, widget=forms.HiddenInput)
    name = forms.CharField(required=False, max_length=100)
    value = forms.CharField(required=False, strip=False, max_length=MAX_SECRET_LENGTH)
    secret = forms.BooleanField(required=False)
    delete = forms.BooleanField(required=False, label="Remove")

    def __init__(self, *args, environment: Environment | None = None, **kwargs):
        self.environment = environment
        super().__init__(*args, **kwargs)
        self.fields["name"].widget.attrs.update({"placeholder": "name", "spellcheck": "false"})
        self.fields["value"].widget.attrs["placeholder"] = "value"
        stored = self.stored
        if stored is not None and stored["secret"]:
            self.fields["value"].widget = forms.PasswordInput(attrs={"autocomplete": "off"})

    @property
    def stored(self) -> dict[str, Any] | None:
        """The variable this row edits as stored ({"secret": bool}), or None for a new row."""
        if self.is_bound:
            original = self.data.get(self.add_prefix("original")) or ""
        else:
            original = self.initial.get("original") or ""
        if self.environment is None or not original:
            return None
        entry = self.environment.variables.get(original)
        return {"secret": bool(entry.get("secret"))} if isinstance(entry, dict) else None

    @property
    def masked_value(self) -> str:
        original = self.initial.get("original", "")
        if self.environment is None or not original:
            return ""
        return self.environment.get_variables().get(original, "")

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        original = data.get("original") or ""
        if original and (self.environment is None or original not in self.environment.variables):
            raise ValidationError("This variable was removed meanwhile; reload the page.")
        if data.get("delete"):
            return data
        name = (data.get("name") or "").strip()
        data["name"] = name
        if not name:
            if original or data.get("value"):
                self.add_error("name", "Name this variable, or tick Remove.")
            return data
        try:
            validate_variable_name(name)
        except ValidationError as exc:
            self.add_error("name", exc)
        stored = self.stored
        if stored and stored["secret"] and not data.get("secret") and not data.get("value"):
            self.add_error(
                "value", "Enter its new value to make it a plain variable: a secret's value is never shown."
            )
        return data


class BaseVariableFormSet(forms.BaseFormSet):
    def clean(self) -> None:
        if any(self.errors):
            return
        seen = set()
        for form in self.forms:
            data = getattr(form, "cleaned_data", {})
            name = data.get("name")
            if not name or data.get("delete"):
                continue
            if name in seen:
                form.add_error("name", f"“{name}” is used twice; each variable needs its own name.")
            seen.add(name)

    def secret_replacements(self) -> list[str]:
        """Names of stored secret variables this submission overwrites (or turns plain): they need sudo."""
        names = []
        for form in self.forms:
            data = getattr(form, "cleaned_data", {})
            stored = form.stored
            overwritten = data.get("value") or ("secret" in data and not data["secret"])
            if stored and stored["secret"] and not data.get("delete") and overwritten:
                names.append(data.get("original") or "")
        return names

    def apply(self, environment: Environment) -> bool:
        """Write the rows onto `environment.variables` (saved by the caller); True when anything changed.

        Variables no row mentions are kept: a truncated or tampered form never deletes by omission.
        """
        before = (
            json.dumps(environment.get_variables(reveal=True), sort_keys=True),
            sorted(environment.secret_variable_names),
        )
        current = environment.get_variables(reveal=True)
        for form in self.forms:
            data = getattr(form, "cleaned_data", {})
            original, name = data.get("original") or "", data.get("name") or ""
            if data.get("delete"):
                if original:
                    environment.delete_variable(original)
                continue
            if not name:
                continue
            stored = form.stored
            value = data.get("value") or ""
            if stored and stored["secret"] and not value:
                value = current.get(original, "")  # blank keeps the stored secret
            if original and original != name:
                environment.delete_variable(original)
            environment.set_variable(name, value, secret=bool(data.get("secret")))
        after = (
            json.dumps(environment.get_variables(reveal=True), sort_keys=True),
            sorted(environment.secret_variable_names),
        )
        return before != after


VariableFormSet = forms.formset_factory(VariableForm, formset=BaseVariableFormSet, extra=2, max_num=200)


def variable_formset(environment: Environment | None, data=None) -> BaseVariableFormSet:
    initial = []
    if environment is not None:
        secret = environment.secret_variable_names
        for name, value in environment.get_variables().items():
            initial.append(
                {
                    "original": name,
                    "name": name,
                    "secret": name in secret,
                    "value": "" if name in secret else value,
                }
            )
    return VariableFormSet(data, initial=initial, prefix="var", form_kwargs={"environment": environment})


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
