"""Scenario drafts written by the project's model (SPEC §9, issue 11 point 5).

`draft_scenario(project, user, description, openapi)` asks the gateway (`source=scenario_generation`) for
one API scenario as JSON and reads the answer into a `Draft`: the fields, the steps, and the problems
qa.steps found in them. Nothing is saved here: the person reviews and edits the draft, and saving it is
qa.doors.create_scenario (as a draft). A refused call raises the gateway's LlmError, with its message.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from byok import gateway
from byok.playground import models_for
from qa.models import Priority
from qa.steps import EXPECTATION_OPERATORS, Problem, check_steps
from usage.models import LlmUsageLog

SOURCE = LlmUsageLog.Source.SCENARIO_GENERATION
OPENAPI_IN_PROMPT = 60_000  # characters of the pasted document the model is shown
MAX_TOKENS = 4096

SYSTEM = f"""You write API test scenarios for Qodex, a QA platform. Answer with ONE JSON object and nothing
else (no prose, no code fence):
{{"name": "short title", "description": "one or two sentences", "priority": "critical|high|medium|low",
 "tags": ["lowercase", "words"], "steps": [step, ...]}}
A step is:
{{"name": "what it does", "method": "GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS",
 "target": "${{API_BASE_URL}}/path", "headers": {{"Name": "value"}}, "body": <JSON or null>,
 "expected_status": 200, "captures": [{{"as": "userId", "from": "$.id"}}],
 "expectations": [{{"kind": "jsonpath", "path": "$.id", "exists": true}}],
 "destructive": false, "security": false}}
Rules:
- Every target starts with ${{API_BASE_URL}}. Use ${{authEmail}} and ${{authPassword}} for the test
  account's credentials; never invent secrets.
- Pass values between steps with captures (a JSONPath into the response body) and use them later as ${{name}}.
- An expectation is a JSONPath with exactly one of: {", ".join(EXPECTATION_OPERATORS)}.
- Set "destructive": true on steps that delete or irreversibly change data, "security": true on steps that
  probe for vulnerabilities.
- Prefer 3 to 10 steps that check real behaviour, including at least one failure case when it fits."""


@dataclass
class Draft:
    """A scenario as the model proposed it, ready for review."""

    name: str = ""
    description: str = ""
    priority: str = Priority.MEDIUM
    tags: list[str] = field(default_factory=list)
    steps: list[Any] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    reply: str = ""  # the model's answer as it came

    @property
    def steps_json(self) -> str:
        return json.dumps(self.steps, indent=2, ensure_ascii=False)


class UnusableReply(Exception):
    """The model answered, but not with a scenario; `.reply` is what it said."""

    def __init__(self, message: str, reply: str):
        super().__init__(message)
        self.message, self.reply = message, reply


def messages_for(description: str, openapi: str = "") -> list[dict[str, str]]:
    request = f"Write a scenario that tests this:\n{description.strip()}"
    openapi = openapi.strip()
    if openapi:
        shown = openapi[:OPENAPI_IN_PROMPT]
        cut = " (cut short)" if len(openapi) > OPENAPI_IN_PROMPT else ""
        request += f"\n\nThe API's OpenAPI document{cut}:\n{shown}"
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": request}]


def draft_scenario(project, user, description: str, openapi: str = "") -> Draft:
    """Ask the project's model for a scenario; LlmError when the call is refused or fails, UnusableReply
    when the answer holds no scenario."""
    reply = gateway.complete(
        project,
        source=SOURCE,
        user=user,
        model=models_for(project).default or None,  # as the chat: the credential's or the platform's
        messages=messages_for(description, openapi),
        max_tokens=MAX_TOKENS,
        temperature=0.2,
    )
    return read_reply(reply.text)


def _json_object(text: str) -> Any:
    """The JSON object in a reply: the whole text, a fenced block, or the outermost braces."""
    candidates = [text.strip()]
    candidates += re.findall(r"```(?:json)?\s*(.*?)```", text, re.DOTALL)
    if "{" in text and "}" in text:
        candidates.append(text[text.index("{") : text.rindex("}") + 1])
    for candidate in candidates:
        try:
            value = json.loads(candidate)
        except ValueError:
            continue
        if isinstance(value, dict):
            return value
    return None


def read_reply(text: str) -> Draft:
    """The draft in the model's answer, with the problems qa.steps finds in its steps."""
    found = _json_object(text or "")
    if isinstance(found, dict) and isinstance(found.get("scenario"), dict):
        found = found["scenario"]
    if not isinstance(found, dict) or not isinstance(found.get("steps"), list):
        raise UnusableReply(
            "The model’s answer wasn’t a scenario (no JSON object with steps). Try again, or describe the "
            "flow in more detail.",
            text or "",
        )
    steps = [_anchored(step) for step in found["steps"]]
    _, problems = check_steps(steps, "api")
    priority = found.get("priority") if found.get("priority") in Priority.values else Priority.MEDIUM
    tags = found.get("tags") if isinstance(found.get("tags"), list) else []
    return Draft(
        name=" ".join(str(found.get("name") or "Generated scenario").split())[:200],
        description=str(found.get("description") or "")[:10_000],
        priority=priority,
        tags=[str(tag) for tag in tags][:20],
        steps=steps,
        problems=problems,
        reply=text,
    )


def _anchored(step: Any) -> Any:
    """A relative target (`/users`) is read against the environment's API base URL."""
    if isinstance(step, dict) and isinstance(step.get("target"), str) and step["target"].startswith("/"):
        return {**step, "target": "${API_BASE_URL}" + step["target"]}
    return step
