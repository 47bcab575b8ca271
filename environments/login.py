"""Logging in to an environment for real (SPEC §6): the API login over HTTP, the UI login in Chromium.

Both return a result object rather than raising: `.error` is a sentence for the person who configured
the environment, and never contains the password, the token or another secret.
"""

from __future__ import annotations

import contextlib
import json
import re
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import jsonpath
from django.utils import timezone

from environments.models import (
    Environment,
    api_login_config_errors,
    cache_token,
    cached_token,
    ui_login_steps_errors,
)
from environments.rendering import UnknownVariables, render_value
from qodex import crypto, outbound
from qodex.chromium import CHROMIUM_ARGS, CHROMIUM_PATH
from qodex.scrub import scrub

CONNECT_TIMEOUT = 10.0  # seconds
READ_TIMEOUT = 10.0
EXCERPT_LENGTH = 200

# A capture runs inside the page's request: bounded well under a worker's timeout, and one stuck step
# can't use up the whole budget (seconds).
CAPTURE_TIMEOUT = 45
CAPTURE_STEP_TIMEOUT = 15

JSON_TYPES = {dict: "an object", list: "an array", bool: "a boolean", int: "a number", float: "a number"}


@dataclass(frozen=True)
class LoginResult:
    """The outcome of an API login. `token` is for the runner only: show `masked_token` to people."""

    ok: bool
    token: str = field(default="", repr=False)
    error: str = ""
    status_code: int | None = None

    @property
    def masked_token(self) -> str:
        return crypto.mask(self.token)


@dataclass(frozen=True)
class CaptureResult:
    """The outcome of a UI login capture; `failed_step` is 1-based, None when no step failed."""

    ok: bool
    error: str = ""
    failed_step: int | None = None
    cookie_names: list[str] = field(default_factory=list)
    origins: list[str] = field(default_factory=list)
    captured_at: datetime | None = None


def _secrets_of(environment: Environment) -> list[str]:
    """Every secret value of the environment, longest first, to scrub from anything we echo back."""
    values = [environment.auth_password, environment.auth_token]
    variables = environment.get_variables(reveal=True)
    values += [variables[name] for name in environment.secret_variable_names if name in variables]
    return sorted({value for value in values if value}, key=len, reverse=True)


def _scrub(text: str, secrets: list[str]) -> str:
    return scrub(text, secrets)


def _excerpt(text: str, secrets: list[str]) -> str:
    # Scrubbed before and after whitespace is folded: a secret may hold a run of spaces.
    text = _scrub(re.sub(r"\s+", " ", _scrub(text, secrets)).strip(), secrets)
    return text if len(text) <= EXCERPT_LENGTH else text[: EXCERPT_LENGTH - 1] + "…"


def _host_port(url: str) -> str:
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{parts.hostname}:{port}"


def _json_type(value: Any) -> str:
    return "null" if value is None else JSON_TYPES.get(type(value), type(value).__name__)


