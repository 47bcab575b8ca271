"""The `qodex` CLI end to end (SPEC §10): against the live server, over real HTTP, with a real config file."""

from __future__ import annotations

import io
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from projects.models import ApiKey
from qodex import cli
from tests.factories import make_project


@pytest.fixture
def config(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "qodex" / "config.toml"
    monkeypatch.setenv(cli.CONFIG_ENV, str(path))
    return path


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(list(argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def org_key(cast) -> str:
    return ApiKey.issue(organization=cast.org, name="cli", scope="read", created_by=cast.owner)[1]


def test_login_list_use_current_with_an_org_wide_key(live_server, cast, config, org_key):
    second = make_project(cast.org, "Checkout", slug="checkout")

    code, out, _ = run("login", "--url", live_server.url, "--key", org_key)
    assert code == 0
    assert "organization-wide key" in out
    assert stat.S_IMODE(os.stat(config).st_mode) == 0o600
    assert org_key in config.read_text()

    code, out, _ = run("projects", "list")
    assert code == 0
    assert cast.project.slug in out and "checkout" in out
    assert cast.other_project.slug not in out  # another organization

    code, err_out, err = run("projects", "current")
    assert code == 2
    assert "qodex projects use" in err

    assert run("projects", "use", "checkout")[0] == 0
    code, out, _ = run("projects", "current")
    assert code == 0
    assert out.startswith(f"checkout ({second.public_id})")
    assert "* checkout" in run("projects", "list")[1]
    assert stat.S_IMODE(os.stat(config).st_mode) == 0o600


def test_a_locked_key_logs_in_to_its_project(live_server, cast, config):
    project = make_project(cast.org, "Locked", slug="locked")
    raw = ApiKey.issue(organization=cast.org, project=project, name="ci")[1]
    code, out, _ = run("login", "--url", live_server.url, "--key", raw)
    assert code == 0
    assert "locked to the project locked" in out
    assert run("projects", "current")[1].startswith("locked ")
    code, out, _ = run("projects", "list")
    assert code == 0
    assert out.split() == ["*", "locked", project.public_id, "Locked"]
    code, _, err = run("projects", "use", cast.project.slug)
    assert code == 1
    assert "Reachable: locked" in err


def test_clear_errors_and_exit_codes(live_server, cast, config, org_key):
    code, _, err = run("projects", "list")
    assert (code, err.strip()) == (2, "error: Not logged in. Run: qodex login --url URL --key KEY")

    code, _, err = run("login", "--url", live_server.url, "--key", "qdx_" + "x" * 40)
    assert code == 1
    assert "invalid_api_key" in err
    assert not config.exists()

    code, _, err = run("login", "--url", "http://127.0.0.1:9", "--key", org_key)
    assert code == 1
    assert "Could not reach" in err

    assert run("login", "--url", live_server.url, "--key", org_key)[0] == 0
    code, _, err = run("projects", "use", "nope")
    assert code == 1
    assert "No project “nope”" in err

    ApiKey.find(org_key).revoke()
    code, _, err = run("projects", "list")
    assert code == 1
    assert "api_key_revoked" in err
    assert org_key not in err


def test_usage_prints_the_note_for_now(live_server, cast, config):
    raw = ApiKey.issue(organization=cast.org, project=cast.project, name="ci", scope="write")[1]
    run("login", "--url", live_server.url, "--key", raw)
    code, out, _ = run("usage")
    assert code == 0
    assert "not recorded yet" in out


def test_the_installed_console_script_runs(live_server, cast, config, org_key):
    script = Path(sys.executable).with_name("qodex")
    result = subprocess.run(
        [str(script), "login", "--url", live_server.url, "--key", org_key],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, cli.CONFIG_ENV: str(config)},
    )
    assert result.returncode == 0, result.stderr
    assert "Logged in" in result.stdout


def test_envs_list_shows_the_current_projects_environments(live_server, cast, config):
    from environments.models import Environment

    Environment.objects.create(project=cast.project, name="Staging", base_url="https://staging.acme.test")
    raw = ApiKey.issue(organization=cast.org, project=cast.project, name="ci")[1]
    run("login", "--url", live_server.url, "--key", raw)
    code, out, _ = run("envs", "list")
    assert code == 0
    assert out.split() == ["Staging", "https://staging.acme.test", "auth:", "none"]


def test_projects_list_follows_the_cursor_past_one_page(live_server, cast, config, org_key):
    for n in range(205):
        make_project(cast.org, f"Many {n}", slug=f"many-{n}")
    run("login", "--url", live_server.url, "--key", org_key)
    code, out, _ = run("projects", "list")
    assert code == 0
    assert len(out.splitlines()) == 206
