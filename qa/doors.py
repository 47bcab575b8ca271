"""Doors of qa/ (docs/ARCHITECTURE.md). The chats: create, rename and delete a conversation, post a message
and record the assistant's reply. Test runs and findings: start a run (a scenario, a collection, or the
webhook's pick), cancel it, re-run what failed, triage a finding. Members and up (SPEC §3).

Sending is two doors around the gateway call, which runs outside any door: its usage row must outlive a
rollback, and a transaction must not stay open while a provider streams (qa/views.py).
"""

from __future__ import annotations

from django.utils import timezone

from environments.models import Environment
from projects import audit
from projects.access import Actor
from projects.models import Project, ProjectMember
from qa import runner, tasks
from qa.models import (
    TITLE_MAX,
    Collection,
    Conversation,
    Finding,
    Message,
    Scenario,
    StepResult,
    TestRun,
    WebhookSecret,
    new_webhook_secret,
)
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
