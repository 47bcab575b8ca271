"""The runner against the shop over real HTTP: passing and failing runs, captures across steps, findings
by fingerprint, and secrets scrubbed from what is recorded."""

from __future__ import annotations

import pytest

from projects.access import Actor
from qa import doors
from qa.models import Finding, StepResult, TestRun
from tests.factories import make_scenario
from tests.targets.shop import PASSWORD

pytestmark = pytest.mark.postgres

LOGIN = {
    "name": "Log in",
    "method": "POST",
    "target": "${API_BASE_URL}/login",
    "body": {"email": "${authEmail}", "password": "${authPassword}"},
    "expected_status": 200,
    "captures": [{"as": "token", "from": "$.data.token"}],
}


def create_user(role: str) -> dict:
    return {
        "name": f"Create {role}",
        "method": "POST",
        "target": "${API_BASE_URL}/users",
        "headers": {"Authorization": "Bearer ${token}"},
        "body": {"name": "Ada", "role": role},
        "expected_status": 201,
        "captures": [{"as": "userId", "from": "$.id"}],
        "expectations": [
            {"kind": "jsonpath", "path": "$.id", "exists": True},
            {"kind": "jsonpath", "path": "$.role", "equals": role},
        ],
    }


READ_BACK = {
    "name": "Read it back",
    "method": "GET",
    "target": "${API_BASE_URL}/users/${userId}",
    "headers": {"Authorization": "Bearer ${token}"},
    "expected_status": 200,
    "expectations": [{"kind": "jsonpath", "path": "$.name", "equals": "Ada"}],
}


def start(cast, scenario, environment=None):
    return doors.start_run(Actor(user=cast.member), cast.project, scenario=scenario, environment=environment)


def test_a_passing_run_sends_each_step_and_carries_captures_into_later_ones(
    cast, shop, make_environment, run_queued
):
    make_environment(cast.project)
    scenario = make_scenario(cast.project, [LOGIN, create_user("viewer"), READ_BACK], name="Users")
    run = start(cast, scenario)
    assert run.status == TestRun.Status.QUEUED
    assert shop.requests == []  # queued, not run in the request

    run_queued(run)
    assert (run.status, run.reason) == (TestRun.Status.PASSED, "")
    assert (run.steps_done, run.steps_total) == (3, 3)
    assert run.started_at and run.finished_at and run.trigger == TestRun.Trigger.USER
    assert shop.paths() == ["POST /api/login", "POST /api/users", "GET /api/users/1"]
    # The token captured in step 1 went out in step 2's header; the user id in step 3's URL.
    token = shop.requests[0]
    assert shop.requests[1].headers["Authorization"].startswith("Bearer tok-")
    assert token.body and b'"password"' in token.body
    results = list(run.step_results.all())
    assert [r.status for r in results] == ["passed"] * 3
    assert results[2].request["url"] == f"{shop.url}/api/users/1"
    assert results[2].response["status"] == 200
    assert all(e["passed"] for e in results[1].expectations)
    assert not Finding.objects.exists()


def test_a_failing_expectation_fails_the_run_and_opens_a_finding(cast, shop, make_environment, run_queued):
    make_environment(cast.project)
    scenario = make_scenario(cast.project, [LOGIN, create_user("admin"), READ_BACK], priority="high")
    run = run_queued(start(cast, scenario))

    assert run.status == TestRun.Status.FAILED
    assert run.reason == "1 of 3 steps failed."
    step = run.step_results.get(position=1)
    assert step.status == StepResult.Status.FAILED
    assert step.reason == '$.role should equal "admin", but it is "user".'
    assert len(shop.requests) == 3  # later steps still ran: the user exists
    finding = Finding.objects.get()
    assert (finding.status, finding.severity, finding.category) == ("open", "high", "functional")
    assert finding.test_run_id == run.pk and finding.scenario_id == scenario.pk
    assert finding.occurrences == 1
    assert "Create admin" in finding.title
    assert finding.evidence["expectation"]["path"] == "$.role"
    assert finding.evidence["response"]["status"] == 201
    assert finding.evidence["request"]["body"] == {"name": "Ada", "role": "admin"}


