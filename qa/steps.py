"""A scenario's steps (SPEC §9): what a step may hold, checked and put in one canonical shape.

An API step, as stored, exported and returned by the API (keys in this order):

    {"name": "Create a user", "method": "POST", "target": "${API_BASE_URL}/users",
     "headers": {"Content-Type": "application/json"}, "body": {"email": "a@b.test"},
     "expected_status": 201,
     "captures": [{"as": "userId", "from": "$.id"}],
     "expectations": [{"kind": "jsonpath", "path": "$.id", "exists": true},
                      {"kind": "jsonpath", "path": "$.role", "equals": "admin"}],
     "destructive": false, "security": false}

`body` is any JSON value: an object or a list is sent as JSON, a string as it is, null sends no body.
Captures read the response body with a JSONPath and become variables (`${userId}`) for later steps.
An expectation is a JSONPath with exactly one operator from EXPECTATION_OPERATORS. A step left without
`destructive` is destructive when its method is DELETE: the safe reading of a step that doesn't say.

A UI step (scenarios of type `ui`) is a browser action, as the environments' UI login steps:
`{"name", "action": "goto|fill|click|press|wait_for_url|wait_for_selector", "selector", "value", "url"}`.

`clean_steps(raw, type)` returns the canonical list or raises `Invalid` with a sentence per problem
("Step 3: method must be one of GET, POST, …"); `step_problems` gives the same problems by step for the
editor. Normalising is idempotent, so export → import gives back the very same steps.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import jsonpath

from environments.models import STEP_REQUIRES, VARIABLE_NAME_MAX_LENGTH, VARIABLE_NAME_RE
from qodex.doors import Invalid

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
API_STEP_KEYS = (
    "name",
    "method",
    "target",
    "headers",
    "body",
    "expected_status",
    "captures",
    "expectations",
    "destructive",
    "security",
)
UI_STEP_KEYS = ("name", "action", "selector", "value", "url")
UI_ACTIONS = tuple(STEP_REQUIRES)
EXPECTATION_KINDS = ("jsonpath",)
# Each expectation has exactly one of these; `exists` takes true or false, `matches` a regular
# expression (searched in the value as text), `greater_than`/`less_than` a number, the rest any JSON.
EXPECTATION_OPERATORS = ("exists", "equals", "not_equals", "contains", "matches", "greater_than", "less_than")

MAX_STEPS = 200
NAME_MAX = 200
TARGET_MAX = 2000
HEADER_MAX = 8000
MAX_HEADERS = 100
MAX_CAPTURES = 50
MAX_EXPECTATIONS = 50
STEPS_JSON_MAX = 1_000_000  # characters of all steps as JSON: a scenario is a test, not a data dump
TARGET_START = re.compile(r"^(https?://|\$\{)", re.IGNORECASE)
HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")  # an HTTP token (RFC 9110)


@dataclass(frozen=True)
class Problem:
    """One problem with one step: `index` (0-based; -1 for the list as a whole), `field`, `message`."""

    index: int
    field: str
    message: str

    @property
    def sentence(self) -> str:
        return self.message if self.index < 0 else f"Step {self.index + 1}: {self.message}"


def clean_steps(raw: Any, scenario_type: str = "api") -> list[dict[str, Any]]:
    """The canonical steps, or `Invalid` with `fields={"steps": [sentence, …]}`."""
    steps, problems = check_steps(raw, scenario_type)
    if problems:
        raise Invalid(
            problems[0].sentence if len(problems) == 1 else f"{len(problems)} problems in the steps.",
            fields={"steps": [problem.sentence for problem in problems]},
        )
    return steps


def check_steps(raw: Any, scenario_type: str = "api") -> tuple[list[dict[str, Any]], list[Problem]]:
    """The canonical steps and every problem found (an empty list when they are all usable)."""
    if raw is None:
        raw = []
    if not isinstance(raw, list):
        return [], [Problem(-1, "steps", "Steps must be a list of step objects.")]
    if len(raw) > MAX_STEPS:
        return [], [Problem(-1, "steps", f"A scenario holds at most {MAX_STEPS} steps; split it in two.")]
    problems: list[Problem] = []
    clean = clean_api_step if scenario_type != "ui" else clean_ui_step
    steps = []
    for index, step in enumerate(raw):
        steps.append(clean(step, index, problems))
    if not problems and len(json.dumps(steps, ensure_ascii=False)) > STEPS_JSON_MAX:
        problems.append(Problem(-1, "steps", "These steps are too large (over 1 MB as JSON)."))
    if not problems and (where := _nul_character(steps)) is not None:
        problems.append(Problem(where, "", "contains a NUL character (\\u0000), which can't be stored."))
    return steps, problems


def step_problems(problems: list[Problem]) -> dict[int, list[Problem]]:
    """Problems grouped by step index (-1: the list as a whole), for the editor's rows."""
    grouped: dict[int, list[Problem]] = {}
    for problem in problems:
        grouped.setdefault(problem.index, []).append(problem)
    return grouped


