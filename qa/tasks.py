"""What the worker runs (django-tasks on its database backend; `manage.py run_worker`, qa.worker).

Queue them with `.enqueue(...)` inside the transaction that makes the row they act on: the task row
commits with it, or not at all, and no worker sees it before then.
"""

from __future__ import annotations

from django_tasks import task

from qa import runner, webhooks


@task()
def execute_run(run_id: int) -> str:
    """Run a queued test run to its end (qa.runner.execute)."""
    return runner.execute(run_id)


@task()
def deliver_callback(run_id: int, attempt: int = 1) -> str:
    """POST a finished run's summary to its callback URL; queues the next attempt when this one fails."""
    return webhooks.deliver(run_id, attempt)
