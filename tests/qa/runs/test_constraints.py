"""The environment's constraints are enforced before anything is sent (SPEC §6, §9): a blocked step is
recorded as blocked with its reason, and the target receives nothing."""

from __future__ import annotations

import pytest

from projects.access import Actor
from qa import doors
from qa.models import StepResult, TestRun
from tests.factories import make_scenario

pytestmark = pytest.mark.postgres

HEALTH = {"name": "Health", "method": "GET", "target": "${API_BASE_URL}/health", "expected_status": 200}
CREATE = {"name": "Create", "method": "POST", "target": "${API_BASE_URL}/users", "body": {"name": "Ada"}}


def run_scenario(cast, steps, run_queued) -> TestRun:
    scenario = make_scenario(cast.project, steps)
    return run_queued(doors.start_run(Actor(user=cast.member), cast.project, scenario=scenario))


def test_a_read_only_environment_blocks_unsafe_methods_and_sends_nothing_after(
    cast, shop, make_environment, run_queued
):
    make_environment(cast.project, name="Production", read_only=True)
    run = run_scenario(cast, [CREATE, HEALTH], run_queued)
    assert shop.requests == []
    blocked, after = run.step_results.all()
    assert blocked.status == StepResult.Status.BLOCKED
    assert blocked.reason == (
        "Blocked: “Production” is read-only, so only GET, HEAD and OPTIONS requests are sent; this step "
        "is a POST. Nothing was sent."
    )
    assert blocked.response is None and blocked.duration_ms is None
    assert after.status == StepResult.Status.SKIPPED  # it may depend on what was blocked
    assert (run.status, run.reason) == (
        TestRun.Status.BLOCKED,
        "1 of 2 steps blocked by the environment's constraints, never sent.",
    )


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE"])
def test_read_only_blocks_every_unsafe_method(cast, shop, make_environment, run_queued, method):
    make_environment(cast.project, read_only=True)
    run = run_scenario(cast, [{"method": method, "target": "/users/1"}], run_queued)
    assert run.step_results.get().status == StepResult.Status.BLOCKED
    assert shop.requests == []


def test_a_read_only_environment_still_sends_safe_methods(cast, shop, make_environment, run_queued):
    make_environment(cast.project, read_only=True)
    run = run_scenario(cast, [HEALTH, {"method": "HEAD", "target": "/health"}], run_queued)
    assert run.status == TestRun.Status.PASSED
    assert shop.paths() == ["GET /api/health", "HEAD /api/health"]


def test_destructive_steps_are_blocked_unless_the_environment_allows_them(
    cast, shop, make_environment, run_queued
):
    environment = make_environment(cast.project, allow_destructive=False)
    wipe = {"name": "Wipe", "method": "POST", "target": "/users", "body": {"name": "x"}, "destructive": True}
    delete = {"name": "Delete", "method": "DELETE", "target": "/users/1"}
    run = run_scenario(cast, [wipe], run_queued)
    assert run.step_results.get().reason == (
        "Blocked: this step is marked destructive, and “Staging” does not allow destructive steps. "
        "Nothing was sent."
    )
    run = run_scenario(cast, [delete], run_queued)
    assert "is a DELETE (destructive)" in run.step_results.get().reason
    assert shop.requests == []

    environment.allow_destructive = True
    environment.save()
    run = run_scenario(cast, [wipe], run_queued)
    assert run.step_results.get().status == StepResult.Status.FAILED  # sent: the shop wants a token
    assert shop.paths() == ["POST /api/users"]


def test_security_steps_are_blocked_unless_security_testing_is_allowed(
    cast, shop, make_environment, run_queued
):
    environment = make_environment(cast.project)
    probe = {"name": "Probe", "method": "GET", "target": "/users/1' OR 1=1", "security": True}
    run = run_scenario(cast, [probe], run_queued)
    assert run.status == TestRun.Status.BLOCKED
    assert "does not allow security testing" in run.step_results.get().reason
    assert shop.requests == []
    environment.allow_security_testing = True
    environment.save()
    run_scenario(cast, [probe], run_queued)
    assert len(shop.requests) == 1


def test_the_outbound_policy_blocks_private_targets_when_they_are_not_allowed(
    cast, shop, make_environment, run_queued, settings
):
    make_environment(cast.project)
    settings.QODEX_ALLOW_PRIVATE_TARGETS = False
    run = run_scenario(cast, [HEALTH], run_queued)
    step = run.step_results.get()
    assert step.status == StepResult.Status.BLOCKED
    assert "loopback address" in step.reason
    assert shop.requests == []


def test_a_step_to_another_address_is_blocked_so_no_credential_leaves_the_environment(
    cast, shop, make_environment, run_queued
):
    """A member writes scenarios but can't change where the environment's secrets go (SPEC §6): a step
    aimed elsewhere, with the token in its URL, is never sent, and neither is the auth header."""
    from tests.targets.shop import Shop

    make_environment(cast.project, auth_type="static_token", auth_token="tok-environment-secret-1234")
    with Shop() as elsewhere:
        steal = {"name": "Steal", "method": "GET", "target": f"{elsewhere.url}/api/health?t=${{authToken}}"}
        run = run_scenario(cast, [steal, HEALTH], run_queued)
        assert elsewhere.requests == []
    blocked, after = run.step_results.all()
    assert blocked.status == StepResult.Status.BLOCKED
    assert "outside “Staging”" in blocked.reason and "Nothing was sent" in blocked.reason
    assert "tok-environment-secret-1234" not in str(blocked.request)
    assert after.status == StepResult.Status.SKIPPED
    assert shop.requests == []


def test_steps_reach_both_of_the_environments_own_addresses(cast, shop, make_environment, run_queued):
    make_environment(cast.project)
    run = run_scenario(
        cast, [HEALTH, {"name": "Home", "method": "GET", "target": "${baseUrl}/api/health"}], run_queued
    )
    assert run.status == TestRun.Status.PASSED, run.reason
