"""The `qodex` CLI end to end (SPEC §10): against the live server, over real HTTP, with a real config file."""

from __future__ import annotations

import io
import os
import pty
import select
import stat
import subprocess
import sys
import time
from importlib import metadata
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
    assert code == 2
    assert err.startswith("error: Not logged in. Run: qodex login --url URL")

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


def test_usage_prints_the_totals_and_the_top_sources(live_server, cast, config):
    from datetime import timedelta

    from django.utils import timezone

    from tests.usage.calls import call

    now = timezone.now()
    for n, source in enumerate(["chat", "chat", "test_run", "api", "memory", "playground", "key_check"]):
        call(
            cast.project, now - timedelta(hours=n), source=source, cost=f"0.{n + 1:02d}", tokens=(1500, 0, 20)
        )
    call(cast.project, now - timedelta(days=3), source="scenario_generation", cost=None, outcome="ok")
    call(cast.other_project, now, source="chat", cost="9.99")  # another organization's: never counted
    raw = ApiKey.issue(organization=cast.org, project=cast.project, name="ci", scope="write")[1]
    run("login", "--url", live_server.url, "--key", raw)

    code, out, err = run("usage")
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0].startswith(f"LLM usage of {cast.project.slug}, ") and lines[0].endswith(" UTC")
    assert lines[1:] == [
        "SOURCE      CALLS  ERRORS  TOKENS IN  TOKENS OUT  COST (USD)",
        "total           8       0     10,600         190  0.28000000",
        "key_check       1       0      1,500          20  0.07000000",
        "playground      1       0      1,500          20  0.06000000",
        "memory          1       0      1,500          20  0.05000000",
        "api             1       0      1,500          20  0.04000000",
        "chat            2       0      3,000          40  0.03000000",
        "… and 2 more sources.",
        "1 call unpriced: no price for the model, cost not included.",
    ]

    code, out, _ = run("usage", "--days", "1")
    assert code == 0 and "scenario_generation" not in out and "total           7" in out


def test_usage_says_when_nothing_was_spent_and_refuses_bad_days(live_server, cast, config, capsys):
    raw = ApiKey.issue(organization=cast.org, project=cast.project, name="ci", scope="write")[1]
    run("login", "--url", live_server.url, "--key", raw)
    code, out, _ = run("usage", "--days", "7")
    assert code == 0 and out.endswith("UTC\nNo LLM calls in this period.\n")
    with pytest.raises(SystemExit) as exit_:
        run("usage", "--days", "400")
    assert exit_.value.code == 2
    assert "give 1 to 366 days" in capsys.readouterr().err


def test_usage_needs_an_admin_key(live_server, cast, config):
    raw = ApiKey.issue(organization=cast.org, project=cast.project, name="ci", scope="read")[1]
    run("login", "--url", live_server.url, "--key", raw)
    code, _, err = run("usage")
    assert code == 1
    assert "(insufficient_scope, HTTP 403)" in err


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
    assert out.splitlines() == [
        "NAME     BASE URL                   AUTH  CONSTRAINTS",
        "Staging  https://staging.acme.test  none  read-only, 5 rps, destructive off, security off",
    ]


def test_projects_list_follows_the_cursor_past_one_page(live_server, cast, config, org_key):
    for n in range(205):
        make_project(cast.org, f"Many {n}", slug=f"many-{n}")
    run("login", "--url", live_server.url, "--key", org_key)
    code, out, _ = run("projects", "list")
    assert code == 0
    assert len(out.splitlines()) == 206


def test_envs_list_aligns_a_table_with_auth_and_constraints(live_server, cast, config):
    from environments.models import Environment

    for name, preset, fields in [
        ("Prod", "production", {"base_url": "https://shop.acme.test", "auth_type": "static_token"}),
        ("Dev", "local", {"base_url": "http://localhost:3000", "auth_type": "api_login"}),
    ]:
        environment = Environment(project=cast.project, name=name, **fields)
        environment.apply_preset(preset)
        if name == "Dev":
            environment.max_rps = None  # unlimited
        environment.save()
    raw = ApiKey.issue(organization=cast.org, project=cast.project, name="ci")[1]
    run("login", "--url", live_server.url, "--key", raw)
    code, out, _ = run("envs", "list")
    assert code == 0
    assert out.splitlines() == [  # by name
        "NAME  BASE URL                AUTH          CONSTRAINTS",
        "Dev   http://localhost:3000   API login     read-write, no rps limit, destructive on, security off",
        "Prod  https://shop.acme.test  static token  read-only, 5 rps, destructive off, security off",
    ]


