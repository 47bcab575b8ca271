"""Each auth mode of the environment (SPEC §6) on the requests a run sends."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from environments.login import capture_ui_login
from environments.models import Environment
from projects.access import Actor
from qa import doors
from qa.models import StepResult, TestRun
from qodex.chromium import CHROMIUM_PATH
from tests.factories import make_scenario
from tests.targets.shop import TOKEN

pytestmark = pytest.mark.postgres

LIST_USERS = {"name": "List users", "method": "GET", "target": "/users", "expected_status": 200}
API_LOGIN = {
    "method": "POST",
    "url": "${apiBaseUrl}/login",
    "body": {"email": "${authEmail}", "password": "${authPassword}"},
    "token_path": "$.data.token",
}


def run_once(cast, run_queued) -> TestRun:
    scenario = make_scenario(cast.project, [LIST_USERS])
    return run_queued(doors.start_run(Actor(user=cast.member), cast.project, scenario=scenario))


def test_no_auth_sends_no_credentials(cast, shop, make_environment, run_queued):
    make_environment(cast.project)
    run = run_once(cast, run_queued)
    assert run.status == TestRun.Status.FAILED
    assert "Authorization" not in shop.requests[0].headers
    assert run.step_results.get().reason == "Expected HTTP 200, got HTTP 401."


def test_a_static_token_goes_in_the_authorization_header(cast, shop, make_environment, run_queued):
    make_environment(cast.project, auth_type="static_token", auth_token=TOKEN)
    run = run_once(cast, run_queued)
    assert run.status == TestRun.Status.PASSED
    assert shop.requests[0].headers["Authorization"] == f"Bearer {TOKEN}"
    recorded = run.step_results.get().request["headers"]["Authorization"]
    assert TOKEN not in recorded and recorded.startswith("Bearer ••••")


def test_a_static_token_uses_the_header_name_and_prefix_set(cast, shop, make_environment, run_queued):
    make_environment(
        cast.project,
        auth_type="static_token",
        auth_token=TOKEN,
        auth_header_name="X-Shop-Token",
        auth_header_prefix="",
    )
    assert run_once(cast, run_queued).status == TestRun.Status.PASSED
    assert shop.requests[0].headers["X-Shop-Token"] == TOKEN


def test_an_api_login_token_is_fetched_once_cached_and_refreshed_when_the_environment_is_saved(
    cast, shop, make_environment, run_queued
):
    environment = make_environment(cast.project, auth_type="api_login", api_login_config=API_LOGIN)
    assert run_once(cast, run_queued).status == TestRun.Status.PASSED
    assert run_once(cast, run_queued).status == TestRun.Status.PASSED
    assert shop.paths() == ["POST /api/login", "GET /api/users", "GET /api/users"]  # one login, cached
    token = shop.requests[1].headers["Authorization"]
    assert token.startswith("Bearer tok-") and shop.requests[2].headers["Authorization"] == token

    environment.refresh_from_db()
    environment.max_rps = 50
    environment.save()  # a save clears the cached token
    assert run_once(cast, run_queued).status == TestRun.Status.PASSED
    assert shop.paths()[3:] == ["POST /api/login", "GET /api/users"]
    assert shop.requests[4].headers["Authorization"] != token


def test_a_failing_api_login_ends_the_run_with_its_reason_and_sends_no_step(
    cast, shop, make_environment, run_queued
):
    make_environment(cast.project, auth_type="api_login", api_login_config=API_LOGIN, auth_password="wrong")
    run = run_once(cast, run_queued)
    assert run.status == TestRun.Status.ERROR
    assert run.reason.startswith("The API login of “Staging” failed: The login endpoint answered HTTP 401")
    assert shop.paths() == ["POST /api/login"]
    assert run.step_results.get().status == StepResult.Status.SKIPPED


def test_a_ui_login_run_sends_the_cookies_of_the_captured_storage_state(
    cast, shop, make_environment, run_queued
):
    if not Path(CHROMIUM_PATH).exists():
        pytest.skip("Chromium is not installed")
    environment = make_environment(
        cast.project,
        auth_type="ui_login",
        ui_login_steps=[
            {"action": "goto", "url": "${baseUrl}/signin"},
            {"action": "fill", "selector": "#email", "value": "${authEmail}"},
            {"action": "fill", "selector": "#password", "value": "${authPassword}"},
            {"action": "click", "selector": "button[type=submit]"},
            {"action": "wait_for_selector", "selector": ".welcome"},
        ],
    )
    assert capture_ui_login(environment).ok
    sid = next(c["value"] for c in json.loads(environment.ui_storage_state)["cookies"] if c["name"] == "sid")
    before = len(shop.requests)
    run = run_once(cast, run_queued)
    assert run.status == TestRun.Status.PASSED
    assert f"sid={sid}" in shop.requests[before].headers["Cookie"]
    assert sid not in json.dumps(run.step_results.get().request)


def test_a_ui_login_never_captured_ends_the_run_saying_so(cast, shop, make_environment, run_queued):
    make_environment(
        cast.project,
        auth_type=Environment.AuthType.UI_LOGIN,
        ui_login_steps=[{"action": "goto", "url": "${baseUrl}/signin"}],
    )
    run = run_once(cast, run_queued)
    assert run.status == TestRun.Status.ERROR
    assert "was never captured" in run.reason
    assert shop.requests == []
