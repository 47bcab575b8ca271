"""The test runner (SPEC §9): sends a run's steps as real HTTP requests and records what happened.

`execute(run_id)` is what the worker calls (qa.tasks.execute_run) for a queued run. It claims the run
(queued → running), then for each step of each scenario, in order:

1. enforces the environment's constraints before anything is built or sent: a read-only environment
   blocks every method but GET, HEAD and OPTIONS; a step marked `destructive` (and every DELETE) is
   blocked unless the environment allows destructive steps; a step marked `security` unless it allows
   security testing. A blocked step is recorded with its reason and never sent;
2. renders the step with `environments.rendering` (the environment's variables plus this scenario's
   captures), applies the environment's auth, and checks the URL against the outbound policy;
3. waits for its turn under the environment's `max_rps` (qa.pacing: shared by every run and worker);
4. sends it with httpx (per-step timeout), captures values with JSONPath, and evaluates
   `expected_status` and the expectations;
5. records a StepResult with secrets scrubbed, and opens or updates a Finding when the step failed.

While a run is running its worker beats (`heartbeat_at`, about once a second) and reads
`cancel_requested_at`: a cancelled run stops within a second or two (an in-flight request is abandoned),
ending `error` with reason "cancelled"; a run past the run timeout ends `error` the same way. A run
whose worker was killed stops beating: `recover_stale_runs()` (run by the worker, qa.worker) fails it
with a reason saying so, never leaving it `running`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
import jsonpath
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from environments.login import api_login_token
from environments.models import Environment
from environments.rendering import UnknownVariables, render, render_value
from qa import pacing
from qa.models import Finding, Priority, Scenario, StepResult, TestRun
from qodex import outbound
from qodex.scrub import scrub

logger = logging.getLogger(__name__)

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
METHODS = frozenset({"GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE"})
BODY_EXCERPT = 8_000  # characters of a response body kept on its step result
VALUE_EXCERPT = 200  # characters of an actual value quoted in an expectation's message
BEAT_SECONDS = 1.0  # how often a running run writes its heartbeat and reads a cancellation
POLL_SECONDS = 0.2  # how often a waiting runner looks up from a request in flight
CANCELLED = "cancelled"
# A capture named like a credential is scrubbed from what is recorded, as the environment's secrets are.
SECRET_CAPTURE = re.compile(r"token|secret|password|passwd|api_?key|cookie|session|auth", re.IGNORECASE)
SEVERITY_OF_PRIORITY = {
    Priority.CRITICAL: Finding.Severity.CRITICAL,
    Priority.HIGH: Finding.Severity.HIGH,
    Priority.MEDIUM: Finding.Severity.MEDIUM,
    Priority.LOW: Finding.Severity.LOW,
}


class Stopped(Exception):
    """The run must end now (cancelled, out of time); `.reason` says why, for people."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class RunSetupError(Exception):
    """The run can't start (no environment, a login that fails): its reason, for people."""


# --- entry points ----------------------------------------------------------------------------------------


def execute(run_id: int) -> str:
    """Run the queued run `run_id` to its end; return its final status ("" when it was not queued).

    Safe to call twice: only the caller that moves the run from queued to running executes it.
    """
    now = timezone.now()
    claimed = TestRun.objects.filter(pk=run_id, status=TestRun.Status.QUEUED).update(
        status=TestRun.Status.RUNNING, started_at=now, heartbeat_at=now
    )
    if not claimed:
        return ""
    run = TestRun.objects.select_related("project", "environment").get(pk=run_id)
    try:
        status = Runner(run).run()
    except Exception:  # a bug must not leave the run `running`: say so on the run, keep the traceback
        logger.exception("Test run %s failed unexpectedly", run_id)
        status = finish(run, TestRun.Status.ERROR, "The runner failed unexpectedly; the error is logged.")
    return status


def finish(run: TestRun, status: str, reason: str) -> str:
    """End a running run with `status` and `reason`, give every step it never reached a `skipped`
    result, and queue its callback. Returns the status it ended with (the stored one if another
    process, such as the stale-run sweep, ended it first)."""
    skip_unreached(run, reason if status != TestRun.Status.PASSED else "")
    ended = TestRun.objects.filter(pk=run.pk, status=TestRun.Status.RUNNING).update(
        status=status, reason=reason[:500], finished_at=timezone.now()
    )
    run.refresh_from_db()
    if ended and run.callback_url:
        from qa import tasks  # qa.tasks imports this module

        tasks.deliver_callback.enqueue(run_id=run.pk, attempt=1)
    return run.status


