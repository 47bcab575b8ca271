"""Doors of qa/ (docs/ARCHITECTURE.md). Members and up (SPEC §3: members create and edit chats,
memories, scenarios and runs); viewers read.

Chats: create, rename and delete a conversation, post a message and record the assistant's reply.
Memories: add, update and delete a project's, or an organization's org-wide ones (org admins: their scope
depends on the target, so these doors ask `actor.require` in their body).
Scenarios: create, update, duplicate, delete and import them (qa.importers reads the documents, qa.steps
checks the steps); add, update and delete their scripts; create, update and delete collections.
Test runs and findings: start a run (a scenario, a collection, or the webhook's pick), cancel it, re-run
what failed, triage a finding; rotate the webhook signing secret.

Sending is two doors around the gateway call, which runs outside any door: its usage row must outlive a
rollback, and a transaction must not stay open while a provider streams (qa/views.py).
"""

from __future__ import annotations

import copy
import math
import re
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, models, transaction
from django.db.models.functions import Lower
from django.utils import timezone

from environments.models import Environment
from projects import audit
from projects.access import Actor
from projects.models import Organization, Project, ProjectMember
from qa import runner, tasks
from qa.models import (
    TITLE_MAX,
    Collection,
    CollectionScenario,
    Conversation,
    Finding,
    Memory,
    Message,
    Priority,
    Scenario,
    Script,
    StepResult,
    TestRun,
    WebhookSecret,
    new_webhook_secret,
)
from qa.steps import clean_steps
from qodex import outbound
from qodex.doors import Conflict, Invalid, NotFound, door
from usage.models import LlmUsageLog

DEFAULT_TITLE = "New conversation"
MESSAGE_MAX = 20_000
AUTO_TITLE = 60  # a new conversation is named after the start of its first message


def clean_title(title: str | None) -> str:
    """A conversation title: trimmed, one line, not empty, at most TITLE_MAX characters."""
    title = " ".join((title or "").split())
    if not title:
        raise Invalid.field("title", "Give the conversation a title.")
    if len(title) > TITLE_MAX:
        raise Invalid.field("title", f"Keep the title under {TITLE_MAX} characters.")
    return title


def _own(project: Project, conversation: Conversation) -> None:
    if conversation.project_id != project.pk:
        raise NotFound("No such conversation.")


@door("chat.created", scope="project:write")
def create_conversation(actor: Actor, project: Project, title: str = "") -> Conversation:
    """A new, empty conversation ("New conversation" unless titled)."""
    title = clean_title(title) if (title or "").strip() else DEFAULT_TITLE
    conversation = Conversation.objects.create(project=project, title=title, created_by=actor.person)
    audit.record(actor, "chat.created", project=project, target=f"chat {conversation.pk}")
    return conversation


@door("chat.renamed", scope="project:write")
def rename_conversation(
    actor: Actor, project: Project, conversation: Conversation, title: str
) -> Conversation:
    _own(project, conversation)
    title = clean_title(title)
    if title != conversation.title:
        old, conversation.title, conversation.updated_at = conversation.title, title, timezone.now()
        conversation.save(update_fields=["title", "updated_at"])
        audit.record(
            actor,
            "chat.renamed",
            project=project,
            target=f"chat {conversation.pk}",
            details={"from": old, "to": title},
        )
    return conversation


@door("chat.deleted", scope="project:write")
def delete_conversation(actor: Actor, project: Project, conversation: Conversation) -> None:
    """The conversation and its messages; the usage rows of its replies stay (spend is never deleted)."""
    _own(project, conversation)
    audit.record(
        actor,
        "chat.deleted",
        project=project,
        target=f"chat {conversation.pk}",
        details={"title": conversation.title},
    )
    conversation.delete()


def clean_text(text: str | None) -> str:
    text = (text or "").strip()
    if not text:
        raise Invalid.field("text", "Write a message to send.")
    if len(text) > MESSAGE_MAX:
        raise Invalid.field("text", f"Keep a message under {MESSAGE_MAX:,} characters.")
    return text


@door("chat.message_sent", scope="project:write")
def post_message(actor: Actor, project: Project, conversation: Conversation, text: str) -> Message:
    """The person's message, saved before the assistant is asked. No audit event: messages are the
    conversation's content, not a change to the project's set-up, and the usage row of the call that
    answers records who spent what.

    Sending again the text of the last message, which went unanswered (the call was refused), retries it:
    the same message is answered, not a copy."""
    _own(project, conversation)
    text = clean_text(text)
    last = conversation.messages.order_by("-pk").first()
    if last is not None and last.role == Message.Role.USER and last.content == text:
        return last
    message = Message.objects.create(
        conversation=conversation, role=Message.Role.USER, content=text, created_by=actor.person
    )
    changes = {"updated_at": message.created_at}
    if last is None and conversation.title == DEFAULT_TITLE:
        title = " ".join(text.split())
        changes["title"] = title if len(title) <= AUTO_TITLE else title[: AUTO_TITLE - 1].rstrip() + "…"
    Conversation.objects.filter(pk=conversation.pk).update(**changes)
    return message


