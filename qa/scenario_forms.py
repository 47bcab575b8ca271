"""Forms of the scenario pages: the details, the steps editor's rows, scripts, import, AI generation and
collections. They turn what people type into what the qa.doors take; the doors decide what is valid.

The steps editor posts one row of fields per step (`steps-0-method`, …, `steps-TOTAL`). Its text fields
use small line formats that are quicker to write than JSON, and JSON is accepted too:

    headers        Content-Type: application/json          (or a JSON object)
    body           {"email": "${authEmail}"}               (JSON; anything else is sent as text)
    captures       userId = $.id                           (one per line)
    expectations   $.id exists / $.role equals "admin"     (one per line, or a JSON list)
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from qa.models import Priority, Scenario, Script
from qa.steps import EXPECTATION_OPERATORS, MAX_STEPS, METHODS, Problem

MAX_IMPORT_BYTES = 2_000_000
OPENAPI_MAX = 200_000
EXPECTATION_LINE = re.compile(rf"^(\S+)\s+({'|'.join(EXPECTATION_OPERATORS)})(?:\s+(.*))?$")


class ScenarioForm(forms.Form):
    name = forms.CharField(label="Name", max_length=200)
    description = forms.CharField(
        label="Description", required=False, max_length=10_000, widget=forms.Textarea(attrs={"rows": 2})
    )
    type = forms.ChoiceField(label="Type", choices=Scenario.Type.choices, initial=Scenario.Type.API)
    status = forms.ChoiceField(
        label="Status",
        choices=Scenario.Status.choices,
        initial=Scenario.Status.DRAFT,
        help_text="Only active scenarios run from webhooks and collections.",
    )
    priority = forms.ChoiceField(label="Priority", choices=Priority.choices, initial=Priority.MEDIUM)
    tags = forms.CharField(
        label="Tags",
        required=False,
        max_length=1000,
        help_text="Comma-separated, e.g. smoke, checkout",
        widget=forms.TextInput(attrs={"placeholder": "smoke, checkout"}),
    )

    @classmethod
    def of(cls, scenario: Scenario) -> ScenarioForm:
        initial = {
            name: getattr(scenario, name) for name in ("name", "description", "type", "status", "priority")
        }
        return cls(initial={**initial, "tags": ", ".join(scenario.tags)})

    def changes(self) -> dict[str, Any]:
        return dict(self.cleaned_data)


# --- the steps editor ------------------------------------------------------------------------------------


@dataclass
class StepRow:
    """One step as the editor shows it: texts as typed, and the problems to show beside them."""

    name: str = ""
    method: str = "GET"
    target: str = ""
    expected_status: str = ""
    headers: str = ""
    body: str = ""
    captures: str = ""
    expectations: str = ""
    destructive: bool = False
    security: bool = False
    errors: list[str] = field(default_factory=list)

    @property
    def has_details(self) -> bool:
        return any(
            (self.headers.strip(), self.body.strip(), self.captures.strip(), self.expectations.strip())
        )

    @property
    def summary(self) -> str:
        """What the folded part holds: "2 headers · body · 1 capture · 2 expectations"."""
        parts = []
        if self.headers.strip():
            parts.append(_counted(self.headers, "header"))
        if self.body.strip():
            parts.append("body")
        if self.captures.strip():
            parts.append(_counted(self.captures, "capture"))
        if self.expectations.strip():
            parts.append(_counted(self.expectations, "expectation"))
        return " · ".join(parts) or "no headers, body or checks"

    @property
    def methods(self) -> tuple[str, ...]:
        return METHODS


def _counted(text: str, label: str) -> str:
    try:
        number = len(json.loads(text)) if text.lstrip()[:1] in ("{", "[") else None
    except ValueError:
        number = None
    if number is None:
        number = len([line for line in text.splitlines() if line.strip()])
    return f"{number} {label}{'' if number == 1 else 's'}"


def rows_from_steps(steps: list[dict[str, Any]]) -> list[StepRow]:
    """The editor's rows for stored (canonical) API steps."""
    return [
        StepRow(
            name=step.get("name", ""),
            method=step.get("method", "GET"),
            target=step.get("target", ""),
            expected_status="" if step.get("expected_status") is None else str(step["expected_status"]),
            headers="\n".join(f"{key}: {value}" for key, value in (step.get("headers") or {}).items()),
            body=body_text(step.get("body")),
            captures="\n".join(
                f"{c.get('as')} = {c.get('from')}" for c in step.get("captures") or [] if isinstance(c, dict)
            ),
            expectations=expectations_text(step.get("expectations") or []),
            destructive=bool(step.get("destructive")),
            security=bool(step.get("security")),
        )
        for step in steps
        if isinstance(step, dict)
    ]


def body_text(body: Any) -> str:
    """A body as the editor shows it: JSON pretty-printed; text as it is, unless it would read back as
    JSON, then as a JSON string."""
    if body is None:
        return ""
    if isinstance(body, str):
        try:
            json.loads(body)
        except ValueError:
            return body
        return json.dumps(body, ensure_ascii=False)
    return json.dumps(body, indent=2, ensure_ascii=False)