def skip_unreached(run: TestRun, reason: str) -> None:
    """A `skipped` result for every step of the run after the last recorded one."""
    recorded = run.step_results.count()
    scenarios = Scenario.objects.in_bulk(run.scenario_ids)
    rows, position = [], 0
    for scenario_id in run.scenario_ids:
        scenario = scenarios.get(scenario_id)
        for index, step in enumerate(scenario.steps if scenario else []):
            if position >= recorded:
                rows.append(
                    StepResult(
                        test_run=run,
                        position=position,
                        scenario=scenario,
                        step_index=index,
                        name=step_name(step, index),
                        status=StepResult.Status.SKIPPED,
                        reason=(reason or "Not reached.")[:1000],
                    )
                )
            position += 1
    StepResult.objects.bulk_create(rows, ignore_conflicts=True)


def recover_stale_runs() -> list[int]:
    """Fail every run left `running` by a worker that stopped beating (killed, or its machine lost).

    Its requests may have reached the target, so it is not started again behind people's backs: it
    ends `error` with a reason that says what happened and what to do. Returns the ids it ended.
    """
    stale = timedelta(seconds=settings.QODEX_RUN_STALE_SECONDS)
    cutoff = timezone.now() - stale
    ended = []
    for run in TestRun.objects.filter(status=TestRun.Status.RUNNING, heartbeat_at__lt=cutoff):
        last = run.heartbeat_at.strftime("%H:%M:%S UTC")
        reason = (
            f"The worker running this test run stopped (no sign of life since {last}) after "
            f"{run.steps_done} of {run.steps_total} steps. Re-run it."
        )
        # Ended only if it is still stale now: a worker that just beat keeps its run.
        with transaction.atomic():
            claimed = TestRun.objects.filter(
                pk=run.pk, status=TestRun.Status.RUNNING, heartbeat_at__lt=cutoff
            ).update(heartbeat_at=timezone.now())
        if claimed:
            finish(run, TestRun.Status.ERROR, reason)
            ended.append(run.pk)
    return ended


def step_name(step: dict, index: int) -> str:
    name = step.get("name") if isinstance(step, dict) else None
    return (str(name).strip() if name else "") or f"Step {index + 1}"


# --- one run -------------------------------------------------------------------------------------------


@dataclass
class Sent:
    """What one request did: the response, or why there is none."""

    response: httpx.Response | None = None
    error: str = ""
    blocked: str = ""
    duration_ms: int = 0


@dataclass
class StepOutcome:
    status: str
    reason: str = ""
    request: dict = field(default_factory=dict)
    response: dict | None = None
    expectations: list = field(default_factory=list)
    failure_kind: str = ""  # what failed, for the finding's fingerprint ("" when nothing did)
    started_at: Any = None
    duration_ms: int | None = None