@door("chat.replied", scope="project:write")
def record_reply(
    actor: Actor, project: Project, conversation: Conversation, text: str, usage: LlmUsageLog | None
) -> Message:
    """The assistant's reply, linked to the usage row of the call that wrote it. No audit event (as
    post_message); NotFound if the conversation was deleted while the reply streamed."""
    _own(project, conversation)
    if not Conversation.objects.filter(pk=conversation.pk).exists():
        raise NotFound("This conversation was deleted.")
    message = Message.objects.create(
        conversation=conversation, role=Message.Role.ASSISTANT, content=text, usage=usage
    )
    Conversation.objects.filter(pk=conversation.pk).update(updated_at=message.created_at)
    return message


# --- Memories (SPEC §2): a project's, or org-wide ones (org admins) ------------------------------------

MEMORY_MAX = 20_000
INT64 = 2**63


def json_problem(value: Any, depth: int = 0) -> str | None:
    """Why `value` can't be stored and served as JSON (numbers beyond 64 bits, NaN, infinities), or None."""
    if depth > 32:
        return "is nested too deeply"
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return None
    if isinstance(value, int):
        return None if -INT64 <= value < INT64 else "holds an integer wider than 64 bits"
    if isinstance(value, float):
        return None if math.isfinite(value) else "holds a number that is not finite (NaN or infinity)"
    if isinstance(value, dict):
        return next((p for v in value.values() if (p := json_problem(v, depth + 1))), None)
    if isinstance(value, list):
        return next((p for v in value if (p := json_problem(v, depth + 1))), None)
    return "holds a value that is not JSON"


def _memory_scope(target: Project | Organization) -> str:
    return "project:write" if isinstance(target, Project) else "org:admin"


def _clean_memory(content: str | None, metadata: Any) -> tuple[str | None, Any]:
    if content is not None:
        content = content.strip()
        if not content:
            raise Invalid.field("content", "A memory needs some text.")
        if len(content) > MEMORY_MAX:
            raise Invalid.field("content", f"Keep a memory under {MEMORY_MAX:,} characters.")
    if metadata is not None:
        if not isinstance(metadata, dict):
            raise Invalid.field("metadata", "metadata must be a JSON object.")
        if problem := json_problem(metadata):
            raise Invalid.field("metadata", f"metadata {problem}.")
    return content, metadata


def _memory_of(target: Project | Organization, memory: Memory) -> Memory:
    if isinstance(target, Project):
        belongs = memory.project_id == target.pk
    else:
        belongs = memory.project_id is None and memory.organization_id == target.pk
    if not belongs:
        raise NotFound("No memory with this id here.", code="memory_not_found")
    return memory


@door("memory.created", scope=None)
def add_memory(
    actor: Actor, target: Project | Organization, content: str, metadata: dict | None = None
) -> Memory:
    """A memory of a project, or org-wide when `target` is the organization (org admins)."""
    actor.require(target, _memory_scope(target))
    content, metadata = _clean_memory(content, metadata if metadata is not None else {})
    project = target if isinstance(target, Project) else None
    try:
        memory = Memory.objects.add(
            project=project,
            organization=None if project else target,
            content=content,
            metadata=metadata,
            created_by=actor.person,
        )
    except ValidationError:
        raise NotFound("This project was deleted.", code="project_not_found") from None
    audit.record(
        actor,
        "memory.created",
        project=project,
        organization=memory.organization,
        target=f"memory {memory.pk}",
    )
    return memory


@door("memory.updated", scope=None)
def update_memory(
    actor: Actor,
    target: Project | Organization,
    memory: Memory,
    *,
    content: str | None = None,
    metadata: dict | None = None,
) -> Memory:
    actor.require(target, _memory_scope(target))
    _memory_of(target, memory)
    content, metadata = _clean_memory(content, metadata)
    if content is not None:
        memory.content = content
    if metadata is not None:
        memory.metadata = metadata
    memory.save(update_fields=["content", "metadata", "updated_at"])
    audit.record(
        actor,
        "memory.updated",
        project=memory.project,
        organization=memory.organization,
        target=f"memory {memory.pk}",
    )
    return memory


@door("memory.deleted", scope=None)
def delete_memory(actor: Actor, target: Project | Organization, memory: Memory) -> None:
    actor.require(target, _memory_scope(target))
    _memory_of(target, memory)
    pk, project, organization = memory.pk, memory.project, memory.organization
    memory.delete()
    audit.record(actor, "memory.deleted", project=project, organization=organization, target=f"memory {pk}")


# --- Scenarios, their scripts, collections, import (SPEC §9) ---------------------------------------------
# Members and up change them (SPEC §3); viewers read. Every change is one door with its audit event.

