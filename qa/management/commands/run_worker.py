"""`manage.py run_worker`: the background worker that executes test runs and webhook callbacks."""

from __future__ import annotations

import signal
import threading

from django.core.management.base import BaseCommand

from qa.worker import POLL_SECONDS, SWEEP_SECONDS, start_worker


class Command(BaseCommand):
    help = (
        "Run the background worker: test runs and webhook callbacks from the database task queue, and "
        "the sweep that ends runs a killed worker left running. Stop it with Ctrl-C or SIGTERM."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--threads", type=int, default=2, help="runs executed at once (default 2)")
        parser.add_argument("--interval", type=float, default=POLL_SECONDS, help="seconds between polls")
        parser.add_argument(
            "--sweep", type=float, default=SWEEP_SECONDS, help="seconds between stale-run sweeps"
        )

    def handle(self, *args, threads: int, interval: float, sweep: float, **options) -> None:
        stop = threading.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: stop.set())
        pool = start_worker(threads=max(1, threads), interval=interval, sweep_every=sweep)
        self.stdout.write(f"Worker started: {max(1, threads)} thread(s) on the database task queue.")
        self.stdout.flush()
        while not stop.wait(1.0):
            if not pool.alive():
                self.stderr.write("A worker thread stopped unexpectedly; exiting so it can be restarted.")
                pool.stop(timeout=5)
                raise SystemExit(1)
        self.stdout.write("Stopping: finishing the tasks in hand…")
        pool.stop()