class Runner:
    """Executes one claimed run. Everything that touches the database happens on the calling thread;
    requests are sent on a helper thread so that a cancellation is seen while one is in flight."""

    def __init__(self, run: TestRun):
        self.run_row = run
        self.environment: Environment | None = run.environment
        self.deadline = time.monotonic() + settings.QODEX_RUN_TIMEOUT_SECONDS
        self.stop_reason = ""
        self.last_beat = 0.0
        self.secrets: list[str] = []
        self.auth_headers: dict[str, str] = {}
        self.position = 0
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"run-{run.pk}")
        self.client: httpx.Client | None = None

    # Liveness: heartbeat, cancellation, the run's deadline -------------------------------------------------

    def alive(self) -> bool:
        """Beat at most once a second; False once the run was cancelled or ran out of time."""
        if self.stop_reason:
            return False
        if time.monotonic() > self.deadline:
            self.stop_reason = f"The run timed out after {settings.QODEX_RUN_TIMEOUT_SECONDS:g} seconds."
            return False
        if time.monotonic() - self.last_beat >= BEAT_SECONDS:
            self.last_beat = time.monotonic()
            rows = TestRun.objects.filter(pk=self.run_row.pk)
            rows.filter(status=TestRun.Status.RUNNING).update(heartbeat_at=timezone.now())
            state = rows.values_list("status", "cancel_requested_at").first()
            if state is None or state[1] is not None:
                self.stop_reason = CANCELLED
            elif state[0] != TestRun.Status.RUNNING:
                self.stop_reason = "This run was ended elsewhere."
        return not self.stop_reason

    def check(self) -> None:
        if not self.alive():
            raise Stopped(self.stop_reason)

    # The run ---------------------------------------------------------------------------------------------

    def run(self) -> str:
        run = self.run_row
        scenarios = Scenario.objects.in_bulk(run.scenario_ids)
        ordered = [scenarios[pk] for pk in run.scenario_ids if pk in scenarios]
        TestRun.objects.filter(pk=run.pk).update(steps_total=sum(len(s.steps) for s in ordered))
        run.steps_total = sum(len(s.steps) for s in ordered)
        try:
            self.check()
            if not ordered:
                raise RunSetupError("The scenarios of this run were deleted before it started.")
            self.prepare()
            for scenario in ordered:
                self.run_scenario(scenario)
        except Stopped as stop:
            return finish(run, TestRun.Status.ERROR, stop.reason)
        except RunSetupError as problem:
            return finish(run, TestRun.Status.ERROR, self.hide(str(problem)))
        finally:
            self.pool.shutdown(wait=False, cancel_futures=True)
            if self.client is not None:
                self.client.close()
        status, reason = verdict(list(run.step_results.values_list("status", flat=True)))
        return finish(run, status, reason)

    def prepare(self) -> None:
        """The environment's auth and secrets, and the HTTP client; RunSetupError when it can't start."""
        environment = self.environment
        if environment is None:
            raise RunSetupError(
                f"The environment “{self.run_row.environment_name}” was deleted; start the run again "
                "against another one."
            )
        self.secrets = environment_secrets(environment)
        cookies = httpx.Cookies()
        kind = environment.auth_type
        if kind == Environment.AuthType.STATIC_TOKEN:
            if not environment.auth_token:
                raise RunSetupError(f"The environment “{environment.name}” has no token to send; add it.")
            self.auth_headers = environment.auth_header(environment.auth_token)
        elif kind == Environment.AuthType.API_LOGIN:
            login = api_login_token(environment, timeout=settings.QODEX_RUN_STEP_TIMEOUT_SECONDS)
            if not login.ok:
                raise RunSetupError(f"The API login of “{environment.name}” failed: {login.error}")
            self.secrets = sorted({*self.secrets, login.token}, key=len, reverse=True)
            self.auth_headers = environment.auth_header(login.token)
        elif kind == Environment.AuthType.UI_LOGIN:
            if not environment.ui_storage_state:
                raise RunSetupError(
                    f"The UI login of “{environment.name}” was never captured: capture it on the "
                    "environment's page, then run again."
                )
            for cookie in storage_state_cookies(environment.ui_storage_state):
                cookies.set(cookie["name"], cookie["value"], domain=cookie["domain"], path=cookie["path"])
                self.secrets.append(cookie["value"])
            self.secrets = sorted({s for s in self.secrets if s}, key=len, reverse=True)
        timeout = httpx.Timeout(settings.QODEX_RUN_STEP_TIMEOUT_SECONDS)
        self.client = outbound.client(timeout=timeout, follow_redirects=False, cookies=cookies)

    def run_scenario(self, scenario: Scenario) -> None:
        captures: dict[str, Any] = {}
        stopped_by = ""  # a blocked or unanswered step stops its scenario: later steps depend on it
        for index, step in enumerate(scenario.steps):
            self.check()
            if stopped_by:
                outcome = StepOutcome(StepResult.Status.SKIPPED, stopped_by)
            elif scenario.type != Scenario.Type.API:
                outcome = StepOutcome(
                    StepResult.Status.SKIPPED, "UI scenarios are not run by the API runner."
                )
            else:
                outcome = self.run_step(scenario, step, captures)
            self.record(scenario, index, step, outcome)
            if outcome.status == StepResult.Status.BLOCKED:
                stopped_by = f"Skipped: step {index + 1} was blocked, and later steps may depend on it."
            elif outcome.status == StepResult.Status.ERROR:
                stopped_by = f"Skipped: step {index + 1} got no response, and later steps may depend on it."
            if self.stop_reason:  # cancelled while this step's request was in flight
                raise Stopped(self.stop_reason)

    # One step --------------------------------------------------------------------------------------------

    def run_step(self, scenario: Scenario, step: Any, captures: dict[str, Any]) -> StepOutcome:
        environment = self.environment
        if not isinstance(step, dict):
            return StepOutcome(
                StepResult.Status.ERROR, "This step is not an object with a method and a target."
            )
        method = str(step.get("method") or "GET").upper()
        if method not in METHODS:
            return StepOutcome(StepResult.Status.ERROR, f"“{method}” is not an HTTP method the runner sends.")
        blocked = constraint_refusal(environment, method, step)
        request: dict[str, Any] = {"method": method, "url": str(step.get("target") or "")}
        if blocked:
            return StepOutcome(StepResult.Status.BLOCKED, blocked, request=self.hide(request))
        try:
            url = absolute(render(str(step.get("target") or ""), environment, extra=captures), environment)
            headers = render_value(step.get("headers") or {}, environment, extra=captures)
            body = render_value(step.get("body"), environment, extra=captures)
        except UnknownVariables as unknown:
            return StepOutcome(
                StepResult.Status.ERROR, f"This step can’t be built. {unknown}", request=request
            )
        if not isinstance(headers, dict):
            return StepOutcome(
                StepResult.Status.ERROR, "The step's headers must be an object.", request=request
            )
        headers = {**self.auth_headers, **{str(k): str(v) for k, v in headers.items()}}
        request = {"method": method, "url": url, "headers": headers, "body": body}
        try:
            outbound.check_syntax(url)
        except outbound.OutboundRefused as refusal:  # the step is wrong, not the environment
            return StepOutcome(StepResult.Status.ERROR, refusal.message, request=self.hide(request))
        if origin(url) not in environment_origins(environment):
            # Where the environment's credentials and secrets go is decided by its base URLs, which only
            # admins in sudo mode change (SPEC §6): a scenario, which members write, can't send them
            # (its auth header, or a ${authToken} in a URL or body) anywhere else.
            return StepOutcome(
                StepResult.Status.BLOCKED,
                f"Blocked: this step goes to {host_port(url)}, outside “{environment.name}” "
                f"({', '.join(sorted(environment_origins(environment)))}). The runner sends requests, "
                "and the environment's credentials, only to the environment's own addresses. Nothing "
                "was sent.",
                request=self.hide(request),
            )
        try:
            outbound.check_url(url)
        except outbound.HostNotFound as failure:
            return StepOutcome(StepResult.Status.ERROR, failure.message, request=self.hide(request))
        except outbound.OutboundRefused as refusal:
            return StepOutcome(StepResult.Status.BLOCKED, refusal.message, request=self.hide(request))

        if not pacing.claim(environment.pk, environment.max_rps, alive=self.alive):
            raise Stopped(self.stop_reason)
        started_at = timezone.now()
        sent = self.send(method, url, headers, body)
        outcome = StepOutcome(
            StepResult.Status.PASSED, started_at=started_at, duration_ms=sent.duration_ms, request=request
        )
        if sent.blocked or sent.error:
            outcome.status = StepResult.Status.BLOCKED if sent.blocked else StepResult.Status.ERROR
            outcome.reason = sent.blocked or sent.error
            outcome.request = self.hide(request)
            return outcome
        response = sent.response
        document = parse_json(response)
        results = [expect_status(step.get("expected_status"), response.status_code)]
        results += [
            evaluate(expectation, response, document) for expectation in step.get("expectations") or []
        ]
        results += self.capture(step.get("captures") or [], document, captures)
        failed = [result for result in results if not result["passed"]]
        if failed:
            outcome.status = StepResult.Status.FAILED
            outcome.reason = failed[0]["message"]
            outcome.failure_kind = failure_kind(failed[0])
        outcome.expectations = self.hide(results)
        outcome.request = self.hide(request)
        outcome.response = self.hide(response_record(response))
        return outcome

    def send(self, method: str, url: str, headers: dict, body: Any) -> Sent:
        """Send on the helper thread and wait, beating; an abandoned request is left to its timeout."""
        kwargs: dict[str, Any] = {"headers": headers}
        if isinstance(body, str):
            kwargs["content"] = body
        elif body is not None:
            kwargs["json"] = body
        began = time.monotonic()
        future: Future = self.pool.submit(self.client.request, method, url, **kwargs)
        while True:
            try:
                response = future.result(timeout=POLL_SECONDS)
                break
            except FutureTimeout:
                if not self.alive():
                    future.cancel()
                    what = "cancelled" if self.stop_reason == CANCELLED else "stopped"
                    return Sent(error=f"The run was {what} while this request was in flight.")
            except outbound.OutboundRefused as refusal:  # a redirect hop (the first URL was checked)
                return Sent(blocked=refusal.message)
            except UnicodeEncodeError:
                return Sent(error="A header holds a character HTTP headers can’t carry: use ASCII only.")
            except httpx.TimeoutException:
                limit = settings.QODEX_RUN_STEP_TIMEOUT_SECONDS
                return Sent(
                    error=f"{host_port(url)} sent no answer within {limit:g} seconds (the step timeout)."
                )
            except httpx.ConnectError as exc:
                if "refused" in str(exc).lower():
                    return Sent(
                        error=f"Connection refused by {host_port(url)}: nothing is listening there. "
                        "Is the app running?"
                    )
                return Sent(error=f"Could not connect to {host_port(url)}: {exc}.")
            except (httpx.HTTPError, httpx.InvalidURL) as exc:
                return Sent(error=f"The request to {host_port(url)} failed: {exc}.")
            except (ValueError, TypeError) as exc:  # a header or body httpx can't send as given
                return Sent(error=f"The request could not be built: {exc}.")
        response.read()
        return Sent(response=response, duration_ms=int((time.monotonic() - began) * 1000))

    def capture(self, wanted: list, document: Any, captures: dict[str, Any]) -> list[dict]:
        """Set each `{"as", "from"}` capture from the JSON body; a capture that finds nothing fails."""
        results = []
        for item in wanted:
            if not isinstance(item, dict) or not item.get("as") or not item.get("from"):
                continue
            name, path = str(item["as"]), str(item["from"])
            result = {"kind": "capture", "as": name, "path": path}
            try:
                found = jsonpath.findall(path, document) if document is not MISSING else []
            except jsonpath.JSONPathError as exc:
                found, result["message"] = [], f"Capture ${{{name}}}: {path} is not a valid JSONPath ({exc})."
            if found:
                captures[name] = found[0]
                if SECRET_CAPTURE.search(name) and isinstance(found[0], str) and found[0]:
                    self.secrets = sorted({*self.secrets, found[0]}, key=len, reverse=True)
                result.update(passed=True, message=f"Captured ${{{name}}}.")
            else:
                why = "the body is not JSON" if document is MISSING else f"{path} matched nothing"
                result.setdefault("message", f"Capture ${{{name}}} failed: {why}.")
                result["passed"] = False
            results.append(result)
        return results

    def record(self, scenario: Scenario, index: int, step: Any, outcome: StepOutcome) -> None:
        run = self.run_row
        name = step_name(step, index)
        with transaction.atomic():
            StepResult.objects.create(
                test_run=run,
                position=self.position,
                scenario=scenario,
                step_index=index,
                name=name[:200],
                status=outcome.status,
                reason=self.hide(outcome.reason)[:1000],
                request=outcome.request,
                response=outcome.response,
                expectations=outcome.expectations,
                started_at=outcome.started_at,
                duration_ms=outcome.duration_ms,
            )
            TestRun.objects.filter(pk=run.pk).update(steps_done=F("steps_done") + 1)
            if outcome.status == StepResult.Status.FAILED:
                record_finding(run, scenario, index, name, step, outcome)
        self.position += 1

    def hide(self, value: Any) -> Any:
        """`value` (text, or a structure of it) with every secret of this run scrubbed."""
        return scrub_all(value, self.secrets)