def test_a_repeated_failure_updates_its_open_finding_and_a_new_one_opens_after_triage(
    cast, shop, make_environment, run_queued
):
    make_environment(cast.project)
    scenario = make_scenario(cast.project, [LOGIN, create_user("admin")])
    first = run_queued(start(cast, scenario))
    second = run_queued(start(cast, scenario))
    finding = Finding.objects.get()
    assert finding.occurrences == 2
    assert finding.test_run_id == second.pk
    assert finding.last_seen_at > finding.first_seen_at
    assert first.status == second.status == TestRun.Status.FAILED

    doors.triage_finding(Actor(user=cast.member), cast.project, finding, "fixed")
    run_queued(start(cast, scenario))
    assert Finding.objects.count() == 2  # fixed stays fixed; the regression opens a new one
    assert Finding.objects.filter(status="open").get().occurrences == 1


def test_an_unexpected_server_error_is_an_api_error_finding(cast, shop, make_environment, run_queued):
    make_environment(cast.project)
    steps = [{"name": "Boom", "method": "GET", "target": "/boom", "expected_status": 200}]
    run = run_queued(start(cast, make_scenario(cast.project, steps, priority="low")))
    assert run.status == TestRun.Status.FAILED
    assert run.step_results.get().reason == "Expected HTTP 200, got HTTP 500."
    finding = Finding.objects.get()
    assert (finding.category, finding.severity) == ("api_error", "high")


def test_a_failed_capture_fails_its_step_and_the_next_step_that_needs_it_errors(
    cast, shop, make_environment, run_queued
):
    make_environment(cast.project)
    steps = [
        {"name": "Health", "method": "GET", "target": "/health", "captures": [{"as": "id", "from": "$.id"}]},
        {"name": "Use it", "method": "GET", "target": "/users/${id}"},
        {"name": "After", "method": "GET", "target": "/health"},
    ]
    run = run_queued(start(cast, make_scenario(cast.project, steps)))
    results = list(run.step_results.values_list("status", "reason"))
    assert results[0] == ("failed", "Capture ${id} failed: $.id matched nothing.")
    assert results[1][0] == "error" and "Unknown variable ${id}" in results[1][1]
    assert results[2][0] == "skipped"
    assert shop.paths() == ["GET /api/health"]
    assert run.status == TestRun.Status.FAILED


def test_secrets_are_scrubbed_from_recorded_requests_and_responses(cast, shop, make_environment, run_queued):
    make_environment(cast.project)
    echo = {"name": "Log in", "method": "POST", "target": "/login", "body": {"password": "${authPassword}"}}
    run = run_queued(start(cast, make_scenario(cast.project, [echo, LOGIN])))
    recorded = str(list(run.step_results.values("request", "response", "reason", "expectations")))
    assert PASSWORD not in recorded
    assert "••••" in recorded
    token = run.step_results.get(position=1).response["body"]
    assert "tok-" not in token  # a capture named like a credential is scrubbed too


def test_a_run_of_a_collection_runs_its_active_scenarios_in_order(cast, shop, make_environment, run_queued):
    from qa.models import Collection, CollectionScenario

    make_environment(cast.project)
    health = {"method": "GET", "target": "/health"}
    first = make_scenario(cast.project, [health], name="First")
    draft = make_scenario(cast.project, [health], name="Draft", status="draft")
    second = make_scenario(cast.project, [{"method": "GET", "target": "/boom", "expected_status": 500}])
    collection = Collection.objects.create(project=cast.project, name="Smoke")
    for position, scenario in enumerate([second, draft, first]):
        CollectionScenario.objects.create(collection=collection, scenario=scenario, position=position)
    run = doors.start_run(Actor(user=cast.member), cast.project, collection=collection)
    assert run.scenario_ids == [second.pk, first.pk]
    run_queued(run)
    assert run.status == TestRun.Status.PASSED
    assert shop.paths() == ["GET /api/boom", "GET /api/health"]


def test_a_target_that_is_not_a_url_is_an_error_of_the_step_not_a_block(
    cast, shop, make_environment, run_queued
):
    make_environment(cast.project)
    run = run_queued(start(cast, make_scenario(cast.project, [{"method": "GET", "target": "users"}])))
    step = run.step_results.get()
    assert step.status == StepResult.Status.ERROR
    assert "is not a full http:// or https:// URL" in step.reason
    assert run.status == TestRun.Status.ERROR


def test_a_header_that_http_cannot_carry_errors_the_step(cast, shop, make_environment, run_queued):
    make_environment(cast.project)
    steps = [{"method": "GET", "target": "/health", "headers": {"Bad Name": "x"}}]
    run = run_queued(start(cast, make_scenario(cast.project, steps)))
    assert run.step_results.get().status == StepResult.Status.ERROR
    assert run.status == TestRun.Status.ERROR