def expectations_text(expectations: list[dict[str, Any]]) -> str:
    lines = []
    for expectation in expectations:
        if not isinstance(expectation, dict):
            return json.dumps(expectations, indent=2, ensure_ascii=False)
        operator = next((key for key in EXPECTATION_OPERATORS if key in expectation), None)
        path = expectation.get("path", "")
        if operator is None or re.search(r"\s", path) or expectation.get("kind", "jsonpath") != "jsonpath":
            return json.dumps(expectations, indent=2, ensure_ascii=False)
        value = expectation[operator]
        if operator == "exists":
            lines.append(f"{path} exists" + ("" if value is True else " false"))
        elif operator == "matches":
            lines.append(f"{path} matches {value}")
        else:
            lines.append(f"{path} {operator} {json.dumps(value, ensure_ascii=False)}")
    return "\n".join(lines)


def rows_from_post(data) -> list[StepRow]:
    """The rows as posted (at most MAX_STEPS; a missing field reads as empty)."""
    try:
        total = min(max(int(data.get("steps-TOTAL", 0)), 0), MAX_STEPS)
    except (TypeError, ValueError):
        total = 0
    rows = []
    for index in range(total):
        prefix = f"steps-{index}-"
        rows.append(
            StepRow(
                **{
                    name: data.get(prefix + name, "")
                    for name in (
                        "name",
                        "target",
                        "expected_status",
                        "headers",
                        "body",
                        "captures",
                        "expectations",
                    )
                },
                method=data.get(prefix + "method", "GET"),
                destructive=data.get(prefix + "destructive") == "on",
                security=data.get(prefix + "security") == "on",
            )
        )
    return rows


def apply_op(rows: list[StepRow], op: str) -> list[StepRow]:
    """Add, remove or move a row (`add`, `remove-3`, `up-3`, `down-3`); anything else changes nothing."""
    if op == "add" and len(rows) < MAX_STEPS:
        return [*rows, StepRow(method="GET", target="${API_BASE_URL}/")]
    verb, _, number = op.partition("-")
    if not number.isdigit() or int(number) >= len(rows):
        return rows
    index = int(number)
    rows = list(rows)
    if verb == "remove":
        del rows[index]
    elif verb == "up" and index > 0:
        rows[index - 1], rows[index] = rows[index], rows[index - 1]
    elif verb == "down" and index < len(rows) - 1:
        rows[index + 1], rows[index] = rows[index], rows[index + 1]
    return rows


def steps_from_rows(rows: list[StepRow]) -> tuple[list[dict[str, Any]], list[Problem]]:
    """The raw steps the rows describe (for qa.steps), and what couldn't be read from the texts."""
    steps, problems = [], []
    for index, row in enumerate(rows):

        def problem(message: str, index=index) -> None:
            problems.append(Problem(index, "", message))

        step: dict[str, Any] = {
            "name": row.name,
            "method": row.method,
            "target": row.target,
            "destructive": row.destructive,
            "security": row.security,
        }
        status = row.expected_status.strip()
        step["expected_status"] = (int(status) if status.isdigit() else status) if status else None
        step["headers"] = _headers(row.headers, problem)
        step["body"] = _body(row.body, problem)
        step["captures"] = _captures(row.captures, problem)
        step["expectations"] = _expectations(row.expectations, problem)
        steps.append(step)
    return steps, problems


def _json(text: str, what: str, problem) -> Any:
    try:
        return json.loads(text)
    except ValueError as error:
        where = f" (line {error.lineno}, column {error.colno})" if hasattr(error, "lineno") else ""
        problem(f"{what} is not valid JSON{where}.")
        return None


def _headers(text: str, problem) -> Any:
    if not text.strip():
        return {}
    if text.lstrip().startswith("{"):
        return _json(text, "headers", problem)
    headers = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        name, colon, value = line.partition(":")
        if not colon or not name.strip():
            problem(f"header line {number} must look like Name: value.")
            continue
        headers[name.strip()] = value.strip()
    return headers


def _body(text: str, problem) -> Any:
    if not text.strip():
        return None
    if text.lstrip()[:1] in ("{", "["):
        return _json(text, "body", problem)  # meant as JSON: a typo must not turn it into text
    try:
        return json.loads(text)
    except ValueError:
        return text


def _captures(text: str, problem) -> Any:
    if not text.strip():
        return []
    if text.lstrip().startswith("["):
        return _json(text, "captures", problem)
    captures = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        name, equals, path = line.partition("=")
        if not equals:
            problem(f"capture line {number} must look like userId = $.id.")
            continue
        captures.append({"as": name.strip(), "from": path.strip()})
    return captures


