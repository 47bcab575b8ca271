"""Scenarios into Qodex (SPEC §9): read our own document or a Postman Collection (v2.1, and v2.0) into
scenario drafts. Reads only: qa.doors.import_scenarios checks each draft (qa.steps for the steps) and
creates them, renaming clashing names.

Postman, as Qodex reads it:
- each top-level folder is a scenario (sub-folders' requests join it in order, named "Sub / Request");
  requests outside any folder form one scenario named after the collection;
- a request is a step: method, URL (`{{var}}` → `${var}`, `:id` path variables filled in), enabled
  headers, the body (raw JSON → a JSON value, raw text as text, URL-encoded and form fields as a
  URL-encoded text, GraphQL as {query, variables}), and auth (request, else folder, else collection):
  bearer and API-key-in-header become headers; a literal credential is never copied, `${authToken}` /
  `${apiKey}` stand in for it;
- test scripts give what is easy to read for sure: `pm.response.to.have.status(N)` → `expected_status`,
  `pm.environment.set("x", pm.response.json().a.b)` (or through `var data = pm.response.json()`) → a
  capture `$.a.b`, `pm.expect(<that>).to.eql(<literal>)` / `.to.exist` → expectations. Every script is
  also kept whole, as the scenario's "Postman scripts" (JavaScript), so nothing is lost.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from environments.models import BUILTIN_VARIABLES
from qodex.doors import Invalid

FORMAT = "qodex.scenarios"
SUPPORTED_VERSIONS = (1,)
SCENARIO_KEYS = {"name", "description", "type", "status", "priority", "tags", "steps", "scripts"}
IGNORED_KEYS = {"id", "created_at", "updated_at"}  # what other tools add; ours never carries them
POSTMAN_VARIABLE = re.compile(r"\{\{\s*([^{}]+?)\s*\}\}")
MAX_DEPTH = 20  # folders within folders


@dataclass
class Imported:
    """What a document holds: its `format` ("qodex" or "postman") and scenario drafts (plain dicts with
    the fields of qa.doors.clean_scenario, plus `scripts`)."""

    format: str
    scenarios: list[dict[str, Any]] = field(default_factory=list)


def refused(message: str) -> Invalid:
    """A refusal of the whole document, its sentence as the message (the API's and the form's)."""
    return Invalid(message, fields={"document": [message]})


def load(text: str) -> Any:
    """Parse pasted or uploaded text as JSON, or refuse saying where it breaks."""
    if not isinstance(text, str) or not text.strip():
        raise refused("Paste an exported document or choose a file.")
    try:
        return json.loads(text)
    except ValueError as error:
        where = f" (line {error.lineno}, column {error.colno})" if hasattr(error, "lineno") else ""
        raise refused(f"This is not valid JSON{where}.") from None


def read(document: Any) -> Imported:
    """The scenario drafts of `document`: our export or a Postman collection; Invalid otherwise."""
    if isinstance(document, dict) and "format" in document:
        return _qodex(document)
    if isinstance(document, dict) and isinstance(document.get("info"), dict) and "item" in document:
        return _postman(document)
    if isinstance(document, dict) and isinstance(document.get("collection"), dict):
        return read(document["collection"])  # the Postman API wraps a collection this way
    raise refused(
        'This is neither a Qodex scenarios export ({"format": "qodex.scenarios", "version": 1, …}) nor a '
        "Postman Collection v2.1.",
    )


# --- ours ------------------------------------------------------------------------------------------------


def _qodex(document: dict[str, Any]) -> Imported:
    if document.get("format") != FORMAT:
        raise refused(f"Unknown format {json.dumps(document.get('format'))[:60]}; expected “{FORMAT}”.")
    version = document.get("version")
    if version not in SUPPORTED_VERSIONS:
        raise refused(
            f"This document is version {json.dumps(version)[:20]}; this Qodex reads version "
            f"{', '.join(map(str, SUPPORTED_VERSIONS))}.",
        )
    scenarios = document.get("scenarios")
    if not isinstance(scenarios, list):
        raise refused("“scenarios” must be a list of scenarios.")
    drafts = []
    for number, scenario in enumerate(scenarios, start=1):
        if not isinstance(scenario, dict):
            raise refused(f"Scenario {number} must be an object with a name and steps.")
        unknown = sorted(set(scenario) - SCENARIO_KEYS - IGNORED_KEYS)
        if unknown:
            raise refused(
                f"Scenario {number}: unknown field {', '.join(unknown[:5])}; a scenario has "
                f"{', '.join(sorted(SCENARIO_KEYS))}.",
            )
        scripts = scenario.get("scripts", [])
        if not isinstance(scripts, list):
            raise refused(f"Scenario {number}: “scripts” must be a list.")
        drafts.append({key: value for key, value in scenario.items() if key in SCENARIO_KEYS})
    return Imported("qodex", drafts)


# --- Postman ---------------------------------------------------------------------------------------------


def from_postman_text(text: str) -> str:
    """`{{name}}` → `${name}`; a literal `${` in Postman text stays literal (`$${`)."""
    return POSTMAN_VARIABLE.sub(lambda m: "${" + m.group(1) + "}", text.replace("${", "$${"))


def _text(value: Any) -> str:
    """Postman writes some texts as a string or as {"content": …}."""
    if isinstance(value, dict):
        value = value.get("content")
    return value if isinstance(value, str) else ""


def _pairs(entries: Any) -> list[tuple[str, str]]:
    """Enabled key/value pairs of a Postman list ([{key, value, disabled}])."""
    pairs = []
    for entry in entries if isinstance(entries, list) else []:
        if isinstance(entry, dict) and not entry.get("disabled") and isinstance(entry.get("key"), str):
            value = entry.get("value")
            pairs.append(
                (entry["key"], value if isinstance(value, str) else "" if value is None else str(value))
            )
    return pairs


def _auth_params(auth: dict[str, Any], kind: str) -> dict[str, str]:
    params = auth.get(kind)
    if isinstance(params, dict):  # v2.0
        return {key: str(value) for key, value in params.items()}
    return dict(_pairs(params))


@dataclass
class _Context:
    collection: str
    notes: set[str] = field(default_factory=set)
    scripts: list[str] = field(default_factory=list)
    variables: set[str] = field(default_factory=set)


def _postman(document: dict[str, Any]) -> Imported:
    info = document["info"]
    schema = info.get("schema") if isinstance(info.get("schema"), str) else ""
    if "v1." in schema:
        raise refused("Postman v1 collections aren’t supported: export it as Collection v2.1.")
    items = document.get("item")
    if not isinstance(items, list):
        raise refused("A Postman collection’s “item” must be a list of requests and folders.")
    name = " ".join(_text(info.get("name")).split()) or "Postman collection"
    auth = document.get("auth") if isinstance(document.get("auth"), dict) else None
    root_events = document.get("event")
    drafts = []
    loose = [item for item in items if isinstance(item, dict) and not _is_folder(item)]
    if loose:
        context = _Context(collection=name)
        _events(root_events, "Collection", context)
        steps = _steps(loose, auth, "", context, 0)
        drafts.append(_draft(name, _text(info.get("description")), steps, context))
    for item in items:
        if isinstance(item, dict) and _is_folder(item):
            context = _Context(collection=name)
            _events(root_events, "Collection", context)
            folder_auth = _inherit(item.get("auth"), auth)
            _events(item.get("event"), f"Folder {item.get('name', '')}", context)
            steps = _steps(item["item"], folder_auth, "", context, 1)
            folder_name = " ".join(_text(item.get("name")).split()) or name
            drafts.append(_draft(folder_name, _text(item.get("description")), steps, context))
    return Imported("postman", drafts)


def _is_folder(item: dict[str, Any]) -> bool:
    return isinstance(item.get("item"), list) and "request" not in item


def _inherit(auth: Any, parent: dict[str, Any] | None) -> dict[str, Any] | None:
    if not isinstance(auth, dict) or auth.get("type") == "inherit":
        return parent
    return auth


def _steps(items: list[Any], auth, prefix: str, context: _Context, depth: int) -> list[dict[str, Any]]:
    if depth > MAX_DEPTH:
        raise refused(f"Folders nest deeper than {MAX_DEPTH} levels.")
    steps = []
    for item in items:
        if not isinstance(item, dict):
            continue
        name = " ".join(_text(item.get("name")).split())
        if _is_folder(item):
            _events(item.get("event"), f"Folder {name}", context)
            steps += _steps(
                item["item"], _inherit(item.get("auth"), auth), f"{prefix}{name} / ", context, depth + 1
            )
        elif "request" in item:
            steps.append(_step(item, f"{prefix}{name}" if name else "", auth, context))
    return steps


def _url(url: Any) -> str:
    if isinstance(url, str):
        return url
    if not isinstance(url, dict):
        return ""
    raw = url.get("raw")
    if isinstance(raw, str) and raw.strip():
        target = raw.strip()
    else:
        host = url.get("host")
        host = ".".join(map(str, host)) if isinstance(host, list) else str(host or "")
        path = url.get("path")
        path = "/".join(map(str, path)) if isinstance(path, list) else str(path or "").lstrip("/")
        protocol = url.get("protocol")
        target = (f"{protocol}://" if isinstance(protocol, str) and protocol else "") + host
        target += f"/{path}" if path else ""
        query = _pairs(url.get("query"))
        if query:
            target += "?" + "&".join(f"{key}={value}" for key, value in query)
    for key, value in _pairs(url.get("variable")):  # path variables: /users/:id
        target = re.sub(rf"(?<=/):{re.escape(key)}(?=/|\?|#|$)", value, target)
    return target


def _target(url: Any) -> str:
    target = from_postman_text(_url(url).strip())
    if target.startswith("/"):
        return "${apiBaseUrl}" + target
    if target and not re.match(r"^(https?://|\$\{)", target, re.IGNORECASE):
        return "https://" + target  # Postman lets a URL leave out its scheme
    return target


def _step(item: dict[str, Any], name: str, auth, context: _Context) -> dict[str, Any]:
    request = item["request"]
    if isinstance(request, str):  # v2.0 allows a bare URL
        request = {"url": request, "method": "GET"}
    if not isinstance(request, dict):
        request = {}
    method = request.get("method") if isinstance(request.get("method"), str) else "GET"
    headers_source = request.get("header")
    if isinstance(headers_source, str):  # "Name: value\n…"
        pairs = [
            tuple(part.strip() for part in line.split(":", 1))
            for line in headers_source.splitlines()
            if ":" in line
        ]
    else:
        pairs = _pairs(headers_source)
    headers = {key: from_postman_text(value) for key, value in pairs}
    step: dict[str, Any] = {"name": name, "method": method.upper(), "target": _target(request.get("url"))}
    body = _body(request.get("body"), headers, context)
    _auth(_inherit(request.get("auth"), auth), headers, step, context)
    step["headers"] = headers
    step["body"] = body
    tests = _events(item.get("event"), f"Request {name}", context)
    step.update(_checks(tests))
    return step


def _header(headers: dict[str, str], name: str) -> str | None:
    return next((value for key, value in headers.items() if key.lower() == name.lower()), None)


def _body(body: Any, headers: dict[str, str], context: _Context) -> Any:
    if not isinstance(body, dict) or body.get("disabled"):
        return None
    mode = body.get("mode")
    if mode == "raw":
        raw = body.get("raw") if isinstance(body.get("raw"), str) else ""
        if not raw.strip():
            return None
        text = from_postman_text(raw)
        language = (
            (((body.get("options") or {}).get("raw") or {}).get("language"))
            if isinstance(body.get("options"), dict)
            else None
        )
        looks_json = language == "json" or "json" in (_header(headers, "Content-Type") or "").lower()
        if looks_json or raw.lstrip()[:1] in ("{", "["):
            try:
                return json.loads(text)
            except ValueError:
                return text  # e.g. an unquoted {{number}}: sent as the text it is
        return text
    if mode in ("urlencoded", "formdata"):
        fields = body.get(mode) if isinstance(body.get(mode), list) else []
        if mode == "formdata" and any(isinstance(f, dict) and f.get("type") == "file" for f in fields):
            context.notes.add("File fields of form-data bodies were left out.")
        pairs = [
            (k, from_postman_text(v))
            for k, v in _pairs([f for f in fields if isinstance(f, dict) and f.get("type") != "file"])
        ]
        if mode == "formdata":
            context.notes.add("Form-data bodies are sent URL-encoded.")
        if _header(headers, "Content-Type") is None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        return urlencode(pairs, safe="${}") if pairs else None
    if mode == "graphql":
        graphql = body.get("graphql") if isinstance(body.get("graphql"), dict) else {}
        variables: Any = graphql.get("variables") or {}
        if isinstance(variables, str):
            try:
                variables = json.loads(from_postman_text(variables)) if variables.strip() else {}
            except ValueError:
                variables = {}
        query = graphql.get("query") if isinstance(graphql.get("query"), str) else ""
        return {"query": from_postman_text(query), "variables": variables}
    if mode == "file":
        context.notes.add("File bodies were left out.")
    return None


def _credential(value: str, stand_in: str, context: _Context) -> str:
    """A variable is kept as a variable; a literal credential is never copied into a scenario."""
    value = value.strip()
    if POSTMAN_VARIABLE.fullmatch(value):
        return from_postman_text(value)
    if value:
        context.notes.add(
            f"A credential written into the collection was not copied: ${{{stand_in}}} stands in for it."
        )
    return "${" + stand_in + "}"


def _auth(
    auth: dict[str, Any] | None, headers: dict[str, str], step: dict[str, Any], context: _Context
) -> None:
    if not auth or auth.get("type") in (None, "noauth"):
        return
    kind = auth["type"]
    params = _auth_params(auth, kind)
    if kind == "bearer":
        if _header(headers, "Authorization") is None:
            headers["Authorization"] = "Bearer " + _credential(params.get("token", ""), "authToken", context)
    elif kind == "apikey":
        key = params.get("key") or "X-API-Key"
        value = _credential(params.get("value", ""), "apiKey", context)
        if params.get("in") == "query":
            separator = "&" if "?" in step["target"] else "?"
            step["target"] += f"{separator}{from_postman_text(key)}={value}"
        elif _header(headers, key) is None:
            headers[from_postman_text(key)] = value
    else:
        context.notes.add(
            f"{kind.capitalize()} authentication is not carried over: set it on your environment "
            "(Settings → Environments)."
        )


def _events(events: Any, where: str, context: _Context) -> str:
    """Keep every script of `events` for the scenario's "Postman scripts"; return the test script."""
    tests = ""
    for event in events if isinstance(events, list) else []:
        if not isinstance(event, dict) or not isinstance(event.get("script"), dict):
            continue
        exec_ = event["script"].get("exec")
        source = (
            "\n".join(line for line in exec_ if isinstance(line, str))
            if isinstance(exec_, list)
            else _text(exec_)
        )
        if not source.strip():
            continue
        listen = event.get("listen") if isinstance(event.get("listen"), str) else "script"
        context.scripts.append(f"// {where}: {listen}\n{source.rstrip()}\n")
        if listen == "test":
            tests += source + "\n"
    return tests


