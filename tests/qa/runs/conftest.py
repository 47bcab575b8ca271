"""The runner's tests: the shop (tests/targets/shop.py) as the app under test, environments pointing at
it, and the worker, either on this thread (`drain`: the task code path of the worker, inside the test's
transaction) or as real background threads (`worker`: needs committed rows, so `transactional_db`)."""

from __future__ import annotations

import time

import pytest

from environments.models import Environment
from qa.models import TestRun
from qa.worker import drain, start_worker
from tests.api.conftest import make_key  # noqa: F401  (a fixture, shared)
from tests.targets.shop import EMAIL, PASSWORD, Shop


@pytest.fixture
def shop():
    with Shop() as server:
        yield server


@pytest.fixture
def make_environment(shop):
    """`make_environment(project, **fields)`: an environment on the shop, read-write and unlimited unless
    the test says otherwise."""

    def _make(project, **fields) -> Environment:
        values = {
            "name": "Staging",
            "base_url": shop.url,
            "api_base_url": f"{shop.url}/api",
            "read_only": False,
            "max_rps": None,
            "allow_destructive": True,
            "auth_email": EMAIL,
            "auth_password": PASSWORD,
        }
        values.update(fields)
        return Environment.objects.create(project=project, **values)

    return _make


@pytest.fixture
def run_queued():
    """Run every queued task on this thread through the worker's own loop; returns the run refreshed."""

    def _run(run: TestRun | None = None) -> TestRun | None:
        drain()
        if run is not None:
            run.refresh_from_db()
        return run

    return _run


@pytest.fixture
def worker(transactional_db):
    """A real worker pool (two threads and the sweeper) in this process, stopped after the test."""
    pool = start_worker(threads=2, interval=0.1)
    yield pool
    pool.stop(timeout=30)


def wait_for(predicate, timeout: float = 20.0, every: float = 0.1):
    """Poll `predicate()` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout}s waiting for {predicate}")


def wait_finished(run: TestRun, timeout: float = 30.0) -> TestRun:
    def ended():
        run.refresh_from_db()
        return run.finished

    wait_for(ended, timeout)
    return run