SCENARIO_NAME_MAX = 200
DESCRIPTION_MAX = 10_000
TAG_MAX = 40
MAX_TAGS = 20
TAG_RE = re.compile(r"^[\w][\w.:/+-]*$")
SCRIPT_SOURCE_MAX = 200_000
MAX_IMPORTED = 500
NUMBER_SUFFIX = re.compile(r" \(\d+\)$")  # “Login (2)”


SCENARIO_DEFAULTS = {
    "description": "",
    "type": Scenario.Type.API,
    "status": Scenario.Status.DRAFT,
    "priority": Priority.MEDIUM,
    "tags": [],
    "steps": [],
}
SCENARIO_FIELDS = ("name", *SCENARIO_DEFAULTS)


def clean_scenario_name(name: Any, *, what: str = "scenario") -> str:
    """A scenario (or collection) name: one line, trimmed, 1–200 characters."""
    if not isinstance(name, str) or not name.strip():
        raise Invalid.field("name", f"Give the {what} a name.")
    name = " ".join(name.split())
    if len(name) > SCENARIO_NAME_MAX:
        raise Invalid.field("name", f"Keep the name under {SCENARIO_NAME_MAX} characters.")
    if "\x00" in name:
        raise Invalid.field("name", "The name can’t contain a NUL character.")
    return name


def clean_tags(tags: Any) -> list[str]:
    """Tags: short lowercase words (spaces become dashes), each once, in the order given. A string is
    read as a comma-separated list (the page's input)."""
    if tags is None:
        return []
    if isinstance(tags, str):
        tags = tags.split(",")
    if not isinstance(tags, list) or not all(isinstance(tag, str) for tag in tags):
        raise Invalid.field("tags", 'Tags must be a list of short words, such as ["smoke", "checkout"].')
    clean: list[str] = []
    for tag in tags:
        tag = "-".join(tag.strip().lower().split())
        if not tag or tag in clean:
            continue
        if len(tag) > TAG_MAX or not TAG_RE.match(tag):
            raise Invalid.field(
                "tags",
                f"“{tag[:TAG_MAX]}” is not a usable tag: up to {TAG_MAX} letters, digits and . : / + - _, "
                "starting with a letter or digit.",
            )
        clean.append(tag)
    if len(clean) > MAX_TAGS:
        raise Invalid.field("tags", f"A scenario takes at most {MAX_TAGS} tags.")
    return clean


def _choice(value: Any, choices: type[models.TextChoices], field: str) -> str:
    if value not in choices.values:
        shown = " or ".join(f"“{v}”" for v in choices.values)
        raise Invalid.field(field, f"{field.capitalize()} must be {shown}.")
    return value


def _clean_description(description: Any) -> str:
    if description is None:
        return ""
    if not isinstance(description, str):
        raise Invalid.field("description", "The description must be text.")
    if len(description) > DESCRIPTION_MAX:
        raise Invalid.field("description", f"Keep the description under {DESCRIPTION_MAX:,} characters.")
    if "\x00" in description:
        raise Invalid.field("description", "The description can’t contain a NUL character.")
    return description.strip()


def clean_scenario(data: dict[str, Any]) -> dict[str, Any]:
    """Every field of a scenario (`name`, `description`, `type`, `status`, `priority`, `tags`, `steps`)
    checked and in canonical form; `Invalid` names every field with a problem at once."""
    clean: dict[str, Any] = {}
    problems: dict[str, list[str]] = {}
    checks = {
        "name": lambda v: clean_scenario_name(v),
        "description": _clean_description,
        "type": lambda v: _choice(v, Scenario.Type, "type"),
        "status": lambda v: _choice(v, Scenario.Status, "status"),
        "priority": lambda v: _choice(v, Priority, "priority"),
        "tags": clean_tags,
    }
    for field, check in checks.items():
        try:
            clean[field] = check(data.get(field))
        except Invalid as refusal:
            for name, messages in (refusal.fields or {field: [refusal.message]}).items():
                problems.setdefault(name or field, []).extend(messages)
    try:
        clean["steps"] = clean_steps(data.get("steps"), clean.get("type", Scenario.Type.API))
    except Invalid as refusal:
        problems.update(refusal.fields or {"steps": [refusal.message]})
    if problems:
        first = next(iter(problems.values()))[0]
        raise Invalid(
            first if len(problems) == 1 and len(first) < 300 else "Some fields are not valid.",
            fields=problems,
        )
    return clean


def _taken_names(project: Project, model: type[models.Model]) -> set[str]:
    """Every name in use (lowercased), for picking free ones (duplicate, import)."""
    return {name.lower() for name in model.objects.for_project(project).values_list("name", flat=True)}


def _is_taken(project: Project, model: type[models.Model], name: str, exclude: int | None = None) -> bool:
    # Lower() on both sides, as the unique constraint compares them.
    named = (
        model.objects.for_project(project).annotate(lower_name=Lower("name")).filter(lower_name=name.lower())
    )
    return named.exclude(pk=exclude).exists()