STATUS_TESTS = (
    re.compile(r"pm\.response\.to\.have\.status\(\s*(\d{3})\s*\)"),
    re.compile(
        r"pm\.expect\(\s*pm\.response\.(?:code|status)\s*\)\.to\.(?:eql|equal|eq|be\.equal)\(\s*(\d{3})\s*\)"
    ),
    re.compile(r"responseCode\.code\s*===?\s*(\d{3})"),
)
RESPONSE_JSON = r"(?:pm\.response\.json\(\)|JSON\.parse\(\s*responseBody\s*\))"
JSON_ALIAS = re.compile(rf"(?:var|let|const)\s+([A-Za-z_$][\w$]*)\s*=\s*{RESPONSE_JSON}")
ACCESSOR = r"((?:\.[A-Za-z_$][\w$]*|\[\d+\]|\[\s*[\"'][^\"'\]]+[\"']\s*\])*)"
SET_VARIABLE = (
    r"pm\.(?:environment|collectionVariables|globals|variables)\.set\(\s*[\"']([A-Za-z_]\w*)[\"']\s*,\s*"
)
LITERAL = r"(\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*'|-?\d+(?:\.\d+)?|true|false|null)"


def _jsonpath(accessor: str) -> str:
    """`.data.items[0]["full name"]` → `$.data.items[0]['full name']`."""
    path = re.sub(r"\[\s*[\"']([^\"'\]]+)[\"']\s*\]", lambda m: "['" + m.group(1) + "']", accessor)
    return "$" + path