def in_order(steps: Any) -> Any:
    """Stored steps with their keys in the documented order (PostgreSQL's jsonb keeps its own order), for
    people and exports. Values are untouched."""
    if not isinstance(steps, list):
        return steps
    return [_ordered_step(step) for step in steps]


def _ordered(mapping: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    ordered = {key: mapping[key] for key in keys if key in mapping}
    ordered.update((key, value) for key, value in mapping.items() if key not in ordered)
    return ordered


def _ordered_step(step: Any) -> Any:
    if not isinstance(step, dict):
        return step
    if "action" in step:
        return _ordered(step, UI_STEP_KEYS)
    step = _ordered(step, API_STEP_KEYS)
    if isinstance(step.get("captures"), list):
        step["captures"] = [
            _ordered(c, ("as", "from")) if isinstance(c, dict) else c for c in step["captures"]
        ]
    if isinstance(step.get("expectations"), list):
        step["expectations"] = [
            _ordered(e, ("kind", "path", *EXPECTATION_OPERATORS)) if isinstance(e, dict) else e
            for e in step["expectations"]
        ]
    return step


# --- API steps -------------------------------------------------------------------------------------------


def clean_api_step(step: Any, index: int, problems: list[Problem]) -> dict[str, Any]:
    def problem(field: str, message: str) -> None:
        problems.append(Problem(index, field, message))

    if not isinstance(step, dict):
        problem("", "must be an object with a method and a target.")
        return {}
    unknown = [key for key in step if key not in API_STEP_KEYS]
    if unknown:
        problem(
            unknown[0],
            f"unknown field {', '.join(map(_quoted, unknown[:5]))}; a step has {', '.join(API_STEP_KEYS)}.",
        )

    method = step.get("method")
    if isinstance(method, str) and method.strip().upper() in METHODS:
        method = method.strip().upper()
    else:
        shown = f" (got {_short(method)})" if method not in (None, "") else ""
        problem("method", f"method must be one of {', '.join(METHODS)}{shown}.")
        method = method if isinstance(method, str) else ""

    target = step.get("target")
    if not isinstance(target, str) or not target.strip():
        problem("target", "target is required: the URL to call, e.g. ${API_BASE_URL}/users.")
        target = ""
    else:
        target = target.strip()
        if len(target) > TARGET_MAX:
            problem("target", f"target is longer than {TARGET_MAX} characters.")
        elif not TARGET_START.match(target):
            problem(
                "target",
                f"target must be an absolute http(s) URL or start with a variable such as "
                f"${{API_BASE_URL}} (got {_short(target)}).",
            )
        elif any(char.isspace() for char in target):
            problem("target", "target can't contain spaces or line breaks; encode them (%20).")

    name = step.get("name")
    if name is None or (isinstance(name, str) and not name.strip()):
        name = f"{method} {target}".strip() or f"Step {index + 1}"
    if not isinstance(name, str):
        problem("name", "name must be text.")
        name = ""
    name = " ".join(name.split())
    if len(name) > NAME_MAX:
        name = name[: NAME_MAX - 1].rstrip() + "…"

    headers = _clean_headers(step.get("headers"), problem)
    body = step.get("body")

    expected_status = step.get("expected_status")
    if expected_status is not None:
        if isinstance(expected_status, str) and expected_status.strip().isdigit():
            expected_status = int(expected_status.strip())
        if isinstance(expected_status, bool) or not isinstance(expected_status, int):
            problem(
                "expected_status",
                f"expected_status must be an HTTP status such as 200 (got {_short(expected_status)}).",
            )
            expected_status = None
        elif not 100 <= expected_status <= 599:
            problem(
                "expected_status", f"expected_status must be between 100 and 599 (got {expected_status})."
            )

    captures = _clean_captures(step.get("captures"), problem)
    expectations = _clean_expectations(step.get("expectations"), problem)

    flags = {}
    for flag in ("destructive", "security"):
        value = step.get(flag)
        if value is None:
            value = flag == "destructive" and method == "DELETE"
        elif not isinstance(value, bool):
            problem(flag, f"{flag} must be true or false (got {_short(value)}).")
            value = False
        flags[flag] = value

    return {
        "name": name,
        "method": method,
        "target": target,
        "headers": headers,
        "body": body,
        "expected_status": expected_status,
        "captures": captures,
        "expectations": expectations,
        **flags,
    }


def _clean_headers(headers: Any, problem) -> dict[str, str]:
    if headers is None:
        return {}
    if isinstance(headers, list):  # [{"key"/"name", "value"}], as Postman and many tools write them
        pairs = {}
        for item in headers:
            if not isinstance(item, dict):
                problem("headers", "headers must be an object of header names to text values.")
                return {}
            key = item.get("key", item.get("name"))
            pairs[key] = item.get("value")
        headers = pairs
    if not isinstance(headers, dict):
        problem("headers", "headers must be an object of header names to text values.")
        return {}
    if len(headers) > MAX_HEADERS:
        problem("headers", f"at most {MAX_HEADERS} headers.")
        return {}
    clean = {}
    for key, value in headers.items():
        if not isinstance(key, str) or not HEADER_NAME.match(key.strip()):
            problem("headers", f"header name {_short(key)} is not a valid HTTP header name.")
            continue
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str):
            problem("headers", f"header {_quoted(key)} must have a text value (got {_short(value)}).")
            continue
        if "\n" in value or "\r" in value:
            problem("headers", f"header {_quoted(key)} can't contain a line break.")
            continue
        if len(value) > HEADER_MAX:
            problem("headers", f"header {_quoted(key)} is longer than {HEADER_MAX} characters.")
            continue
        clean[key.strip()] = value
    return clean