def check_api_login(environment: Environment, *, timeout: float | None = None) -> LoginResult:
    """Perform the environment's API login request for real and extract the token with its JSONPath.

    On success the token is cached for the runner (30 minutes, or until the environment is saved).
    `timeout` (seconds) overrides both CONNECT_TIMEOUT and READ_TIMEOUT.
    """
    config = environment.api_login_config
    problems = api_login_config_errors(config)
    if problems:
        return LoginResult(ok=False, error="The API login config is incomplete: " + " ".join(problems))
    secrets = _secrets_of(environment)

    def fail(message: str, status_code: int | None = None) -> LoginResult:
        return LoginResult(ok=False, error=_scrub(message, secrets), status_code=status_code)

    try:
        request = render_value({key: config.get(key) for key in ("url", "headers", "body")}, environment)
    except UnknownVariables as exc:
        return fail(f"The login request can’t be built. {exc}")
    url = request["url"].strip()
    try:
        outbound.check_url(url)  # before anything is sent; every redirect hop is checked again
    except outbound.HostNotFound as refusal:
        return fail(refusal.message)
    except outbound.OutboundRefused as refusal:
        return fail(f"The login URL can’t be used: {refusal.message}")
    parts = urlsplit(url)
    body = request.get("body")
    body_kwargs: dict[str, Any] = {}
    if isinstance(body, str):
        body_kwargs["content"] = body
    elif body is not None:
        body_kwargs["json"] = body

    where = _host_port(url)
    limits = (
        httpx.Timeout(READ_TIMEOUT, connect=CONNECT_TIMEOUT) if timeout is None else httpx.Timeout(timeout)
    )
    try:
        with outbound.client(timeout=limits, follow_redirects=True) as client:
            response = client.request(
                config["method"].upper(), url, headers=request.get("headers") or {}, **body_kwargs
            )
    except outbound.OutboundRefused as refusal:  # on a redirect hop: the first one was checked above
        if refusal.url == str(httpx.URL(url)):
            return fail(refusal.message)
        return fail(f"The login endpoint redirected to {refusal.url}: {refusal.message}")
    except UnicodeEncodeError:
        return fail("A login header holds a character HTTP headers can’t carry: use ASCII only.")
    except httpx.ConnectTimeout:
        return fail(f"Timed out connecting to {where} after {limits.connect:g}s. Is the host reachable?")
    except httpx.TimeoutException:
        return fail(f"{where} accepted the connection but sent no answer within {limits.read:g}s.")
    except httpx.ConnectError as exc:
        reason = str(exc)
        if "refused" in reason.lower():
            return fail(f"Connection refused by {where}: nothing is listening there. Is the app running?")
        if "name" in reason.lower() and ("resolution" in reason.lower() or "known" in reason.lower()):
            return fail(f"The host “{parts.hostname}” could not be resolved (DNS). Check the URL.")
        return fail(f"Could not connect to {where}: {reason}.")
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        return fail(f"The login request to {where} failed: {exc}.")

    status = response.status_code
    if not response.is_success:
        excerpt = _excerpt(response.text, secrets)
        detail = f": “{excerpt}”" if excerpt else " with an empty body"
        return fail(f"The login endpoint answered HTTP {status} {response.reason_phrase}{detail}.", status)
    try:
        document = response.json()
    except ValueError:
        kind = response.headers.get("content-type", "no content type")
        excerpt = _excerpt(response.text, secrets)
        return fail(
            f"The login endpoint answered HTTP {status}, but its body is not JSON ({kind}): “{excerpt}”.",
            status,
        )

    path = config["token_path"]
    matches = jsonpath.compile(path).findall(document)
    if not matches:
        if isinstance(document, dict) and document:
            shape = "its top-level keys are " + ", ".join(sorted(document)[:20])
        else:
            shape = f"it is {_json_type(document)}"
        return fail(f"The token path {path} matched nothing in the response ({shape}).", status)
    token = matches[0]
    if not isinstance(token, str):
        return fail(f"The token path {path} matched {_json_type(token)}, not text.", status)
    if not token:
        return fail(f"The token path {path} matched an empty string.", status)
    cache_token(environment, token)
    return LoginResult(ok=True, token=token, status_code=status)


def api_login_token(environment: Environment, *, timeout: float | None = None) -> LoginResult:
    """For the runner: the cached token when there is one, else a fresh `check_api_login`."""
    token = cached_token(environment)
    if token:
        return LoginResult(ok=True, token=token)
    return check_api_login(environment, timeout=timeout)


def _describe(step: dict[str, str]) -> str:
    """A step as people read it; never includes a filled value, which may be a password."""
    action = step["action"]
    if action in ("goto", "wait_for_url"):
        return f"{action} {step['url']}"
    if action == "press":
        target = f" on “{step['selector']}”" if step.get("selector") else ""
        return f"press {step['value']}{target}"
    return f"{action} “{step['selector']}”"


def _run_step(page, step: dict[str, str], timeout_ms: float) -> None:
    action = step["action"]
    if action == "goto":
        page.goto(step["url"], timeout=timeout_ms)
    elif action == "fill":
        page.fill(step["selector"], step["value"], timeout=timeout_ms)
    elif action == "click":
        page.click(step["selector"], timeout=timeout_ms)
    elif action == "press":
        if step.get("selector"):
            page.press(step["selector"], step["value"], timeout=timeout_ms)
        else:
            page.keyboard.press(step["value"])
    elif action == "wait_for_url":
        page.wait_for_url(step["url"], timeout=timeout_ms)
    elif action == "wait_for_selector":
        page.wait_for_selector(step["selector"], timeout=timeout_ms)


def _step_url_problem(step: dict[str, str]) -> str:
    """Why the policy refuses this step's URL before the browser starts; "" when it may run."""
    url = step.get("url") or ""
    try:
        if step["action"] == "goto":
            outbound.check_url(url)
        elif step["action"] == "wait_for_url":
            # A pattern such as **/dashboard sends nothing: only a scheme other than http(s) is refused.
            scheme = re.match(r"([A-Za-z][A-Za-z0-9+.-]*):(?!\d)", url)
            if scheme and scheme[1].lower() not in outbound.ALLOWED_SCHEMES:
                outbound.check_syntax(url)
    except outbound.OutboundRefused as refusal:
        return refusal.message
    return ""


def _guard_reason(message: str, failures: list[outbound.Refusal]) -> str:
    """Why the guard couldn't connect for the navigation the browser reports as an empty answer.

    The guard answers nothing when it can't connect, so the browser can't tell; the guard can.
    """
    navigation = re.search(r"ERR_EMPTY_RESPONSE at (\S+)", message)
    if not navigation:
        return ""
    where = _host_port(navigation[1])
    found = (failure for failure in failures if not failure.refused and _host_port(failure.url) == where)
    return next((failure.message for failure in found), "")


def _refusal_sentence(refusal: outbound.Refusal, step: dict[str, str]) -> str:
    if refusal.url == step.get("url"):
        return refusal.message
    return f"the browser asked for {refusal.url}, and {refusal.message}"


