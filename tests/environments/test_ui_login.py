"""capture_ui_login with the real Chromium against a small login page on 127.0.0.1 (SPEC §6)."""

import json
import socket
from pathlib import Path

import pytest
from django.db import connection

from environments.login import capture_ui_login
from environments.models import Environment
from qodex.chromium import CHROMIUM_PATH
from tests.environments.login_site import PASSWORD, SIGN_IN

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not Path(CHROMIUM_PATH).exists(), reason=f"needs Chromium at {CHROMIUM_PATH}"),
]


def test_a_capture_stores_the_encrypted_storage_state(ui_environment, login_site):
    environment = ui_environment(SIGN_IN)

    result = capture_ui_login(environment, step_timeout=10)

    assert result.ok, result.error
    assert result.cookie_names == ["session"]
    assert result.origins == [login_site.url]
    assert result.failed_step is None
    stored = Environment.objects.get(pk=environment.pk)
    assert stored.ui_storage_captured_at == result.captured_at
    state = json.loads(stored.ui_storage_state)
    assert [(cookie["name"], cookie["value"]) for cookie in state["cookies"]] == [
        ("session", "s3ss10n-value")
    ]
    with connection.cursor() as cursor:
        cursor.execute("SELECT ui_storage_state FROM environments WHERE id = %s", [environment.pk])
        raw = cursor.fetchone()[0]
    assert raw.startswith("gAAAA")
    assert "s3ss10n-value" not in raw


def test_a_missing_selector_names_the_failing_step(ui_environment):
    steps = [*SIGN_IN[:3], {"action": "click", "selector": "#no-such-button"}, *SIGN_IN[4:]]
    environment = ui_environment(steps)

    result = capture_ui_login(environment, step_timeout=3)

    assert not result.ok
    assert result.failed_step == 4
    assert result.error.startswith("Step 4 (click “#no-such-button”) timed out after 3s; the browser was at ")
    assert PASSWORD not in result.error
    assert Environment.objects.get(pk=environment.pk).ui_storage_state == ""


def test_an_unreachable_login_page_fails_on_the_first_step(ui_environment):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    environment = ui_environment([{"action": "goto", "url": f"http://127.0.0.1:{port}/login"}])
    result = capture_ui_login(environment, step_timeout=5)
    assert result.failed_step == 1
    assert result.error == (
        f"Step 1 (goto http://127.0.0.1:{port}/login) failed: "
        f"Connection refused by 127.0.0.1:{port}: nothing is listening there. Is the app running?"
    )


def test_steps_that_never_log_in_are_not_mistaken_for_a_capture(ui_environment):
    result = capture_ui_login(ui_environment(SIGN_IN[:1]), step_timeout=5)
    assert not result.ok
    assert result.failed_step is None
    assert "no cookies or local storage" in result.error


def test_unknown_variables_stop_the_capture_before_the_browser_starts(ui_environment):
    steps = [
        {"action": "goto", "url": "${baseUrl}/login"},
        {"action": "fill", "selector": "#otp", "value": "${otp}"},
    ]
    result = capture_ui_login(ui_environment(steps))
    assert result.error == (
        "The login steps can’t be run. Unknown variable ${otp}: define it in the environment's variables."
    )