def free_name(wanted: str, taken: set[str]) -> str:
    """`wanted`, or the first of “wanted (2)”, “wanted (3)”… that no name in `taken` (lowercased) has."""
    if wanted.lower() not in taken:
        return wanted
    base = NUMBER_SUFFIX.sub("", wanted)  # “Login (2)” taken again becomes “Login (3)”, not “Login (2) (2)”
    number = 2
    while True:
        suffix = f" ({number})"
        candidate = base[: SCENARIO_NAME_MAX - len(suffix)].rstrip() + suffix
        if candidate.lower() not in taken:
            return candidate
        number += 1


def _name_taken(what: str, name: str) -> Conflict:
    return Conflict(
        f"This project already has a {what} named “{name}”. Pick another name.",
        code=f"{what}_name_taken",
        fields={"name": [f"This project already has a {what} named “{name}”."]},
    )


def _save(instance: models.Model, what: str) -> None:
    """Save in a savepoint: a name taken by a concurrent request is a Conflict, not a 500."""
    try:
        with transaction.atomic():
            instance.save()
    except IntegrityError:
        raise _name_taken(what, instance.name) from None


def _scenario_of(project: Project, scenario: Scenario) -> Scenario:
    if scenario.project_id != project.pk:
        raise NotFound("No scenario with this id in this project.", code="scenario_not_found")
    return scenario


def _create(actor: Actor, project: Project, fields: dict[str, Any], scripts=()) -> Scenario:
    scenario = Scenario(project=project, created_by=actor.person, **fields)
    _save(scenario, "scenario")
    Script.objects.bulk_create(
        Script(project=project, scenario=scenario, **clean_script(script)) for script in scripts
    )
    return scenario


@door("scenario.created", scope="project:write")
def create_scenario(actor: Actor, project: Project, data: dict[str, Any], *, origin: str = "") -> Scenario:
    """A new scenario from `data` (the fields of clean_scenario; left out: their defaults). `origin`
    says where it came from in the audit log ("generated" for an AI draft)."""
    fields = clean_scenario({**SCENARIO_DEFAULTS, **data})
    if _is_taken(project, Scenario, fields["name"]):
        raise _name_taken("scenario", fields["name"])
    scenario = _create(actor, project, fields)
    details = {"steps": len(fields["steps"]), "status": fields["status"]}
    if origin:
        details["origin"] = origin
    audit.record(actor, "scenario.created", project=project, target=scenario.name, details=details)
    return scenario


@door("scenario.updated", scope="project:write")
def update_scenario(actor: Actor, project: Project, scenario: Scenario, changes: dict[str, Any]) -> Scenario:
    """Change the fields named in `changes` (others stay); `steps` replaces the whole list. No event
    when nothing changes."""
    _scenario_of(project, scenario)
    unknown = sorted(set(changes) - set(SCENARIO_FIELDS))
    if unknown:
        raise Invalid.field("", f"Unknown field {', '.join(unknown)}.")
    current = {field: getattr(scenario, field) for field in SCENARIO_FIELDS}
    if changes.get("type", scenario.type) != scenario.type and scenario.steps and "steps" not in changes:
        raise Invalid.field("type", "Remove the steps before changing the type: API and UI steps differ.")
    fields = clean_scenario({**current, **changes})
    changed = [field for field in SCENARIO_FIELDS if fields[field] != current[field]]
    if "name" in changed and _is_taken(project, Scenario, fields["name"], exclude=scenario.pk):
        raise _name_taken("scenario", fields["name"])
    if changed:
        for field in changed:
            setattr(scenario, field, fields[field])
        scenario.updated_at = timezone.now()
        _save(scenario, "scenario")
        details: dict[str, Any] = {"fields": changed}
        if "name" in changed:
            details["from"] = current["name"]
        audit.record(actor, "scenario.updated", project=project, target=scenario.name, details=details)
    return scenario


@door("scenario.duplicated", scope="project:write")
def duplicate_scenario(actor: Actor, project: Project, scenario: Scenario) -> Scenario:
    """A copy named “<name> (copy)” (or the next free name) with the same steps and scripts, as a draft:
    a copy of an active scenario would otherwise run twice from every trigger."""
    _scenario_of(project, scenario)
    name = free_name(f"{scenario.name[: SCENARIO_NAME_MAX - 7]} (copy)", _taken_names(project, Scenario))
    fields = {field: copy.deepcopy(getattr(scenario, field)) for field in SCENARIO_FIELDS}
    fields.update(name=name, status=Scenario.Status.DRAFT)
    scripts = scenario.scripts.order_by("pk").values("name", "language", "source")
    duplicate = _create(actor, project, fields, scripts)
    audit.record(
        actor, "scenario.duplicated", project=project, target=duplicate.name, details={"from": scenario.name}
    )
    return duplicate


@door("scenario.deleted", scope="project:write")
def delete_scenario(actor: Actor, project: Project, scenario: Scenario) -> None:
    """The scenario and its scripts; it leaves the collections that held it. Its test runs and findings
    stay, no longer linked to it."""
    _scenario_of(project, scenario)
    name = scenario.name
    scenario.delete()
    audit.record(actor, "scenario.deleted", project=project, target=name)