def _drive_browser(
    steps: list[dict[str, str]], timeout: float, step_timeout: float | None
) -> dict | CaptureResult:
    """Run the steps in a fresh headless Chromium; the storage state, or a failed CaptureResult.

    Every request the browser makes, redirects included, goes through the outbound policy: the first
    one it refuses ends the capture.
    """
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
    from playwright.sync_api import sync_playwright

    deadline = time.monotonic() + timeout
    with outbound.BrowserGuard() as guard, sync_playwright() as playwright:
        try:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM_PATH, args=CHROMIUM_ARGS, proxy=guard.proxy
            )
        except PlaywrightError as exc:
            return CaptureResult(ok=False, error=f"Chromium could not start: {exc.message.splitlines()[0]}")

        def refused() -> outbound.Refusal | None:
            return next((refusal for refusal in guard.refusals if refusal.refused), None)

        try:
            context = browser.new_context()
            guard.watch(context)
            page = context.new_page()
            for number, step in enumerate(steps, start=1):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return CaptureResult(
                        ok=False, failed_step=number, error=f"The capture ran out of its {timeout:g}s."
                    )
                limit = min(remaining, step_timeout or remaining)
                seen = len(guard.refusals)
                failure = ""
                try:
                    _run_step(page, step, limit * 1000)
                except PlaywrightTimeoutError:
                    failure = f"timed out after {limit:g}s; the browser was at {page.url}."
                except PlaywrightError as exc:
                    reason = _guard_reason(exc.message.splitlines()[0], guard.refusals[seen:])
                    failure = "failed: " + (reason or exc.message.splitlines()[0])
                stopped = refused()
                if stopped:
                    sentence = _refusal_sentence(stopped, step)
                    error = f"Step {number} ({_describe(step)}) was stopped: {sentence}"
                    return CaptureResult(ok=False, failed_step=number, error=error)
                if failure:
                    error = f"Step {number} ({_describe(step)}) {failure}"
                    return CaptureResult(ok=False, failed_step=number, error=error)
            # A last click may have started a navigation that sets the session cookie: let it finish.
            with contextlib.suppress(PlaywrightTimeoutError):
                page.wait_for_load_state("load", timeout=max(deadline - time.monotonic(), 0.1) * 1000)
            stopped = refused()
            if stopped:
                error = f"After the last step, the browser asked for {stopped.url}, and {stopped.message}"
                return CaptureResult(ok=False, error=error)
            return context.storage_state()
        finally:
            browser.close()


def capture_ui_login(
    environment: Environment,
    *,
    timeout: float = CAPTURE_TIMEOUT,
    step_timeout: float | None = CAPTURE_STEP_TIMEOUT,
) -> CaptureResult:
    """Drive headless Chromium through the environment's UI login steps and store the storage state.

    On success `ui_storage_state` (encrypted) and `ui_storage_captured_at` are saved. `timeout` bounds
    the whole capture and `step_timeout` (seconds) each step; both only shorten the waits.
    """
    steps = environment.ui_login_steps
    problems = ui_login_steps_errors(steps)
    if problems:
        return CaptureResult(ok=False, error="The UI login steps are incomplete: " + " ".join(problems))
    try:
        rendered = render_value(steps, environment)
    except UnknownVariables as exc:
        return CaptureResult(ok=False, error=f"The login steps can’t be run. {exc}")
    secrets = _secrets_of(environment)
    for number, step in enumerate(rendered, start=1):
        problem = _step_url_problem(step)
        if problem:
            error = _scrub(f"Step {number} ({_describe(step)}) can’t run: {problem}", secrets)
            return CaptureResult(ok=False, failed_step=number, error=error)
    if not Path(CHROMIUM_PATH).exists():
        return CaptureResult(
            ok=False, error=f"Chromium is not installed at {CHROMIUM_PATH} (Debian package `chromium`)."
        )

    # Playwright's sync API runs an event loop in this thread: the database is only touched after it ends.
    outcome = _drive_browser(rendered, timeout, step_timeout)
    if isinstance(outcome, CaptureResult):
        return CaptureResult(ok=False, error=_scrub(outcome.error, secrets), failed_step=outcome.failed_step)
    cookie_names = sorted({cookie["name"] for cookie in outcome.get("cookies", [])})
    origins = sorted({origin["origin"] for origin in outcome.get("origins", [])})
    if not cookie_names and not origins:
        return CaptureResult(
            ok=False,
            error="Every step ran, but the browser holds no cookies or local storage: "
            "the login probably did not succeed. Add a wait_for_url or wait_for_selector step "
            "that only passes once logged in.",
        )
    captured_at = timezone.now()
    environment.ui_storage_state = json.dumps(outcome)
    environment.ui_storage_captured_at = captured_at
    if environment.pk is not None:
        environment.save(update_fields=["ui_storage_state", "ui_storage_captured_at"])
    return CaptureResult(ok=True, cookie_names=cookie_names, origins=origins, captured_at=captured_at)