def test_envs_list_says_when_there_are_none(live_server, cast, config):
    raw = ApiKey.issue(organization=cast.org, project=cast.project, name="ci")[1]
    run("login", "--url", live_server.url, "--key", raw)
    assert run("envs", "list")[:2] == (0, f"No environments in {cast.project.slug} yet.\n")


# --- the key without the command line: QODEX_API_KEY, the hidden prompt -----------------------------------

# The CLI of this checkout (the installed console script may point at another one).
CHECKOUT = Path(cli.__file__).resolve().parents[1]


def cli_env(config: Path, **extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key != cli.KEY_ENV}
    return {**env, cli.CONFIG_ENV: str(config), **extra}


def test_login_reads_the_key_from_QODEX_API_KEY(live_server, cast, config, org_key, monkeypatch):
    monkeypatch.setenv(cli.KEY_ENV, org_key)
    code, out, _ = run("login", "--url", live_server.url)
    assert code == 0
    assert "organization-wide key" in out
    assert org_key in config.read_text()


def test_a_key_on_the_command_line_wins_over_the_environment(live_server, cast, config, org_key, monkeypatch):
    monkeypatch.setenv(cli.KEY_ENV, "qdx_" + "x" * 40)
    assert run("login", "--url", live_server.url, "--key", org_key)[0] == 0
    assert org_key in config.read_text()


def test_login_without_a_key_or_a_terminal_says_how_to_give_one(live_server, cast, config):
    result = subprocess.run(
        [sys.executable, "-m", "qodex.cli", "login", "--url", live_server.url],
        cwd=CHECKOUT,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        env=cli_env(config),
    )
    assert result.returncode == 2
    assert "No API key: set QODEX_API_KEY" in result.stderr
    assert not config.exists()


def test_login_asks_for_the_key_in_a_terminal_without_echoing_it(live_server, cast, config, org_key):
    pid, terminal = pty.fork()
    if pid == 0:  # the child: the CLI, with the pseudo-terminal as its controlling terminal
        try:
            os.chdir(CHECKOUT)
            os.execve(
                sys.executable,
                [sys.executable, "-m", "qodex.cli", "login", "--url", live_server.url],
                cli_env(config),
            )
        finally:
            os._exit(127)  # never run on as a second copy of the test process
    screen = read_until(terminal, b"not shown): ")
    os.write(terminal, org_key.encode() + b"\n")
    screen += read_until(terminal, None)
    _, status = os.waitpid(pid, 0)
    os.close(terminal)
    assert os.waitstatus_to_exitcode(status) == 0, screen
    assert b"Logged in to" in screen
    assert org_key.encode() not in screen  # typed, never shown
    assert org_key in config.read_text()


def read_until(terminal: int, marker: bytes | None, timeout: float = 30) -> bytes:
    """What the terminal shows until `marker` appears (None: until the program exits)."""
    seen = b""
    deadline = time.monotonic() + timeout
    while marker is None or marker not in seen:
        ready, _, _ = select.select([terminal], [], [], max(0.0, deadline - time.monotonic()))
        assert ready, f"timed out waiting for {marker!r}; saw {seen!r}"
        try:
            chunk = os.read(terminal, 1024)
        except OSError:  # EIO: the program exited and closed the terminal
            chunk = b""
        if not chunk:
            assert marker is None, f"exited before {marker!r}; saw {seen!r}"
            return seen
        seen += chunk
    return seen


def test_version_prints_the_installed_version(config):
    result = subprocess.run(
        [sys.executable, "-m", "qodex.cli", "--version"],
        cwd=CHECKOUT,
        capture_output=True,
        text=True,
        timeout=60,
        env=cli_env(config),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"qodex {metadata.version('qodex')}"