def _clean_captures(captures: Any, problem) -> list[dict[str, str]]:
    if captures is None:
        return []
    if isinstance(captures, dict):  # {"userId": "$.id"}: a shorthand people write
        captures = [{"as": name, "from": path} for name, path in captures.items()]
    if not isinstance(captures, list):
        problem("captures", 'captures must be a list of {"as": name, "from": JSONPath}.')
        return []
    if len(captures) > MAX_CAPTURES:
        problem("captures", f"at most {MAX_CAPTURES} captures.")
        return []
    clean = []
    for number, capture in enumerate(captures, start=1):
        if not isinstance(capture, dict) or set(capture) - {"as", "from"}:
            problem("captures", f'capture {number} must be {{"as": name, "from": JSONPath}}.')
            continue
        name, path = capture.get("as"), capture.get("from")
        if not isinstance(name, str) or not VARIABLE_NAME_RE.fullmatch(name.strip()):
            problem(
                "captures",
                f"capture {number}: “as” must be a variable name (letters, digits and _, not starting "
                f"with a digit), got {_short(name)}.",
            )
            continue
        if len(name.strip()) > VARIABLE_NAME_MAX_LENGTH:
            problem(
                "captures", f"capture {number}: “as” is longer than {VARIABLE_NAME_MAX_LENGTH} characters."
            )
            continue
        error = jsonpath_error(path)
        if error:
            problem("captures", f"capture {number} ({name.strip()}): “from” {error}")
            continue
        clean.append({"as": name.strip(), "from": path.strip()})
    return clean