# --- constraints, rendering, expectations --------------------------------------------------------------


def constraint_refusal(environment: Environment, method: str, step: dict) -> str:
    """Why the environment's constraints forbid sending this step; "" when they allow it."""
    name = environment.name
    if environment.read_only and method not in SAFE_METHODS:
        return (
            f"Blocked: “{name}” is read-only, so only GET, HEAD and OPTIONS requests are sent; this step "
            f"is a {method}. Nothing was sent."
        )
    destructive = bool(step.get("destructive")) or method == "DELETE"
    if destructive and not environment.allow_destructive:
        what = "is marked destructive" if step.get("destructive") else "is a DELETE (destructive)"
        return f"Blocked: this step {what}, and “{name}” does not allow destructive steps. Nothing was sent."
    if step.get("security") and not environment.allow_security_testing:
        return (
            f"Blocked: this step is a security test, and “{name}” does not allow security testing. "
            "Nothing was sent."
        )
    return ""


def absolute(url: str, environment: Environment) -> str:
    """A target starting with `/` is relative to the environment's API base URL."""
    url = url.strip()
    if url.startswith("/"):
        return environment.effective_api_base_url + url
    return url


def origin(url: str) -> str:
    """scheme://host:port of a URL, the port spelled out, so equal addresses compare equal."""
    parts = urlsplit(url)
    scheme = (parts.scheme or "").lower()
    port = parts.port or (443 if scheme == "https" else 80)
    return f"{scheme}://{(parts.hostname or '').lower()}:{port}"