def _literal(text: str) -> Any:
    if text.startswith("'"):
        text = json.dumps(text[1:-1].replace("\\'", "'"))
    return json.loads(text)


def _checks(tests: str) -> dict[str, Any]:
    """What a test script says for sure: the expected status, captures and simple expectations."""
    found: dict[str, Any] = {}
    for pattern in STATUS_TESTS:
        match = pattern.search(tests)
        if match:
            found["expected_status"] = int(match.group(1))
            break
    sources = [RESPONSE_JSON] + [re.escape(alias) for alias in JSON_ALIAS.findall(tests)]
    source = "(?:" + "|".join(sources) + ")"
    captures = [
        {"as": name, "from": _jsonpath(accessor)}
        for name, accessor in re.findall(SET_VARIABLE + source + ACCESSOR + r"\s*\)", tests)
    ]
    if captures:
        found["captures"] = captures
    expectations = []
    expect = r"pm\.expect\(\s*" + source + ACCESSOR + r"\s*\)\.to\."
    for accessor, literal in re.findall(
        expect + r"(?:eql|equal|eq|be\.equal)\(\s*" + LITERAL + r"\s*\)", tests
    ):
        if accessor:
            expectations.append(
                {"kind": "jsonpath", "path": _jsonpath(accessor), "equals": _literal(literal)}
            )
    for accessor in re.findall(expect + r"(?:exist|be\.ok|not\.be\.undefined)\b", tests):
        if accessor:
            expectations.append({"kind": "jsonpath", "path": _jsonpath(accessor), "exists": True})
    if expectations:
        found["expectations"] = expectations
    return found


def _draft(name: str, description: str, steps, context: _Context) -> dict[str, Any]:
    used = set()
    for step in steps:
        used |= set(re.findall(r"(?<!\$)\$\{([^{}]+)\}", json.dumps(step)))
    captured = {capture["as"] for step in steps for capture in step.get("captures", [])}
    needed = sorted(used - captured - set(BUILTIN_VARIABLES) - set(BUILTIN_VARIABLES.values()))
    lines = [description.strip()] if description.strip() else []
    lines.append(f"Imported from the Postman collection “{context.collection}”.")
    dynamic = [name for name in needed if name.startswith("$")]
    needed = [name for name in needed if not name.startswith("$")]
    if needed:
        lines.append(f"Define these variables on your environments: {', '.join(needed)}.")
    if dynamic:
        lines.append(f"Postman’s dynamic variables have no Qodex equivalent: {', '.join(dynamic)}.")
    lines += sorted(context.notes)
    draft: dict[str, Any] = {
        "name": name,
        "description": "\n".join(lines),
        "type": "api",
        "tags": ["postman"],
        "steps": steps,
    }
    if context.scripts:
        draft["scripts"] = [
            {"name": "Postman scripts", "language": "javascript", "source": "\n".join(context.scripts)}
        ]
    return draft