@door("scenario.imported", scope="project:write")
def import_scenarios(actor: Actor, project: Project, document: Any) -> list[Scenario]:
    """Create the scenarios of an exported document (ours, or a Postman Collection v2.1: qa.importers),
    all or none. A name the project already uses (or an earlier scenario of the document) is renamed
    “Name (2)”: nothing is ever overwritten. One audit event names them all."""
    from qa import importers  # importers reads documents only; it needs nothing from here

    imported = importers.read(document)
    if not imported.scenarios:
        raise importers.refused("This document holds no scenarios to import.")
    if len(imported.scenarios) > MAX_IMPORTED:
        raise importers.refused(f"Import at most {MAX_IMPORTED} scenarios at a time.")
    problems: dict[str, list[str]] = {}
    cleaned = []
    for number, draft in enumerate(imported.scenarios, start=1):
        label = f"Scenario {number}" + (
            f" (“{draft['name'][:60]}”)" if isinstance(draft.get("name"), str) else ""
        )
        try:
            fields = clean_scenario(
                {**SCENARIO_DEFAULTS, **{k: v for k, v in draft.items() if k != "scripts"}}
            )
            scripts = [clean_script(script) for script in draft.get("scripts") or []]
        except Invalid as refusal:
            for messages in (refusal.fields or {"": [refusal.message]}).values():
                problems.setdefault("document", []).extend(f"{label}: {message}" for message in messages)
            continue
        cleaned.append((fields, scripts))
    if problems:
        raise Invalid(
            problems["document"][0]
            if len(problems["document"]) == 1
            else f"{len(problems['document'])} problems in this document; nothing was imported.",
            fields=problems,
        )
    taken = _taken_names(project, Scenario)
    created = []
    for fields, scripts in cleaned:
        fields["name"] = free_name(fields["name"], taken)
        taken.add(fields["name"].lower())
        created.append(_create(actor, project, fields, scripts))
    renamed = {
        draft["name"]: scenario.name
        for draft, scenario in zip(imported.scenarios, created, strict=True)
        if " ".join(str(draft.get("name", "")).split()) != scenario.name
    }
    details: dict[str, Any] = {"format": imported.format, "names": [s.name for s in created][:100]}
    if renamed:
        details["renamed"] = dict(list(renamed.items())[:100])
    audit.record(
        actor,
        "scenario.imported",
        project=project,
        target=f"{len(created)} scenario{'s' if len(created) != 1 else ''}",
        details=details,
    )
    return created


# Scripts --------------------------------------------------------------------------------------------------


def clean_script(data: dict[str, Any]) -> dict[str, Any]:
    """A script's `name`, `language` and `source`, checked; Invalid names each bad field."""
    if not isinstance(data, dict):
        raise Invalid.field("scripts", "A script is an object with a name, a language and a source.")
    problems: dict[str, list[str]] = {}
    clean: dict[str, Any] = {}
    try:
        clean["name"] = clean_scenario_name(data.get("name"), what="script")
    except Invalid as refusal:
        problems.update(refusal.fields or {})
    language = data.get("language", Script.Language.PYTHON)
    if language not in Script.Language.values:
        problems["language"] = [f"Language must be one of {', '.join(Script.Language.values)}."]
    clean["language"] = language
    source = data.get("source", "")
    if source is None:
        source = ""
    if not isinstance(source, str):
        problems["source"] = ["The source must be text."]
    elif len(source) > SCRIPT_SOURCE_MAX:
        problems["source"] = [f"Keep a script under {SCRIPT_SOURCE_MAX:,} characters."]
    elif "\x00" in source:
        problems["source"] = ["The source can’t contain a NUL character."]
    clean["source"] = source
    unknown = sorted(set(data) - {"name", "language", "source", "id"})
    if unknown:
        problems.setdefault("", []).append(f"Unknown script field {', '.join(unknown)}.")
    if problems:
        first = next(iter(problems.values()))[0]
        raise Invalid(first if len(problems) == 1 else "Some fields are not valid.", fields=problems)
    return clean


def _script_of(project: Project, script: Script) -> Script:
    if script.project_id != project.pk:
        raise NotFound("No script with this id in this project.", code="script_not_found")
    return script


def _touch(scenario: Scenario) -> None:
    Scenario.objects.filter(pk=scenario.pk).update(updated_at=timezone.now())


@door("script.created", scope="project:write")
def add_script(actor: Actor, project: Project, scenario: Scenario, data: dict[str, Any]) -> Script:
    """Attach a script (name, language, source) to a scenario. Scripts are kept and exported with it."""
    _scenario_of(project, scenario)
    script = Script.objects.create(project=project, scenario=scenario, **clean_script(data))
    _touch(scenario)
    audit.record(
        actor,
        "script.created",
        project=project,
        target=script.name,
        details={"scenario": scenario.name, "language": script.language},
    )
    return script