def environment_origins(environment: Environment) -> set[str]:
    """The addresses a run may reach: the environment's base URL and API base URL."""
    return {origin(environment.base_url), origin(environment.effective_api_base_url)}


def environment_secrets(environment: Environment) -> list[str]:
    values = [environment.auth_token, environment.auth_password]
    variables = environment.get_variables(reveal=True)
    values += [variables[name] for name in environment.secret_variable_names if name in variables]
    return sorted({value for value in values if value}, key=len, reverse=True)


def storage_state_cookies(state: str) -> list[dict[str, str]]:
    """The cookies of a Playwright storageState document, as httpx takes them."""
    try:
        cookies = json.loads(state).get("cookies") or []
    except (ValueError, AttributeError):
        return []
    found = []
    for cookie in cookies:
        if isinstance(cookie, dict) and cookie.get("name") and isinstance(cookie.get("value"), str):
            domain = str(cookie.get("domain") or "").lstrip(".")
            found.append(
                {
                    "name": str(cookie["name"]),
                    "value": cookie["value"],
                    "domain": domain,
                    "path": cookie.get("path") or "/",
                }
            )
    return found


def scrub_all(value: Any, secrets: list[str]) -> Any:
    if not secrets:
        return value
    if isinstance(value, str):
        return scrub(value, secrets)
    if isinstance(value, dict):
        return {key: scrub_all(item, secrets) for key, item in value.items()}
    if isinstance(value, list):
        return [scrub_all(item, secrets) for item in value]
    return value


