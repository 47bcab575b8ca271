"""`qodex runs start <scenario> --env <name>` (SPEC §10) against the live server and the real worker."""

from __future__ import annotations

import io

import pytest

from projects.models import ApiKey
from qodex import cli
from tests.factories import make_scenario
from tests.qa.runs.test_runner import LOGIN, create_user

pytestmark = pytest.mark.postgres

HEALTH = {"name": "Health", "method": "GET", "target": "/health", "expected_status": 200}


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(list(argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def logged_in(live_server, cast, tmp_path, monkeypatch):
    monkeypatch.setenv(cli.CONFIG_ENV, str(tmp_path / "config.toml"))
    monkeypatch.setattr(cli, "RUN_POLL_SECONDS", 0.2)
    raw = ApiKey.issue(organization=cast.org, project=cast.project, name="ci", scope="write")[1]
    assert run("login", "--url", live_server.url, "--key", raw)[0] == 0


def test_a_passing_run_prints_its_steps_and_exits_0(cast, shop, make_environment, worker, logged_in):
    make_environment(cast.project)
    make_environment(cast.project, name="Production", read_only=True)
    make_scenario(cast.project, [LOGIN, create_user("viewer")], name="Create a viewer")
    code, out, err = run("runs", "start", "create a viewer", "--env", "staging")
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0].startswith("Run #") and lines[0].endswith(" queued.")
    assert lines[1].startswith("[1/2] PASSED  Log in POST http://127.0.0.1:")
    assert "→ 200" in lines[1]
    assert lines[2].startswith("[2/2] PASSED  Create viewer POST ")
    assert "passed against Staging in " in lines[-1]


def test_a_failing_run_exits_1_with_the_reason(cast, shop, make_environment, worker, logged_in):
    make_environment(cast.project)
    scenario = make_scenario(cast.project, [LOGIN, create_user("admin")], name="Create an admin")
    code, out, _ = run("runs", "start", str(scenario.pk), "--env", "Staging")
    assert code == 1
    assert "[2/2] FAILED  Create admin" in out
    assert '$.role should equal "admin", but it is "user".' in out
    assert out.rstrip().endswith(": 1 of 2 steps failed.")


def test_a_blocked_run_exits_1(cast, shop, make_environment, worker, logged_in):
    make_environment(cast.project, read_only=True)
    make_scenario(cast.project, [create_user("viewer")], name="Write")
    code, out, _ = run("runs", "start", "Write")
    assert code == 1
    assert "BLOCKED" in out and "is read-only" in out
    assert shop.requests == []


def test_an_unknown_scenario_or_environment_is_a_clear_error(
    cast, make_environment, logged_in, transactional_db
):
    make_environment(cast.project)
    code, _, err = run("runs", "start", "No such scenario")
    assert code == 1
    assert "No scenario with this id or name in this project. (scenario_not_found, HTTP 404)" in err
    make_scenario(cast.project, [HEALTH], name="Health")
    code, _, err = run("runs", "start", "Health", "--env", "prod")
    assert code == 1 and "No environment named “prod”" in err
