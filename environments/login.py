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
from qodex import crypto

CONNECT_TIMEOUT = 10.0  # seconds
READ_TIMEOUT = 10.0
EXCERPT_LENGTH = 200

# The system Chromium (Debian package `chromium`); Playwright never downloads a browser here.
CHROMIUM_PATH = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
CAPTURE_TIMEOUT = 60.0  # seconds for the whole capture, every step included

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
    for secret in secrets:
        text = text.replace(secret, crypto.MASK)
    return text


def _excerpt(text: str, secrets: list[str]) -> str:
    text = _scrub(re.sub(r"\s+", " ", text).strip(), secrets)
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
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return fail(
            f"The login URL “{url}” is not an absolute http(s) URL once variables are rendered; "
            "start it with ${apiBaseUrl} or https://."
        )
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
        with httpx.Client(timeout=limits, follow_redirects=True) as client:
            response = client.request(
                config["method"].upper(), url, headers=request.get("headers") or {}, **body_kwargs
            )
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


def _drive_browser(
    steps: list[dict[str, str]], timeout: float, step_timeout: float | None
) -> dict | CaptureResult:
    """Run the steps in a fresh headless Chromium; the storage state, or a failed CaptureResult."""
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
    from playwright.sync_api import sync_playwright

    deadline = time.monotonic() + timeout
    with sync_playwright() as playwright:
        try:
            browser = playwright.chromium.launch(executable_path=CHROMIUM_PATH, args=CHROMIUM_ARGS)
        except PlaywrightError as exc:
            return CaptureResult(ok=False, error=f"Chromium could not start: {exc.message.splitlines()[0]}")
        try:
            context = browser.new_context()
            page = context.new_page()
            for number, step in enumerate(steps, start=1):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return CaptureResult(
                        ok=False, failed_step=number, error=f"The capture ran out of its {timeout:g}s."
                    )
                limit = min(remaining, step_timeout or remaining)
                try:
                    _run_step(page, step, limit * 1000)
                except PlaywrightTimeoutError:
                    return CaptureResult(
                        ok=False,
                        failed_step=number,
                        error=f"Step {number} ({_describe(step)}) timed out after {limit:g}s; "
                        f"the browser was at {page.url}.",
                    )
                except PlaywrightError as exc:
                    return CaptureResult(
                        ok=False,
                        failed_step=number,
                        error=f"Step {number} ({_describe(step)}) failed: {exc.message.splitlines()[0]}",
                    )
            # A last click may have started a navigation that sets the session cookie: let it finish.
            with contextlib.suppress(PlaywrightTimeoutError):
                page.wait_for_load_state("load", timeout=max(deadline - time.monotonic(), 0.1) * 1000)
            return context.storage_state()
        finally:
            browser.close()


def capture_ui_login(
    environment: Environment, *, timeout: float = CAPTURE_TIMEOUT, step_timeout: float | None = None
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
    if not Path(CHROMIUM_PATH).exists():
        return CaptureResult(
            ok=False, error=f"Chromium is not installed at {CHROMIUM_PATH} (Debian package `chromium`)."
        )
    secrets = _secrets_of(environment)

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
