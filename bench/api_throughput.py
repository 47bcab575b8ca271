"""SPEC §12: authenticated API list throughput ≥ 50% of /healthz throughput under the same gunicorn.

One gunicorn (same workers for both) on 127.0.0.1 serves a fresh database (SQLite in a temp dir, or
DATABASE_URL when set); the load generator hammers `/healthz`, then `GET /api/v1/org/projects` with an
org-wide key, each for a bounded time. The generator is `wrk` when installed (Debian package `wrk`): it
costs the server's CPU far less than Python does; otherwise Python client processes with a bounded
number of requests. Prints one JSON line:

    {"name": "api_list_vs_healthz", "ratio": …, "rps": …, "healthz_rps": …, …}

The two run in alternating rounds (default 7 × 3 s each) and the median round's ratio is reported,
with every round's ratio alongside.

Usage: python bench/api_throughput.py [--rounds 7] [--seconds 3] [--workers 2] [--clients 4]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET_RATIO = 0.5


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def bench_env(tmp: Path) -> dict[str, str]:
    from cryptography.fernet import Fernet

    env = {
        **os.environ,
        "DEBUG": "0",
        "SECRET_KEY": "bench-secret-key",
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "0",
        "DJANGO_SETTINGS_MODULE": "qodex.settings",
        "LOG_LEVEL": "WARNING",
    }
    env.setdefault("QODEX_ENCRYPTION_KEYS", Fernet.generate_key().decode())
    env.setdefault("DATABASE_URL", f"sqlite:///{tmp / 'bench.sqlite3'}")
    return env


def prepare_data(env: dict[str, str]) -> str:
    """Migrate and create an organization with a few projects; return an org-wide read key."""
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    from projects.models import ApiKey, Organization, Project

    call_command("migrate", verbosity=0, interactive=False)
    org = Organization.objects.create(name="Bench")
    for n in range(10):
        Project.objects.create(organization=org, name=f"Bench project {n}")
    _, raw = ApiKey.issue(organization=org, name="bench", scope="read")
    from django.db import connections

    connections.close_all()
    return raw


def wait_until_up(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/healthz")
            if connection.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit("gunicorn did not answer /healthz in time")


def hammer(
    port: int, path: str, headers: dict[str, str], seconds: float, max_requests: int
) -> tuple[int, int]:
    """One client process: sequential requests until the time or request budget runs out."""
    done = errors = 0
    deadline = time.monotonic() + seconds
    while done < max_requests and time.monotonic() < deadline:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            connection.request("GET", path, headers=headers)
            response = connection.getresponse()
            response.read()
            if response.status == 200:
                done += 1
            else:
                errors += 1
        except OSError:
            errors += 1
        finally:
            connection.close()
    return done, errors


def measure(port: int, path: str, headers: dict[str, str], args) -> dict[str, float]:
    per_client = max(1, args.max_requests // args.clients)
    with ProcessPoolExecutor(max_workers=args.clients) as pool:
        # Warm up (imports, connections, caches) outside the measurement.
        list(pool.map(hammer, *zip(*[(port, path, headers, 0.5, 50)] * args.clients, strict=True)))
        started = time.monotonic()
        jobs = [(port, path, headers, args.seconds, per_client)] * args.clients
        results = list(pool.map(hammer, *zip(*jobs, strict=True)))
        elapsed = time.monotonic() - started
    done = sum(r[0] for r in results)
    errors = sum(r[1] for r in results)
    return {"rps": done / elapsed, "requests": done, "errors": errors}


_warmed: set[str] = set()


def measure_with_wrk(port: int, path: str, headers: dict[str, str], args) -> dict[str, float]:
    """`wrk` for `args.seconds` with `args.clients` connections; non-2xx answers count as errors."""
    command = ["wrk", "-t2", f"-c{args.clients * 2}", f"-d{max(1, int(args.seconds))}s"]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    url = f"http://127.0.0.1:{port}{path}"
    if url not in _warmed:  # the first run of each URL warms imports, connections and caches
        subprocess.run([*command[:3], "-d1s", *command[4:], url], capture_output=True, check=True)
        _warmed.add(url)
    output = subprocess.run([*command, url], capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return {"rps": rps, "errors": int(errors.group(1)) if errors else 0}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=7, help="alternating rounds; the median counts")
    parser.add_argument("--max-requests", type=int, default=20_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--client", choices=["auto", "wrk", "python"], default="auto")
    args = parser.parse_args()
    client = args.client if args.client != "auto" else ("wrk" if shutil.which("wrk") else "python")
    run = measure_with_wrk if client == "wrk" else measure

    with tempfile.TemporaryDirectory() as tmp:
        env = bench_env(Path(tmp))
        key = prepare_data(env)
        port = free_port()
        server = subprocess.Popen(
            [
                str(Path(sys.executable).with_name("gunicorn")),
                "qodex.wsgi",
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                str(args.workers),
                "--worker-class",
                "sync",
                "--log-level",
                "warning",
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        list_headers = {"Authorization": f"Bearer {key}"}
        rounds = []
        try:
            wait_until_up(port)
            # Alternate the two in short rounds and keep the median: on a shared 2-core machine the
            # speed drifts by tens of percent within a minute, which one long run of each would
            # turn into a false ratio.
            for _ in range(args.rounds):
                healthz = run(port, "/healthz", {}, args)
                api = run(port, "/api/v1/org/projects", list_headers, args)
                rounds.append((api["rps"] / healthz["rps"] if healthz["rps"] else 0.0, healthz, api))
        finally:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                server.kill()
    rounds.sort(key=lambda r: r[0])
    ratio, healthz, api = rounds[len(rounds) // 2]
    errors = sum(r[1]["errors"] + r[2]["errors"] for r in rounds)
    print(
        json.dumps(
            {
                "name": "api_list_vs_healthz",
                "ratio": round(ratio, 3),
                "rps": round(api["rps"], 1),
                "healthz_rps": round(healthz["rps"], 1),
                "target_ratio": TARGET_RATIO,
                "ok": ratio >= TARGET_RATIO and not errors,
                "errors": errors,
                "round_ratios": [round(r[0], 3) for r in rounds],
                "workers": args.workers,
                "client": client,
                "clients": args.clients,
                "seconds": args.seconds,
                "database": env["DATABASE_URL"].split(":", 1)[0],
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
