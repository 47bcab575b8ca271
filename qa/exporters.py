"""Scenarios out of Qodex (SPEC §9): our own document, lossless, and a Postman Collection v2.1.

A read, not a door: nothing changes. Our document

    {"format": "qodex.scenarios", "version": 1, "exported_at": "…",
     "scenarios": [{"name", "description", "type", "status", "priority", "tags", "steps",
                    "scripts": [{"name", "language", "source"}]}]}

carries every field a scenario has, steps exactly as stored (qa.steps' canonical form), so importing it
(qa.importers) gives back the same scenarios. The Postman collection has one folder per API scenario
and one request per step, with `${var}` written as `{{var}}`, the expected status as a
`pm.response.to.have.status(N)` test, and simple captures and expectations as Postman script lines;
what Postman can't express (other JSONPaths, the destructive and security flags) is left out of it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

from django.utils import timezone

from environments.rendering import PLACEHOLDER_RE
from qa.models import Scenario
from qa.steps import in_order

FORMAT = "qodex.scenarios"
VERSION = 1
POSTMAN_SCHEMA = "https://schema.getpostman.com/json/collection/v2.1.0/collection.json"
# A JSONPath that reads as a JavaScript accessor: `$.data.items[0].id`.
SIMPLE_PATH = re.compile(r"^\$((?:\.[A-Za-z_$][\w$]*|\[\d+\])*)$")


class NothingToExport(Exception):
    """The Postman format was asked for scenarios that are all UI scenarios."""


def scenario_entry(scenario: Scenario) -> dict[str, Any]:
    """One scenario as our document holds it (its scripts read from `scenario.scripts`, prefetched)."""
    scripts = sorted(scenario.scripts.all(), key=lambda script: script.pk)
    return {
        "name": scenario.name,
        "description": scenario.description,
        "type": scenario.type,
        "status": scenario.status,
        "priority": scenario.priority,
        "tags": list(scenario.tags),
        "steps": in_order(scenario.steps),
        "scripts": [
            {"name": script.name, "language": script.language, "source": script.source} for script in scripts
        ],
    }


def qodex_document(scenarios: Iterable[Scenario]) -> dict[str, Any]:
    """Our document: every field of every scenario, steps as stored, with their scripts."""
    return {
        "format": FORMAT,
        "version": VERSION,
        "exported_at": timezone.now().isoformat().replace("+00:00", "Z"),
        "scenarios": [scenario_entry(scenario) for scenario in scenarios],
    }


# --- Postman Collection v2.1 ------------------------------------------------------------------------------


def to_postman_text(text: str) -> str:
    """`${name}` → `{{name}}`; an escaped `$${name}` is the literal `${name}`."""

    def replace(match: re.Match) -> str:
        escaped, name = match.group(1), match.group(2)
        return "${" + name + "}" if escaped else "{{" + name.strip() + "}}"

    return PLACEHOLDER_RE.sub(replace, text)


def _postman_value(value: Any) -> Any:
    if isinstance(value, str):
        return to_postman_text(value)
    if isinstance(value, dict):
        return {key: _postman_value(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_postman_value(item) for item in value]
    return value


def js_accessor(path: str) -> str | None:
    """`$.data.items[0].id` → `pm.response.json().data.items[0].id`; None when the path is not that simple."""
    match = SIMPLE_PATH.match(path)
    return f"pm.response.json(){match.group(1)}" if match else None


def test_lines(step: dict[str, Any]) -> list[str]:
    """The step's checks as Postman test script lines (what qa.importers reads back)."""
    lines: list[str] = []
    if step.get("expected_status") is not None:
        status = step["expected_status"]
        lines.append(
            f'pm.test("Status is {status}", function () {{ pm.response.to.have.status({status}); }});'
        )
    for capture in step.get("captures") or []:
        accessor = js_accessor(str(capture.get("from", "")))
        if accessor:
            lines.append(f'pm.collectionVariables.set("{capture["as"]}", {accessor});')
        else:
            lines.append(
                f"// Qodex capture {capture['as']} = {capture['from']} (JSONPath) has no Postman line."
            )
    for expectation in step.get("expectations") or []:
        accessor = js_accessor(str(expectation.get("path", "")))
        label = json.dumps(expectation.get("path"))
        if accessor and expectation.get("exists") is True:
            lines.append(f"pm.test({label}, function () {{ pm.expect({accessor}).to.exist; }});")
        elif accessor and "equals" in expectation:
            value = json.dumps(expectation["equals"], ensure_ascii=False)
            lines.append(f"pm.test({label}, function () {{ pm.expect({accessor}).to.eql({value}); }});")
        else:
            lines.append(
                f"// Qodex expectation {json.dumps(expectation, ensure_ascii=False)} has no Postman line."
            )
    return lines


def postman_request(step: dict[str, Any]) -> dict[str, Any]:
    """One step as a Postman request item (read with .get: steps written before validation existed, or
    by hand in the admin, export too)."""
    method, target = str(step.get("method") or "GET"), str(step.get("target") or "")
    headers = step.get("headers") if isinstance(step.get("headers"), dict) else {}
    request: dict[str, Any] = {
        "method": method,
        "header": [
            {"key": key, "value": to_postman_text(str(value)), "type": "text"}
            for key, value in headers.items()
        ],
        "url": {"raw": to_postman_text(target)},
    }
    body = step.get("body")
    if isinstance(body, str):
        request["body"] = {"mode": "raw", "raw": to_postman_text(body)}
    elif body is not None:
        request["body"] = {
            "mode": "raw",
            "raw": json.dumps(_postman_value(body), indent=2, ensure_ascii=False),
            "options": {"raw": {"language": "json"}},
        }
    item: dict[str, Any] = {"name": str(step.get("name") or f"{method} {target}"), "request": request}
    lines = test_lines(step)
    if lines:
        item["event"] = [{"listen": "test", "script": {"type": "text/javascript", "exec": lines}}]
    return item


def postman_collection(scenarios: Iterable[Scenario], *, name: str) -> dict[str, Any]:
    """A Postman Collection v2.1: a folder per API scenario, a request per step. UI scenarios are left
    out (named in the description); NothingToExport when no API scenario is left."""
    folders, left_out, used = [], [], set()
    for scenario in scenarios:
        if scenario.type != Scenario.Type.API:
            left_out.append(scenario.name)
            continue
        used |= {
            match.group(2).strip()
            for match in PLACEHOLDER_RE.finditer(json.dumps(scenario.steps))
            if not match.group(1)
        }
        folder: dict[str, Any] = {
            "name": scenario.name,
            "item": [postman_request(step) for step in scenario.steps if isinstance(step, dict)],
        }
        if scenario.description:
            folder["description"] = scenario.description
        folders.append(folder)
    if not folders:
        raise NothingToExport("Postman collections hold API requests: there is no API scenario to export.")
    description = "Exported from Qodex. Define the variables below (or in a Postman environment) to run it."
    if left_out:
        description += f" Left out, as UI scenarios: {', '.join(left_out)}."
    return {
        "info": {"name": name, "description": description, "schema": POSTMAN_SCHEMA},
        "item": folders,
        "variable": [{"key": variable, "value": ""} for variable in sorted(used)],
    }
