"""SPEC §12: the gateway adds at most 2 ms (median) to a direct SDK call to the same provider.

In one process, against the stand-in provider on 127.0.0.1: the same prompt sent `--calls` times straight
through the `openai` SDK and `--calls` times through `byok.gateway.complete` (platform funding, so the cap
check, the reservation, the price lookup and the usage row are all in), in alternating batches so a slow
minute of this shared machine falls on both. Overhead = gateway − direct, per percentile. Prints:

    {"name": "gateway_overhead_ms", "median": …, "p95": …, "direct_median_ms": …, "calls": …, …}

Uses DATABASE_URL when set (PostgreSQL: the real target), else a fresh SQLite file in a temp dir.

Usage: python bench/gateway_overhead.py [--calls 400] [--batch 50]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET_MS = 2.0


def setup_django(tmp: str) -> None:
    from cryptography.fernet import Fernet

    os.environ.setdefault("DATABASE_URL", f"sqlite:///{tmp}/bench.sqlite3")
    os.environ.update(
        {
            "DEBUG": "0",
            "SECRET_KEY": "bench-secret-key",
            "ALLOWED_HOSTS": "127.0.0.1",
            "DJANGO_SETTINGS_MODULE": "qodex.settings",
            "QODEX_LLM_MAX_RETRIES": "0",
        }
    )
    os.environ.setdefault("QODEX_ENCRYPTION_KEYS", Fernet.generate_key().decode())
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def database_round_trips(samples: int = 200) -> tuple[float, float]:
    """Median `SELECT 1` time, back to back and after 4 ms idle (ms)."""
    from django.db import connection

    timings: dict[float, list[float]] = {0.0: [], 0.004: []}
    with connection.cursor() as cursor:
        for idle, times in timings.items():
            for _ in range(samples):
                time.sleep(idle)
                start = time.perf_counter()
                cursor.execute("SELECT 1")
                cursor.fetchone()
                times.append((time.perf_counter() - start) * 1000)
    return tuple(round(statistics.median(times), 3) for times in timings.values())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=400)
    parser.add_argument("--batch", type=int, default=50)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        setup_django(tmp)
        import openai
        from django.conf import settings
        from django.utils import timezone

        from byok import gateway
        from byok.standin import StandIn
        from projects.models import Organization
        from usage.models import LlmUsageLog, ModelPrice

        with StandIn() as provider:
            settings.QODEX_PLATFORM_API_KEY = "sk-bench-platform-key-0000"
            settings.QODEX_PLATFORM_BASE_URL = provider.url
            settings.QODEX_CAP_5H_USD = settings.QODEX_CAP_WEEKLY_USD = "1000000"
            project = Organization.objects.create(name=f"Bench {time.time_ns()}").default_project
            ModelPrice.objects.get_or_create(
                provider=settings.QODEX_PLATFORM_PROVIDER,
                model="bench-model",
                effective_from=timezone.now().replace(year=2020),
                defaults={"input_per_mtok": Decimal("1"), "output_per_mtok": Decimal("2")},
            )
            messages = [{"role": "user", "content": "Summarise the release notes in one line."}]
            direct = openai.OpenAI(api_key="sk-bench-platform-key-0000", base_url=provider.url, max_retries=0)

            def via_sdk() -> None:
                direct.chat.completions.create(model="bench-model", messages=messages)

            def via_gateway() -> None:
                gateway.complete(project, source="playground", messages=messages, model="bench-model")

            for call in (via_sdk, via_gateway):  # warm both: connections, compiled queries, imports
                for _ in range(20):
                    call()
            timings: dict[str, list[float]] = {"sdk": [], "gateway": []}
            done = 0
            while done < args.calls:
                for name, call in (("sdk", via_sdk), ("gateway", via_gateway)):
                    for _ in range(args.batch):
                        start = time.perf_counter()
                        call()
                        timings[name].append((time.perf_counter() - start) * 1000)
                done += args.batch
            rows = LlmUsageLog.objects.filter(project=project).count()
            round_trip, round_trip_after_idle = database_round_trips()

        sdk, through = timings["sdk"], timings["gateway"]
        median = statistics.median(through) - statistics.median(sdk)
        p95 = percentile(through, 0.95) - percentile(sdk, 0.95)
        print(
            json.dumps(
                {
                    "name": "gateway_overhead_ms",
                    "median": round(median, 3),
                    "p95": round(p95, 3),
                    "direct_median_ms": round(statistics.median(sdk), 3),
                    "gateway_median_ms": round(statistics.median(through), 3),
                    "calls": len(through),
                    # What this host charges for a database round trip: back to back, and after 4 ms of
                    # idling (as a call's row follows its model call). Each gateway call makes three.
                    "db_round_trip_ms": round_trip,
                    "db_round_trip_after_idle_ms": round_trip_after_idle,
                    "usage_rows": rows,
                    "database": os.environ["DATABASE_URL"].split(":", 1)[0],
                    "target_median_ms": TARGET_MS,
                }
            )
        )
        return 0 if median <= TARGET_MS else 1


if __name__ == "__main__":
    sys.exit(main())