def _clean_expectations(expectations: Any, problem) -> list[dict[str, Any]]:
    if expectations is None:
        return []
    if not isinstance(expectations, list):
        problem(
            "expectations",
            'expectations must be a list such as [{"kind": "jsonpath", "path": "$.id", "exists": true}].',
        )
        return []
    if len(expectations) > MAX_EXPECTATIONS:
        problem("expectations", f"at most {MAX_EXPECTATIONS} expectations.")
        return []
    operators = ", ".join(EXPECTATION_OPERATORS)
    clean = []
    for number, expectation in enumerate(expectations, start=1):
        if not isinstance(expectation, dict):
            problem(
                "expectations", f"expectation {number} must be an object with a kind, a path and an operator."
            )
            continue
        kind = expectation.get("kind", "jsonpath")
        if kind not in EXPECTATION_KINDS:
            problem(
                "expectations",
                f"expectation {number}: kind must be {' or '.join(EXPECTATION_KINDS)} (got {_short(kind)}).",
            )
            continue
        error = jsonpath_error(expectation.get("path"))
        if error:
            problem("expectations", f"expectation {number}: “path” {error}")
            continue
        used = [key for key in expectation if key in EXPECTATION_OPERATORS]
        unknown = [key for key in expectation if key not in ("kind", "path", *EXPECTATION_OPERATORS)]
        if unknown:
            problem(
                "expectations",
                f"expectation {number}: unknown field {', '.join(map(_quoted, unknown[:5]))}; "
                f"use one of {operators}.",
            )
            continue
        if len(used) != 1:
            problem("expectations", f"expectation {number} needs exactly one of {operators}.")
            continue
        operator, value = used[0], expectation[used[0]]
        if operator == "exists" and not isinstance(value, bool):
            problem("expectations", f"expectation {number}: “exists” must be true or false.")
            continue
        if operator in ("greater_than", "less_than") and (
            isinstance(value, bool) or not isinstance(value, (int, float))
        ):
            problem("expectations", f"expectation {number}: “{operator}” must be a number.")
            continue
        if operator == "matches":
            if not isinstance(value, str):
                problem(
                    "expectations", f"expectation {number}: “matches” must be a regular expression as text."
                )
                continue
            try:
                re.compile(value)
            except re.error as error:
                problem(
                    "expectations",
                    f"expectation {number}: “matches” is not a valid regular expression ({error}).",
                )
                continue
        clean.append({"kind": kind, "path": expectation["path"].strip(), operator: value})
    return clean


def jsonpath_error(path: Any) -> str:
    """Why `path` is not a usable JSONPath (starting at `$`), as the end of a sentence; "" if it is."""
    if not isinstance(path, str) or not path.strip():
        return "is required: a JSONPath such as $.id."
    path = path.strip()
    if not path.startswith("$"):
        return f"must be a JSONPath starting with $, such as $.{path.lstrip('.')} (got {_short(path)})."
    try:
        jsonpath.compile(path)
    except jsonpath.JSONPathError as error:
        reason = str(error).splitlines()[0]
        return f"{_short(path)} is not a valid JSONPath ({reason})."
    return ""


# --- UI steps --------------------------------------------------------------------------------------------


def clean_ui_step(step: Any, index: int, problems: list[Problem]) -> dict[str, Any]:
    def problem(field: str, message: str) -> None:
        problems.append(Problem(index, field, message))

    if not isinstance(step, dict):
        problem("", "must be an object with an action.")
        return {}
    unknown = [key for key in step if key not in UI_STEP_KEYS]
    if unknown:
        problem(
            unknown[0],
            f"unknown field {', '.join(map(_quoted, unknown[:5]))}; a UI step has {', '.join(UI_STEP_KEYS)}.",
        )
    action = step.get("action")
    if action not in UI_ACTIONS:
        problem("action", f"action must be one of {', '.join(UI_ACTIONS)} (got {_short(action)}).")
        action = action if isinstance(action, str) else ""
    clean: dict[str, Any] = {"name": "", "action": action}
    for key in ("selector", "value", "url"):
        value = step.get(key)
        if value is not None and not isinstance(value, str):
            problem(key, f"{key} must be text.")
            value = None
        if value is not None:
            clean[key] = value
    for key in STEP_REQUIRES.get(action, ()):
        value = clean.get(key)
        if value is None or (not value.strip() and not (action == "fill" and key == "value")):
            problem(key, f"{action} needs a {key}.")
    name = step.get("name")
    if not isinstance(name, str) or not name.strip():
        name = (
            " ".join(filter(None, (action, clean.get("url") or clean.get("selector") or "")))
            or f"Step {index + 1}"
        )
    clean["name"] = " ".join(name.split())[:NAME_MAX]
    return clean


# --- helpers ---------------------------------------------------------------------------------------------


def _nul_character(steps: list[Any]) -> int | None:
    """The index of the first step holding a NUL character anywhere (PostgreSQL's jsonb refuses it)."""
    for index, step in enumerate(steps):
        stack = [step]
        while stack:
            value = stack.pop()
            if isinstance(value, str) and "\x00" in value:
                return index
            if isinstance(value, dict):
                stack.extend(value.keys())
                stack.extend(value.values())
            elif isinstance(value, list):
                stack.extend(value)
    return None


def _quoted(value: Any) -> str:
    return f"“{str(value)[:40]}”"


def _short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else f"“{value}”"
    return text if len(text) <= 60 else text[:59] + "…"
