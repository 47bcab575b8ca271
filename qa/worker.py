"""The background worker: runs what the task queue holds (test runs, webhook callbacks) and recovers
runs that a killed worker left `running`.

The queue is django-tasks' database backend (no broker: a table in our database, on SQLite and
PostgreSQL alike); each worker thread is its `db_worker` loop (`django_tasks_db`'s Worker), which claims
one task at a time with a row lock. Next to them a sweeper calls `runner.recover_stale_runs()` every
SWEEP_SECONDS, so a run whose worker died ends `error` with its reason instead of staying `running`.

- `manage.py run_worker` (what `make run` and `.ci/run` start) runs a pool in the foreground;
- `start_worker()` runs one in background threads of this process (tests, `manage.py rundemo`);
- `drain()` runs every ready task on the calling thread and returns (tests: the same code path).
"""

from __future__ import annotations

import logging
import threading
import uuid
from dataclasses import dataclass, field

from django.db import close_old_connections, connection
from django_tasks import DEFAULT_TASK_BACKEND_ALIAS, DEFAULT_TASK_QUEUE_NAME
from django_tasks_db.management.commands.db_worker import Worker
from django_tasks_db.models import DBTaskResult
from django_tasks_db.utils import exclusive_transaction

from qa import runner

logger = logging.getLogger(__name__)

SWEEP_SECONDS = 15.0
RETRY_SECONDS = 5.0  # after an error that stopped a worker thread's loop (a database restart)
POLL_SECONDS = 0.5  # how long an idle worker thread waits before looking for a task again


def db_worker(*, batch: bool = False, interval: float = POLL_SECONDS) -> Worker:
    return Worker(
        queue_names=[DEFAULT_TASK_QUEUE_NAME],
        interval=interval,
        batch=batch,
        backend_name=DEFAULT_TASK_BACKEND_ALIAS,
        startup_delay=False,
        max_tasks=None,
        worker_id=f"qodex-{uuid.uuid4().hex[:16]}",
        excluded_queue_names=[],
    )


def drain() -> int:
    """Run every task that is ready now on this thread, as a worker thread would, then return how many.

    The worker's own claim and `run_task`, without its loop's connection hygiene (which closes a
    connection inside a transaction, such as a test's).
    """
    worker = db_worker(batch=True, interval=0)
    done = 0
    while True:
        with exclusive_transaction(DBTaskResult.objects.db):
            task = DBTaskResult.objects.ready().filter(backend_name=worker.backend_name).get_locked()
            if task is not None:
                task.claim(worker.worker_id)
        if task is None:
            return done
        worker.run_task(task)
        done += 1


@dataclass
class WorkerPool:
    """Worker threads and the stale-run sweeper; `stop()` lets each finish the task it holds."""

    threads: int = 2
    interval: float = POLL_SECONDS
    sweep_every: float = SWEEP_SECONDS
    workers: list[Worker] = field(default_factory=list)
    _threads: list[threading.Thread] = field(default_factory=list)
    _stopping: threading.Event = field(default_factory=threading.Event)

    def start(self) -> WorkerPool:
        for number in range(self.threads):
            worker = db_worker(interval=self.interval)
            self.workers.append(worker)
            self._spawn(worker.run, f"qodex-worker-{number + 1}")
        self._spawn(self._sweep, "qodex-sweeper")
        return self

    def _spawn(self, target, name: str) -> None:
        def run() -> None:
            # A database that is down (or not migrated yet) must not kill the worker for good: say so,
            # wait, and go on, the way the web server survives a database restart (SPEC §11).
            try:
                while not self._stopping.is_set():
                    try:
                        target()
                        return
                    except Exception as error:
                        logger.warning("%s: %s; retrying in %g s", name, error, RETRY_SECONDS)
                        close_old_connections()
                        self._stopping.wait(RETRY_SECONDS)
            finally:
                connection.close()  # each thread has its own connection: don't leave it open

        thread = threading.Thread(target=run, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _sweep(self) -> None:
        while True:
            close_old_connections()
            runner.recover_stale_runs()
            if self._stopping.wait(self.sweep_every):
                return

    def stop(self, timeout: float = 30.0) -> None:
        self._stopping.set()
        for worker in self.workers:
            worker.running = False
        for thread in self._threads:
            thread.join(timeout)

    def alive(self) -> bool:
        return all(thread.is_alive() for thread in self._threads)


def start_worker(threads: int = 2, **options) -> WorkerPool:
    """A worker pool in background threads of this process; `.stop()` it when done."""
    return WorkerPool(threads=threads, **options).start()
