"""Runs off the request cycle on the real worker (threads of this process, or a `manage.py run_worker`
process): the rate limit measured at the target, cancellation, timeouts, and runs a killed worker left."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone

from projects.access import Actor
from qa import doors, runner
from qa.models import StepResult, TestRun
from qa.worker import start_worker
from tests.factories import make_scenario
from tests.qa.runs.conftest import wait_finished, wait_for

pytestmark = pytest.mark.postgres
CHECKOUT = Path(__file__).resolve().parents[3]


def health_steps(count: int) -> list[dict]:
    return [{"name": f"Health {n}", "method": "GET", "target": "/health"} for n in range(count)]


def start(cast, steps, **kwargs) -> TestRun:
    scenario = make_scenario(cast.project, steps)
    return doors.start_run(Actor(user=cast.member), cast.project, scenario=scenario, **kwargs)


def test_the_worker_runs_a_queued_run_off_the_request_cycle(cast, shop, make_environment, worker):
    make_environment(cast.project)
    run = wait_finished(start(cast, health_steps(2)))
    assert run.status == TestRun.Status.PASSED
    assert shop.paths() == ["GET /api/health"] * 2


def test_two_concurrent_runs_on_one_environment_never_exceed_its_max_rps(
    cast, shop, make_environment, worker
):
    make_environment(cast.project, max_rps=5)
    first, second = start(cast, health_steps(8)), start(cast, health_steps(8))
    began = time.monotonic()
    wait_finished(first, 60), wait_finished(second, 60)
    assert first.status == second.status == TestRun.Status.PASSED
    assert len(shop.requests) == 16
    assert shop.most_in_one_second() <= 5
    assert time.monotonic() - began >= 15 / 5  # 16 requests at 5 per second take at least 3 s
    # They ran at the same time: each started before the other finished.
    spans = {
        run.pk: (run.step_results.order_by("position").first().started_at, run.finished_at)
        for run in (first, second)
    }
    assert spans[first.pk][0] < spans[second.pk][1] and spans[second.pk][0] < spans[first.pk][1]


def test_cancelling_a_running_run_stops_it_within_seconds(cast, shop, make_environment, worker):
    make_environment(cast.project)
    steps = [{"name": "Slow", "method": "GET", "target": "/slow?seconds=20"}, *health_steps(2)]
    run = start(cast, steps)
    wait_for(lambda: shop.requests)  # the slow request is in flight
    asked = time.monotonic()
    doors.cancel_run(Actor(user=cast.member), cast.project, run)
    wait_finished(run, timeout=5)
    assert time.monotonic() - asked < 4
    assert (run.status, run.reason) == (TestRun.Status.ERROR, "cancelled")
    statuses = list(run.step_results.values_list("status", "reason"))
    assert statuses[0] == ("error", "The run was cancelled while this request was in flight.")
    assert [status for status, _ in statuses[1:]] == ["skipped", "skipped"]
    assert shop.paths() == ["GET /api/slow"]


def test_cancelling_a_queued_run_ends_it_before_it_starts(cast, shop, make_environment, run_queued):
    make_environment(cast.project)
    run = start(cast, health_steps(2))
    doors.cancel_run(Actor(user=cast.member), cast.project, run)
    assert (run.status, run.reason) == (TestRun.Status.ERROR, "cancelled")
    run_queued(run)  # its task finds it ended and sends nothing
    assert run.status == TestRun.Status.ERROR
    assert shop.requests == []
    assert list(run.step_results.values_list("status", flat=True)) == ["skipped", "skipped"]


def test_a_step_that_gets_no_answer_in_time_errors(cast, shop, make_environment, run_queued, settings):
    settings.QODEX_RUN_STEP_TIMEOUT_SECONDS = 0.5
    make_environment(cast.project)
    run = run_queued(start(cast, [{"name": "Slow", "method": "GET", "target": "/slow?seconds=3"}]))
    step = run.step_results.get()
    assert step.status == StepResult.Status.ERROR
    assert step.reason.endswith("sent no answer within 0.5 seconds (the step timeout).")
    assert (run.status, run.reason) == (TestRun.Status.ERROR, "1 of 1 step got no response.")


def test_a_run_past_its_timeout_ends_with_the_reason(cast, shop, make_environment, run_queued, settings):
    settings.QODEX_RUN_TIMEOUT_SECONDS = 1
    make_environment(cast.project)
    began = time.monotonic()
    run = run_queued(start(cast, [{"method": "GET", "target": "/slow?seconds=5"}, *health_steps(1)]))
    assert time.monotonic() - began < 4
    assert (run.status, run.reason) == (TestRun.Status.ERROR, "The run timed out after 1 seconds.")
    assert list(run.step_results.values_list("status", flat=True)) == ["error", "skipped"]


def test_a_run_left_running_by_a_killed_worker_process_is_failed_with_a_reason(
    cast, shop, make_environment, transactional_db, settings
):
    make_environment(cast.project)
    run = start(cast, [{"name": "Slow", "method": "GET", "target": "/slow?seconds=30"}, *health_steps(1)])
    database = connection.settings_dict
    url = f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/{database['NAME']}"
    process = subprocess.Popen(
        [sys.executable, "manage.py", "run_worker", "--threads", "1", "--interval", "0.1"],
        cwd=CHECKOUT,
        env={**os.environ, "DATABASE_URL": url, "QODEX_ALLOW_PRIVATE_TARGETS": "1"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(lambda: shop.requests, timeout=30)  # running, its first request in flight
        run.refresh_from_db()
        assert run.status == TestRun.Status.RUNNING and run.heartbeat_at is not None
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(10)

    settings.QODEX_RUN_STALE_SECONDS = 2
    pool = start_worker(threads=1, interval=0.1, sweep_every=0.5)  # a worker that comes up later
    try:
        wait_finished(run, timeout=15)
    finally:
        pool.stop()
    assert run.status == TestRun.Status.ERROR
    assert run.reason.startswith("The worker running this test run stopped (no sign of life since ")
    assert run.reason.endswith("after 0 of 2 steps. Re-run it.")
    assert list(run.step_results.values_list("status", flat=True)) == ["skipped", "skipped"]
    assert shop.paths() == ["GET /api/slow"]  # nothing was sent again


def test_the_sweep_leaves_runs_whose_worker_is_alive_alone(cast, make_environment, run_queued):
    make_environment(cast.project)
    run = start(cast, health_steps(1))
    TestRun.objects.filter(pk=run.pk).update(status="running", heartbeat_at=timezone.now())
    assert runner.recover_stale_runs() == []
    run.refresh_from_db()
    assert run.status == TestRun.Status.RUNNING