@door("script.updated", scope="project:write")
def update_script(actor: Actor, project: Project, script: Script, changes: dict[str, Any]) -> Script:
    _script_of(project, script)
    current = {"name": script.name, "language": script.language, "source": script.source}
    fields = clean_script({**current, **changes})
    changed = [field for field in current if fields[field] != current[field]]
    if changed:
        for field in changed:
            setattr(script, field, fields[field])
        script.updated_at = timezone.now()
        script.save()
        _touch(script.scenario)
        audit.record(
            actor,
            "script.updated",
            project=project,
            target=script.name,
            details={"scenario": script.scenario.name, "fields": changed},
        )
    return script


@door("script.deleted", scope="project:write")
def delete_script(actor: Actor, project: Project, script: Script) -> None:
    _script_of(project, script)
    scenario, name = script.scenario, script.name
    script.delete()
    _touch(scenario)
    audit.record(actor, "script.deleted", project=project, target=name, details={"scenario": scenario.name})


# Collections ----------------------------------------------------------------------------------------------


def _collection_of(project: Project, collection: Collection) -> Collection:
    if collection.project_id != project.pk:
        raise NotFound("No collection with this id in this project.", code="collection_not_found")
    return collection


def clean_scenario_ids(project: Project, ids: Any) -> list[int]:
    """An ordered list of ids of this project's scenarios, each once."""
    if ids is None:
        return []
    if not isinstance(ids, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
        raise Invalid.field("scenario_ids", "List the scenarios by id, in the order they run: [12, 7, 9].")
    repeated = sorted({i for i in ids if ids.count(i) > 1})
    if repeated:
        raise Invalid.field("scenario_ids", f"A scenario appears once in a collection; repeated: {repeated}.")
    found = set(Scenario.objects.for_project(project).filter(pk__in=ids).values_list("pk", flat=True))
    missing = [i for i in ids if i not in found]
    if missing:
        raise Invalid.field(
            "scenario_ids", f"No scenario with id {', '.join(map(str, missing[:10]))} in this project."
        )
    return ids


def _clean_collection(project: Project, data: dict[str, Any]) -> dict[str, Any]:
    problems: dict[str, list[str]] = {}
    clean: dict[str, Any] = {}
    checks = {
        "name": lambda v: clean_scenario_name(v, what="collection"),
        "description": _clean_description,
        "scenario_ids": lambda v: clean_scenario_ids(project, v),
    }
    for field, check in checks.items():
        try:
            clean[field] = check(data.get(field))
        except Invalid as refusal:
            problems.update(refusal.fields or {field: [refusal.message]})
    if problems:
        first = next(iter(problems.values()))[0]
        raise Invalid(first if len(problems) == 1 else "Some fields are not valid.", fields=problems)
    return clean


def _set_entries(collection: Collection, scenario_ids: list[int]) -> None:
    collection.entries.all().delete()
    CollectionScenario.objects.bulk_create(
        CollectionScenario(collection=collection, scenario_id=pk, position=position)
        for position, pk in enumerate(scenario_ids)
    )


def collection_scenario_ids(collection: Collection) -> list[int]:
    """The collection's scenarios in run order (reads prefetched `entries` when there are)."""
    return [entry.scenario_id for entry in collection.entries.all()]


@door("collection.created", scope="project:write")
def create_collection(actor: Actor, project: Project, data: dict[str, Any]) -> Collection:
    """A collection: `name`, `description` and `scenario_ids`, the scenarios in the order they run."""
    fields = _clean_collection(project, {"description": "", "scenario_ids": [], **data})
    if _is_taken(project, Collection, fields["name"]):
        raise _name_taken("collection", fields["name"])
    collection = Collection(
        project=project, name=fields["name"], description=fields["description"], created_by=actor.person
    )
    _save(collection, "collection")
    _set_entries(collection, fields["scenario_ids"])
    audit.record(
        actor,
        "collection.created",
        project=project,
        target=collection.name,
        details={"scenarios": len(fields["scenario_ids"])},
    )
    return collection


@door("collection.updated", scope="project:write")
def update_collection(
    actor: Actor, project: Project, collection: Collection, changes: dict[str, Any]
) -> Collection:
    """Change the fields named in `changes`; `scenario_ids` replaces the list and its order."""
    _collection_of(project, collection)
    unknown = sorted(set(changes) - {"name", "description", "scenario_ids"})
    if unknown:
        raise Invalid.field("", f"Unknown field {', '.join(unknown)}.")
    current = {
        "name": collection.name,
        "description": collection.description,
        "scenario_ids": collection_scenario_ids(collection),
    }
    fields = _clean_collection(project, {**current, **changes})
    changed = [field for field in current if fields[field] != current[field]]
    if "name" in changed and _is_taken(project, Collection, fields["name"], exclude=collection.pk):
        raise _name_taken("collection", fields["name"])
    if changed:
        collection.name, collection.description = fields["name"], fields["description"]
        collection.updated_at = timezone.now()
        _save(collection, "collection")
        if "scenario_ids" in changed:
            _set_entries(collection, fields["scenario_ids"])
        audit.record(
            actor, "collection.updated", project=project, target=collection.name, details={"fields": changed}
        )
    return collection


@door("collection.deleted", scope="project:write")
def delete_collection(actor: Actor, project: Project, collection: Collection) -> None:
    """The collection only: its scenarios stay."""
    _collection_of(project, collection)
    name = collection.name
    collection.delete()
    audit.record(actor, "collection.deleted", project=project, target=name)


# --- Test runs and findings (SPEC §9) ---------------------------------------------------------------------
# Starting a run queues it (qa.tasks.execute_run) in the door's transaction: the run and its task commit
# together, and the worker (qa.worker) executes it off the request cycle.


def choose_environment(actor: Actor, project: Project, name: str | None) -> Environment:
    """The environment a run goes to: the one named (any case), else the caller's active one, else the
    project's only one; Invalid with what to do otherwise."""
    environments = Environment.objects.for_project(project)
    name = (name or "").strip()
    if name:
        found = environments.filter(name__iexact=name).first()
        if found is None:
            names = ", ".join(environments.order_by("name").values_list("name", flat=True)[:20]) or "none yet"
            raise Invalid.field("environment", f"No environment named “{name}” in this project ({names}).")
        return found
    if actor.user is not None and actor.api_key is None:
        active = (
            ProjectMember.objects.filter(project=project, user=actor.user)
            .values_list("active_environment", flat=True)
            .first()
        )
        if active is not None:
            return environments.get(pk=active)
    only = list(environments[:2])
    if len(only) == 1:
        return only[0]
    if not only:
        raise Invalid.field(
            "environment", "This project has no environments yet: add one in Settings → Environments."
        )
    raise Invalid.field("environment", "Name the environment to run against: this project has several.")


def clean_callback_url(url: str | None) -> str:
    url = (url or "").strip()
    if not url:
        return ""
    if len(url) > 2000:
        raise Invalid.field("callback_url", "Keep the callback URL under 2,000 characters.")
    try:
        outbound.check_syntax(url)
    except outbound.OutboundRefused as refusal:
        raise Invalid.field("callback_url", refusal.message) from None
    return url


def _queue(
    actor: Actor,
    project: Project,
    scenarios: list[Scenario],
    environment: Environment,
    *,
    trigger: str,
    collection: Collection | None = None,
    callback_url: str = "",
) -> TestRun:
    run = TestRun.objects.create(
        project=project,
        scenario=scenarios[0] if len(scenarios) == 1 and collection is None else None,
        collection=collection,
        scenario_ids=[scenario.pk for scenario in scenarios],
        environment=environment,
        environment_name=environment.name,
        trigger=trigger,
        triggered_by=actor.person,
        api_key=actor.api_key,
        callback_url=callback_url,
        steps_total=sum(len(scenario.steps) for scenario in scenarios),
    )
    tasks.execute_run.enqueue(run_id=run.pk)
    return run


@door("test_run.started", scope="project:write")
def start_run(
    actor: Actor,
    project: Project,
    *,
    scenario: Scenario | None = None,
    collection: Collection | None = None,
    scenarios: list[Scenario] | None = None,
    environment: str | None = None,
    trigger: str | None = None,
    callback_url: str = "",
) -> TestRun:
    """Queue a run of one scenario, of a collection's active scenarios, or of `scenarios` (the webhook's
    pick) against the environment named `environment` (else the caller's active one, else the only one).

    `trigger` defaults to who acts: a person (user) or a key (api_key); the webhook route says webhook.
    """
    chosen = [x for x in (scenario, collection, scenarios) if x is not None]
    if len(chosen) != 1:
        raise Invalid.field("scenario_id", "Choose one scenario or one collection to run.")
    if scenario is not None:
        if scenario.project_id != project.pk:
            raise NotFound("No such scenario in this project.", code="scenario_not_found")
        picked = [scenario]
    elif collection is not None:
        if collection.project_id != project.pk:
            raise NotFound("No such collection in this project.", code="collection_not_found")
        picked = [
            entry.scenario
            for entry in collection.entries.select_related("scenario").order_by("position", "pk")
            if entry.scenario.status == Scenario.Status.ACTIVE
        ]
        if not picked:
            raise Invalid.field("collection_id", "This collection has no active scenarios to run.")
    else:
        picked = list(scenarios)
        if any(item.project_id != project.pk for item in picked):
            raise NotFound("No such scenario in this project.", code="scenario_not_found")
        if not picked:
            raise Invalid.field("scenario_ids", "No active scenario matches: nothing to run.")
    if not any(item.steps for item in picked):
        raise Invalid.field("scenario_id", "There are no steps to run yet: add steps to the scenario first.")
    target = choose_environment(actor, project, environment)
    if trigger is None:
        trigger = TestRun.Trigger.API_KEY if actor.api_key is not None else TestRun.Trigger.USER
    run = _queue(
        actor,
        project,
        picked,
        target,
        trigger=trigger,
        collection=collection,
        callback_url=clean_callback_url(callback_url),
    )
    audit.record(
        actor,
        "test_run.started",
        project=project,
        target=f"test run {run.pk}",
        details={"environment": target.name, "scenarios": run.scenario_ids, "trigger": trigger},
    )
    return run


def _own_run(project: Project, run: TestRun) -> None:
    if run.project_id != project.pk:
        raise NotFound("No such test run in this project.", code="test_run_not_found")


@door("test_run.cancelled", scope="project:write")
def cancel_run(actor: Actor, project: Project, run: TestRun) -> TestRun:
    """Stop a run: a queued one ends now, a running one within a few seconds (its runner sees the
    request), `error` with the reason "cancelled". A run that already ended is a Conflict."""
    _own_run(project, run)
    now = timezone.now()
    runs = TestRun.objects.filter(pk=run.pk)
    if runs.filter(status=TestRun.Status.QUEUED).update(
        status=TestRun.Status.ERROR, reason=runner.CANCELLED, cancel_requested_at=now, finished_at=now
    ):
        run.refresh_from_db()
        runner.skip_unreached(run, "The run was cancelled before it started.")
        if run.callback_url:
            tasks.deliver_callback.enqueue(run_id=run.pk, attempt=1)
    elif not runs.filter(status=TestRun.Status.RUNNING).update(cancel_requested_at=now):
        run.refresh_from_db()
        raise Conflict(f"This run already ended ({run.get_status_display().lower()}).", code="run_finished")
    run.refresh_from_db()
    audit.record(actor, "test_run.cancelled", project=project, target=f"test run {run.pk}")
    return run


@door("test_run.rerun", scope="project:write")
def rerun_failed(actor: Actor, project: Project, run: TestRun) -> TestRun:
    """A new run of the scenarios that failed or got no response in `run`, against the same environment."""
    _own_run(project, run)
    if not run.finished:
        raise Conflict("This run hasn't ended yet: wait for it, or cancel it first.", code="run_not_finished")
    failed_ids = set(
        run.step_results.filter(status__in=[StepResult.Status.FAILED, StepResult.Status.ERROR]).values_list(
            "scenario_id", flat=True
        )
    )
    scenarios = Scenario.objects.for_project(project).in_bulk([pk for pk in failed_ids if pk])
    picked = [scenarios[pk] for pk in run.scenario_ids if pk in scenarios]
    if not picked:
        raise Conflict("Nothing failed in this run: there is nothing to re-run.", code="nothing_failed")
    environment = run.environment
    if environment is None:
        raise Invalid.field("environment", f"The environment “{run.environment_name}” was deleted.")
    trigger = TestRun.Trigger.API_KEY if actor.api_key is not None else TestRun.Trigger.USER
    again = _queue(actor, project, picked, environment, trigger=trigger)
    audit.record(
        actor,
        "test_run.rerun",
        project=project,
        target=f"test run {again.pk}",
        details={"rerun_of": run.pk, "scenarios": again.scenario_ids, "environment": environment.name},
    )
    return again


@door("finding.triaged", scope="project:write")
def triage_finding(actor: Actor, project: Project, finding: Finding, status: str) -> Finding:
    """Set a finding's status (open, fixed, false_positive, wontfix)."""
    if finding.project_id != project.pk:
        raise NotFound("No such finding in this project.", code="finding_not_found")
    if status not in Finding.Status.values:
        allowed = ", ".join(Finding.Status.values)
        raise Invalid.field("status", f"“{status}” is not a finding status: use one of {allowed}.")
    if status == finding.status:
        return finding
    if status == Finding.Status.OPEN:
        twin = (
            Finding.objects.for_project(project)
            .filter(fingerprint=finding.fingerprint, status=Finding.Status.OPEN)
            .exclude(pk=finding.pk)
            .first()
        )
        if twin is not None:
            raise Conflict(
                f"Finding #{twin.pk} already tracks this failure and is open: triage that one instead.",
                code="finding_already_open",
            )
    old, finding.status = finding.status, status
    finding.save(update_fields=["status"])
    audit.record(
        actor,
        "finding.triaged",
        project=project,
        target=f"finding {finding.pk}",
        details={"from": old, "to": status},
    )
    return finding


@door("webhook.secret_rotated", scope="project:admin", sudo=True)
def rotate_webhook_secret(actor: Actor, project: Project) -> WebhookSecret:
    """A new signing secret for the project's webhook callbacks; receivers must take the new one."""
    current = WebhookSecret.for_project(project)
    current.secret = new_webhook_secret()
    current.created_at = timezone.now()
    current.save(update_fields=["secret", "created_at"])
    audit.record(actor, "webhook.secret_rotated", project=project, target="webhook signing secret")
    return current