def _expectations(text: str, problem) -> Any:
    if not text.strip():
        return []
    if text.lstrip().startswith("["):
        return _json(text, "expectations", problem)
    expectations = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        match = EXPECTATION_LINE.match(line.strip())
        if not match:
            problem(
                f'expectation line {number} must look like “$.id exists” or “$.role equals "admin"” '
                f"(operators: {', '.join(EXPECTATION_OPERATORS)})."
            )
            continue
        path, operator, raw = match.group(1), match.group(2), (match.group(3) or "").strip()
        if operator == "exists":
            value: Any = raw.lower() != "false"
        elif operator == "matches":
            value = raw
        else:
            try:
                value = json.loads(raw)
            except ValueError:
                value = raw  # `$.role equals admin` means the text admin
        expectations.append({"kind": "jsonpath", "path": path, operator: value})
    return expectations


# The API's field names as the editor labels them.
EDITOR_LABELS = {"expected_status": "Expected status", "target": "URL"}


def in_editor_words(message: str) -> str:
    """ "expected_status must be…" → "Expected status must be…": a problem beside its row."""
    for field_name, label in EDITOR_LABELS.items():
        if message.startswith(field_name + " "):
            return label + message[len(field_name) :]
    return message[:1].upper() + message[1:]


def attach(rows: list[StepRow], problems: list[Problem]) -> list[str]:
    """Put each problem on its row; return the ones about the list as a whole."""
    general = []
    for problem in problems:
        if 0 <= problem.index < len(rows):
            rows[problem.index].errors.append(in_editor_words(problem.message))
        else:
            general.append(problem.sentence)
    return general


# --- the other forms -------------------------------------------------------------------------------------


class ScriptForm(forms.Form):
    name = forms.CharField(label="Name", max_length=200)
    language = forms.ChoiceField(label="Language", choices=Script.Language.choices)
    source = forms.CharField(
        label="Source",
        required=False,
        strip=False,
        max_length=200_000,
        widget=forms.Textarea(attrs={"rows": 8, "class": "code", "spellcheck": "false"}),
    )


class ImportForm(forms.Form):
    file = forms.FileField(
        label="Upload a file", required=False, help_text="A Qodex export or a Postman collection (.json)."
    )
    document = forms.CharField(
        label="…or paste it",
        required=False,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 12, "class": "code", "spellcheck": "false"}),
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        upload = data.get("file")
        if upload is not None:
            if upload.size > MAX_IMPORT_BYTES:
                raise ValidationError({"file": "This file is over 2 MB; import it in parts."})
            try:
                data["text"] = upload.read().decode("utf-8-sig")
            except UnicodeDecodeError:
                raise ValidationError(
                    {"file": "This file is not UTF-8 text; upload the .json file."}
                ) from None
            data["field"] = "file"
        else:
            data["text"], data["field"] = data.get("document") or "", "document"
        if not data["text"].strip():
            raise ValidationError({"document": "Upload a .json file or paste its contents."})
        if len(data["text"]) > MAX_IMPORT_BYTES:
            raise ValidationError({data["field"]: "This is over 2 MB; import it in parts."})
        return data


class GenerateForm(forms.Form):
    description = forms.CharField(
        label="What should the scenario test?",
        max_length=5_000,
        error_messages={"required": "Describe what the scenario should test."},
        widget=forms.Textarea(
            attrs={
                "rows": 4,
                "placeholder": "Sign up a user, log in with it, fetch its profile, then delete it.",
            }
        ),
    )
    openapi = forms.CharField(
        label="OpenAPI document (optional)",
        required=False,
        max_length=OPENAPI_MAX,
        strip=False,
        help_text="Paste the API’s OpenAPI (JSON or YAML) so the draft uses its real paths and fields.",
        widget=forms.Textarea(attrs={"rows": 6, "class": "code", "spellcheck": "false"}),
    )


class DraftForm(forms.Form):
    """The AI draft under review: the fields and the steps as JSON, all editable before saving."""

    name = forms.CharField(label="Name", max_length=200)
    description = forms.CharField(
        label="Description", required=False, max_length=10_000, widget=forms.Textarea(attrs={"rows": 2})
    )
    priority = forms.ChoiceField(label="Priority", choices=Priority.choices, initial=Priority.MEDIUM)
    tags = forms.CharField(label="Tags", required=False, max_length=1000, help_text="Comma-separated")
    steps = forms.CharField(
        label="Steps (JSON)",
        strip=False,
        max_length=1_000_000,
        widget=forms.Textarea(attrs={"rows": 18, "class": "code", "spellcheck": "false"}),
    )

    def clean_steps(self) -> Any:
        try:
            return json.loads(self.cleaned_data["steps"])
        except ValueError as error:
            raise ValidationError(
                f"The steps are not valid JSON (line {error.lineno}, column {error.colno})."
            ) from None


class CollectionForm(forms.Form):
    name = forms.CharField(label="Name", max_length=200)
    description = forms.CharField(
        label="Description", required=False, max_length=10_000, widget=forms.Textarea(attrs={"rows": 2})
    )
