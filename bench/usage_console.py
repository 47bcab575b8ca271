"""SPEC §12: `/admin#llm` and a cap check answer in ≤ 300 ms server time with 10,000,000 usage rows, and
in at most 1.5× their time at 100,000 rows: they read the rollups, never the raw log.

Fills `llm_usage_log` with `--rows` rows (default 1,000,000) spread over 1,000 projects in 200
organizations, 90 days, every source, funding, provider and several models (each project keeps one
funding and one provider, as real projects do), bulk-loaded (COPY on PostgreSQL), then builds the
rollups from the log with usage.rollups.rebuild — the code behind `manage.py rebuild_usage_rollups`.
It measures, at 100,000 rows and again at `--rows`:

- the server time of the staff console for the last 30 days (`GET /admin/?period=30d`, the page whose
  `#llm` tab is the console, through Django's test client: no network, the whole view and template);
- one cap check: the gateway's admission (`byok.caps.reserve`, then `settle`) for the busiest
  platform-funded project, which has a call in every hour of the last week at every size (a full
  window: the most a check reads).

Prints one JSON line per measure and size:

    {"name": "usage_console_ms", "rows": 1000000, "median": …, "p95": …, "ratio_to_100k": …}
    {"name": "cap_check_ms", "rows": 1000000, "median": …, …}

With DATABASE_URL pointing at PostgreSQL it works in a database of its own next to it
(`<name>_usage_bench`, dropped afterwards unless --keep); otherwise in a SQLite file in a temp dir.

Usage: python bench/usage_console.py [--rows 1000000] [--repeat 15] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
import warnings
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
TARGET_MS = 300.0
TARGET_RATIO = 1.5
SMALL = 100_000
PROJECTS, ORGANIZATIONS, DAYS = 1000, 200, 90
MODELS = {
    "openai": ["gpt-4o-mini", "gpt-4o", "o3-mini"],
    "anthropic": ["claude-3-5-haiku-latest", "claude-sonnet-4-0"],
    "google": ["gemini-2.0-flash", "gemini-2.5-pro"],
}
SOURCES = [  # (source, weight)
    ("chat", 40),
    ("test_run", 25),
    ("playground", 10),
    ("scenario_generation", 10),
    ("api", 10),
    ("memory", 3),
    ("key_check", 2),
]
RATES = {"input": Decimal("0.60"), "output": Decimal("2.40")}  # $/1M tokens, one rate for the bench


def setup_django(tmp: str) -> str:
    """Point Django at the bench's own database; returns the PostgreSQL database to drop, or ""."""
    from cryptography.fernet import Fernet

    created = ""
    url = os.environ.get("DATABASE_URL", "")
    if url.startswith(("postgres://", "postgresql://")):
        import psycopg

        parts = urlsplit(url)
        created = f"{parts.path.lstrip('/') or 'postgres'}_usage_bench"
        admin = urlunsplit(parts._replace(path="/postgres"))
        with psycopg.connect(admin.replace("postgres://", "postgresql://", 1), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{created}"')
            conn.execute(f'CREATE DATABASE "{created}"')
        os.environ["DATABASE_URL"] = urlunsplit(parts._replace(path=f"/{created}"))
    else:
        os.environ["DATABASE_URL"] = f"sqlite:///{tmp}/bench.sqlite3"
    os.environ.update(
        {
            "DEBUG": "0",
            "SECRET_KEY": "bench-secret-key",
            "ALLOWED_HOSTS": "testserver",
            "SECURE_SSL_REDIRECT": "0",
            "DJANGO_SETTINGS_MODULE": "qodex.settings",
            "LOG_LEVEL": "WARNING",
        }
    )
    os.environ.setdefault("QODEX_ENCRYPTION_KEYS", Fernet.generate_key().decode())
    sys.path.insert(0, str(ROOT))
    warnings.filterwarnings("ignore", message="No directory at")  # whitenoise: no collectstatic here
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    return created


def drop(database: str) -> None:
    import psycopg
    from django.db import connections

    connections.close_all()
    parts = urlsplit(os.environ["DATABASE_URL"])
    admin = urlunsplit(parts._replace(path="/postgres")).replace("postgres://", "postgresql://", 1)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{database}"')


def make_projects() -> list[dict]:
    """1,000 projects in 200 organizations, each with its funding, provider and models."""
    from projects.models import Organization, Project

    rng = random.Random(1)
    organizations = [Organization.objects.create(name=f"Bench org {i}") for i in range(ORGANIZATIONS)]
    projects = []
    for index in range(PROJECTS):
        organization = organizations[index % ORGANIZATIONS]
        if index < ORGANIZATIONS:
            project = organization.default_project
        else:
            project = Project.objects.create(organization=organization, name=f"Bench project {index}")
        funding = rng.choices(["platform", "byok", "codex_pool"], weights=[70, 25, 5])[0]
        provider = "openai" if funding == "codex_pool" else rng.choice(list(MODELS))
        projects.append(
            {
                "id": project.pk,
                "organization_id": organization.pk,
                "funding": funding,
                "provider": provider,
                "models": MODELS[provider],
                "weight": rng.paretovariate(1.2),  # a few busy projects, many quiet ones
            }
        )
    return projects


def usage_rows(projects: list[dict], count: int, seed: int, now: datetime):
    """`count` usage rows as tuples in the column order of COLUMNS."""
    rng = random.Random(seed)
    chosen = rng.choices(projects, weights=[p["weight"] for p in projects], k=count)
    sources = rng.choices([s for s, _ in SOURCES], weights=[w for _, w in SOURCES], k=count)
    span = DAYS * 24 * 3600
    for project, source in zip(chosen, sources, strict=True):
        ok = rng.random() < 0.95
        prompt = int(rng.lognormvariate(7, 1)) if source != "key_check" else 0
        output = int(rng.lognormvariate(5.5, 1)) if ok and source != "key_check" else 0
        cached = rng.randint(0, prompt // 2) if prompt else 0
        model = rng.choice(project["models"])
        cost = (  # o3-mini stands for a model without a price: its calls are "unpriced"
            ((prompt * RATES["input"] + output * RATES["output"]) / 1_000_000).quantize(Decimal("0.00000001"))
            if ok and model != "o3-mini"
            else None
        )
        yield (
            project["id"],
            project["organization_id"],
            source,
            project["funding"],
            project["provider"],
            model,
            prompt,
            output,
            cached,
            int(rng.lognormvariate(7, 0.8)),
            "ok" if ok else rng.choice(["error", "timeout", "rate_limited"]),
            "" if ok else "provider_error",
            cost,
            now - timedelta(seconds=rng.random() * span),
        )


COLUMNS = (
    "project_id",
    "organization_id",
    "source",
    "funding",
    "provider",
    "model",
    "input_tokens",
    "output_tokens",
    "cached_tokens",
    "latency_ms",
    "outcome",
    "error_code",
    "cost_usd",
    "created_at",
)


def load(rows) -> None:
    """Bulk-load rows into llm_usage_log: COPY on PostgreSQL, executemany on SQLite."""
    from django.db import connection, transaction

    if connection.vendor == "postgresql":
        with (
            connection.cursor() as cursor,
            cursor.copy(f"COPY llm_usage_log ({', '.join(COLUMNS)}) FROM STDIN") as copy,
        ):
            for row in rows:
                copy.write_row(row)
        return
    sql = f"INSERT INTO llm_usage_log ({', '.join(COLUMNS)}) VALUES ({', '.join(['%s'] * len(COLUMNS))})"  # noqa: S608
    batch = []
    with transaction.atomic(), connection.cursor() as cursor:
        for row in rows:
            batch.append((*row[:12], None if row[12] is None else str(row[12]), row[13].isoformat()))
            if len(batch) == 10_000:
                cursor.executemany(sql, batch)
                batch.clear()
        if batch:
            cursor.executemany(sql, batch)


def fill_cap_window(projects: list[dict], now: datetime) -> None:
    """One call in every hour of the last week for the project whose cap check is timed: its check then
    reads a full window (169 hour buckets, the most it ever reads) at every size, so the sizes compare
    the same work on a bigger table."""
    busiest = cap_checked(projects)
    load(
        (
            busiest["id"],
            busiest["organization_id"],
            "chat",
            "platform",
            busiest["provider"],
            busiest["models"][0],
            100,
            10,
            0,
            500,
            "ok",
            "",
            Decimal("0.00010000"),
            now - timedelta(hours=hour, minutes=1),
        )
        for hour in range(7 * 24 + 1)
    )


def cap_checked(projects: list[dict]) -> dict:
    return max((p for p in projects if p["funding"] == "platform"), key=lambda p: p["weight"])


def rebuild_rollups(now: datetime) -> None:
    from django.db import connection

    from usage import rollups

    rollups.rebuild(now - timedelta(days=DAYS + 1), now + timedelta(days=1))
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")


def timed(function, repeat: int) -> list[float]:
    function()  # warm: connections, templates, compiled queries
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        times.append((time.perf_counter() - start) * 1000)
    return times


def measure(projects: list[dict], repeat: int) -> dict[str, list[float]]:
    from django.test import Client

    from accounts.models import User
    from byok import caps
    from projects.models import Project

    staff = User.objects.filter(email="staff@bench.test").first() or User.objects.create_superuser(
        email="staff@bench.test", password="bench-password-1"
    )
    client = Client()
    client.force_login(staff)

    def console():
        response = client.get("/admin/", {"period": "30d"})
        assert response.status_code == 200, response.status_code

    busiest = cap_checked(projects)
    project = Project.objects.get(pk=busiest["id"])
    project.cap_5h_usd = project.cap_weekly_usd = Decimal("1000000")  # admitted: the whole path runs
    project.save()

    def cap_check():
        caps.settle(caps.reserve(project, Decimal("0.01")))

    return {"usage_console_ms": timed(console, repeat), "cap_check_ms": timed(cap_check, repeat * 10)}


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--keep", action="store_true", help="keep the PostgreSQL bench database")
    args = parser.parse_args()
    if args.rows < SMALL:
        parser.error(f"--rows must be at least {SMALL:,}")

    with tempfile.TemporaryDirectory() as tmp:
        database = setup_django(tmp)
        from django.db import connection

        ok = True
        try:
            now = datetime.now(UTC)
            projects = make_projects()
            fill_cap_window(projects, now)
            results: dict[int, dict[str, list[float]]] = {}
            loaded = 0
            for size in sorted({SMALL, args.rows}):
                if size > loaded:
                    started = time.perf_counter()
                    load(usage_rows(projects, size - loaded, seed=size, now=now))
                    loaded_at = time.perf_counter()
                    rebuild_rollups(now)
                    loaded = size
                    print(
                        f"# {size:,} rows: loaded in {loaded_at - started:.0f} s, rollups rebuilt in "
                        f"{time.perf_counter() - loaded_at:.0f} s",
                        file=sys.stderr,
                    )
                results[size] = measure(projects, args.repeat)
            for name in ("usage_console_ms", "cap_check_ms"):
                small = statistics.median(results[SMALL][name])
                for size, measured in results.items():
                    timings = measured[name]
                    median = statistics.median(timings)
                    line = {
                        "name": name,
                        "rows": size,
                        "median": round(median, 3),
                        "p95": round(percentile(timings, 0.95), 3),
                        "database": connection.vendor,
                        "target_ms": TARGET_MS,
                    }
                    if size != SMALL:
                        line["ratio_to_100k"] = round(median / small, 3)
                        line["target_ratio"] = TARGET_RATIO
                        ok = ok and median <= TARGET_MS and median <= TARGET_RATIO * small
                    print(json.dumps(line))
        finally:
            if database and not args.keep:
                drop(database)
        return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
