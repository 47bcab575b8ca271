"""`make run` serves with `manage.py rundemo`: the demo login comes last, under Django's banner.

The real command in a subprocess, with the autoreloader as `make run` has it, stopped the way a
terminal's Ctrl-C stops it (SIGINT to the whole process group).
"""

from __future__ import annotations

import os
import select
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from projects.management.commands.seed_demo import DEMO_EMAIL, DEMO_PASSWORD
from tests.factories import default_ctrl_c
from tests.targets.shop import Shop

CHECKOUT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def read_until(stream, marker: str, timeout: float = 60) -> str:
    seen = b""
    deadline = time.monotonic() + timeout
    while marker.encode() not in seen:
        ready, _, _ = select.select([stream], [], [], max(0.0, deadline - time.monotonic()))
        assert ready, f"timed out waiting for {marker!r}; saw {seen.decode(errors='replace')}"
        chunk = os.read(stream.fileno(), 4096)
        assert chunk, f"exited before {marker!r}; saw {seen.decode(errors='replace')}"
        seen += chunk
    return seen.decode()


# Queues a run of one GET against the shop (tests/targets) in the demo's database; prints the run's id.
START_A_RUN = """
from accounts.models import User
from environments.models import Environment
from projects.access import Actor
from projects.models import Organization, OrgMembership
from qa import doors
from qa.models import Scenario
user = User.objects.create_user("runner@example.com", "correct-horse-battery")
org = Organization.objects.create(name="Demo runs")
OrgMembership.objects.create(user=user, organization=org, role="owner")
project = org.default_project
Environment.objects.create(project=project, name="Local", base_url="{url}", read_only=False, max_rps=None)
steps = [{{"method": "GET", "target": "{url}/api/health"}}]
scenario = Scenario.objects.create(project=project, name="Health", steps=steps)
print(doors.start_run(Actor(user=user, sudo=True), project, scenario=scenario).pk)
"""
RUN_STATUS = "from qa.models import TestRun; print(TestRun.objects.get(pk={pk}).status)"


def test_rundemo_prints_the_demo_login_after_the_banner_and_stops_cleanly_on_ctrl_c(tmp_path):
    port = free_port()
    env = {
        **os.environ,
        "DEBUG": "1",
        # Its own throwaway database, migrated as `make run` does.
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("QODEX_PLATFORM_API_KEY", None)
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=CHECKOUT, env=env, check=True)
    server = subprocess.Popen(
        [sys.executable, "manage.py", "rundemo", f"127.0.0.1:{port}"],
        cwd=CHECKOUT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        preexec_fn=default_ctrl_c,
    )
    try:
        shown = read_until(server.stdout, "offline stand-in")
        banner = shown.index("Quit the server with CONTROL-C.")
        warning = shown.index("This is a development server")
        login = shown.index(f"Demo login: {DEMO_EMAIL} / {DEMO_PASSWORD}")
        assert banner < warning < login
        # No QODEX_PLATFORM_API_KEY with DEBUG on: LLM calls go to the stand-in it started.
        assert "LLM calls go to the offline stand-in at http://127.0.0.1:" in shown[login:]
        assert "Test runs execute on the background worker" in shown[login:]
        assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=10).status_code == 200
        # The worker next to the server runs what is queued.
        with Shop() as shop:
            pk = manage_shell(env, START_A_RUN.format(url=shop.url))
            deadline = time.monotonic() + 30
            while manage_shell(env, RUN_STATUS.format(pk=pk)) in ("queued", "running"):
                assert time.monotonic() < deadline, "the run was not executed by make run's worker"
                time.sleep(0.5)
            assert manage_shell(env, RUN_STATUS.format(pk=pk)) == "passed"
            assert shop.paths() == ["GET /api/health"]
    finally:
        os.killpg(server.pid, signal.SIGINT)
        try:
            rest = server.communicate(timeout=30)[0].decode()
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            raise
    assert server.returncode == 0
    assert "Traceback" not in rest


def manage_shell(env: dict, code: str) -> str:
    done = subprocess.run(
        [sys.executable, "manage.py", "shell", "-v", "0", "-c", code],
        cwd=CHECKOUT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()