def host_port(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port or (443 if parts.scheme == 'https' else 80)}"


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING = _Missing()  # the body is not JSON


def parse_json(response: httpx.Response) -> Any:
    if not response.content:
        return MISSING
    try:
        return response.json()
    except ValueError:
        return MISSING


def response_record(response: httpx.Response) -> dict[str, Any]:
    text = response.text
    return {
        "status": response.status_code,
        "headers": dict(response.headers),
        "body": text[:BODY_EXCERPT],
        "truncated": len(text) > BODY_EXCERPT,
    }


def excerpt(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)  # "admin" quoted, 42 and true as JSON
    return text if len(text) <= VALUE_EXCERPT else text[: VALUE_EXCERPT - 1] + "…"


def expect_status(expected: Any, actual: int) -> dict[str, Any]:
    """`expected_status` (a code or a list of codes); without one, any 2xx or 3xx passes."""
    if expected is None:
        passed = 200 <= actual < 400
        wanted = "a 2xx or 3xx status"
    else:
        codes = expected if isinstance(expected, list) else [expected]
        codes = [int(code) for code in codes if isinstance(code, int | str) and str(code).isdigit()]
        passed = actual in codes
        wanted = "HTTP " + " or ".join(str(code) for code in codes)
    message = f"HTTP {actual}, as expected." if passed else f"Expected {wanted}, got HTTP {actual}."
    return {"kind": "status", "expected": expected, "actual": actual, "passed": passed, "message": message}


# The comparisons an expectation may make, each a (test, sentence) pair on (actual, expected).
def _contains(actual: Any, expected: Any) -> bool:
    if isinstance(actual, str):
        return isinstance(expected, str) and expected in actual
    if isinstance(actual, list):
        return expected in actual
    if isinstance(actual, dict):
        return expected in actual
    return False


def _matches(actual: Any, expected: Any) -> bool:
    try:
        return isinstance(actual, str) and re.search(str(expected), actual) is not None
    except re.error:
        return False


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _compare(op):
    def test(actual, expected):
        a, b = _number(actual), _number(expected)
        return a is not None and b is not None and op(a, b)

    return test


JSON_TYPE_NAMES = {
    "string": str,
    "number": (int, float),
    "integer": int,
    "boolean": bool,
    "object": dict,
    "array": list,
    "null": type(None),
}


def _type_is(actual: Any, expected: Any) -> bool:
    kind = JSON_TYPE_NAMES.get(str(expected))
    if kind is None:
        return False
    if isinstance(actual, bool) and expected in ("number", "integer"):
        return False
    return isinstance(actual, kind)


OPERATORS = {
    "equals": (lambda a, e: a == e, "equal"),
    "not_equals": (lambda a, e: a != e, "not equal"),
    "contains": (_contains, "contain"),
    "matches": (_matches, "match"),
    "gt": (_compare(lambda a, b: a > b), "be greater than"),
    "gte": (_compare(lambda a, b: a >= b), "be at least"),
    "lt": (_compare(lambda a, b: a < b), "be less than"),
    "lte": (_compare(lambda a, b: a <= b), "be at most"),
    "type": (_type_is, "be of type"),
    "length": (lambda a, e: isinstance(a, str | list | dict) and len(a) == e, "have length"),
}


def evaluate(expectation: Any, response: httpx.Response, document: Any) -> dict[str, Any]:
    """One expectation: `{"kind": "jsonpath", "path", <op>: value}` (ops: exists, equals, not_equals,
    contains, matches, gt, gte, lt, lte, type, length), `{"kind": "header", "name", <op>}` or
    `{"kind": "body", "contains" | "matches"}`, with its outcome and a sentence for people."""
    if not isinstance(expectation, dict):
        return {"kind": "?", "passed": False, "message": "An expectation must be an object with a kind."}
    kind = expectation.get("kind", "jsonpath")
    result: dict[str, Any] = {"kind": kind}
    if kind == "jsonpath":
        path = str(expectation.get("path") or "")
        result["path"] = path
        subject = path
        if document is MISSING:
            found = []
            missing_reason = "the body is not JSON"
        else:
            try:
                found = jsonpath.findall(path, document)
            except jsonpath.JSONPathError as exc:
                return {**result, "passed": False, "message": f"{path} is not a valid JSONPath ({exc})."}
            missing_reason = "it matched nothing"
    elif kind == "header":
        name = str(expectation.get("name") or "")
        result["name"] = name
        subject = f"Header {name}"
        found = [response.headers[name]] if name and name in response.headers else []
        missing_reason = "the response has no such header"
    elif kind == "body":
        subject = "The body"
        found = [response.text]
        missing_reason = "it is empty"
    else:
        return {**result, "passed": False, "message": f"Unknown expectation kind “{kind}”."}

    if "exists" in expectation:
        wanted = bool(expectation["exists"])
        passed = bool(found) == wanted
        result.update(op="exists", expected=wanted, passed=passed)
        if passed:
            result["message"] = f"{subject} {'exists' if wanted else 'is absent'}."
        elif wanted:
            result["message"] = f"{subject} should exist, but {missing_reason}."
        else:
            result["message"] = f"{subject} should be absent, but it is {excerpt(found[0])}."
        return result
    for op, (test, verb) in OPERATORS.items():
        if op in expectation:
            expected = expectation[op]
            result.update(op=op, expected=expected)
            if not found:
                return {
                    **result,
                    "passed": False,
                    "message": f"{subject} should {verb} {excerpt(expected)}, but {missing_reason}.",
                }
            actual = found[0]
            passed = bool(test(actual, expected))
            result.update(actual=excerpt(actual), passed=passed)
            result["message"] = (
                f"{subject} {verb.replace('be ', 'is ', 1) if verb.startswith('be ') else verb + 's'} "
                f"{excerpt(expected)}."
                if passed
                else f"{subject} should {verb} {excerpt(expected)}, but it is {excerpt(actual)}."
            )
            return result
    return {
        **result,
        "passed": False,
        "message": f"{subject}: say what to check (exists, equals, contains…).",
    }


def failure_kind(result: dict[str, Any]) -> str:
    """What failed, in a stable form: the third part of a finding's fingerprint."""
    if result["kind"] == "status":
        return "status"
    where = result.get("path") or result.get("name") or result.get("as") or ""
    return f"{result['kind']}:{where}:{result.get('op', '')}"


def verdict(statuses: list[str]) -> tuple[str, str]:
    """The run's status and reason from its steps': a failure matters most, then an error, then a block."""
    count = {status: statuses.count(status) for status in set(statuses)}
    total = len(statuses)

    def some(status: str, what: str) -> str:
        n = count[status]
        return f"{n} of {total} step{'s' if total != 1 else ''} {what}."

    if count.get(StepResult.Status.FAILED):
        return TestRun.Status.FAILED, some(StepResult.Status.FAILED, "failed")
    if count.get(StepResult.Status.ERROR):
        return TestRun.Status.ERROR, some(StepResult.Status.ERROR, "got no response")
    if count.get(StepResult.Status.BLOCKED):
        return TestRun.Status.BLOCKED, some(
            StepResult.Status.BLOCKED, "blocked by the environment's constraints, never sent"
        )
    if not count.get(StepResult.Status.PASSED):
        return TestRun.Status.ERROR, "No step was run."
    return TestRun.Status.PASSED, ""


# --- findings -------------------------------------------------------------------------------------------


def fingerprint(scenario_id: int, step_index: int, kind: str) -> str:
    return hashlib.sha256(f"{scenario_id}:{step_index}:{kind}".encode()).hexdigest()


def record_finding(
    run: TestRun, scenario: Scenario, index: int, name: str, step: dict, outcome: StepOutcome
) -> Finding:
    """Open a finding for a failed step, or, while one with the same fingerprint is open, update it."""
    status_code = (outcome.response or {}).get("status")
    server_error = isinstance(status_code, int) and status_code >= 500
    severity = SEVERITY_OF_PRIORITY.get(scenario.priority, Finding.Severity.MEDIUM)
    if server_error and severity in (Finding.Severity.MEDIUM, Finding.Severity.LOW):
        severity = Finding.Severity.HIGH
    category = (
        Finding.Category.SECURITY
        if step.get("security")
        else Finding.Category.API_ERROR
        if server_error
        else Finding.Category.FUNCTIONAL
    )
    title = f"{scenario.name} › {name}: {outcome.reason}"[:300]
    failed = next((e for e in outcome.expectations if not e.get("passed")), {})
    evidence = {
        "request": outcome.request,
        "response": outcome.response,
        "expectation": failed,
        "step": {"index": index, "name": name},
    }
    print_ = fingerprint(scenario.pk, index, outcome.failure_kind)
    now = timezone.now()
    changes = {
        "test_run": run,
        "last_seen_at": now,
        "evidence": evidence,
        "title": title,
        "severity": severity,
    }
    open_ones = Finding.objects.for_project(run.project).filter(
        fingerprint=print_, status=Finding.Status.OPEN
    )
    existing = open_ones.select_for_update().first()
    if existing is None:
        try:
            with transaction.atomic():
                return Finding.objects.create(
                    project=run.project,
                    scenario=scenario,
                    fingerprint=print_,
                    category=category,
                    first_seen_at=now,
                    **changes,
                )
        except IntegrityError:  # another run opened it a moment ago: one open finding per fingerprint
            existing = open_ones.select_for_update().first()
            if existing is None:
                raise
    open_ones.filter(pk=existing.pk).update(occurrences=F("occurrences") + 1, **changes)
    existing.refresh_from_db()
    return existing
