"""The per-environment request rate limit (SPEC §6 `max_rps`): a token bucket of one, kept in the database.

Every request a run sends to an environment with `max_rps` first claims a moment here. The environment's
EnvironmentPace row holds the earliest moment the next request may go; a claim is one conditional UPDATE

    UPDATE … SET next_allowed_at = now + interval WHERE environment = … AND next_allowed_at <= now

which succeeds for exactly one claimer at a time, whichever process or thread it runs in: the rows are
the only thing two workers share, and a single-row UPDATE is atomic on PostgreSQL and SQLite alike
(a `select_for_update` would be a no-op on SQLite). A claimer that loses reads when the next moment is,
sleeps until then and tries again.

Requests therefore leave at least `interval` apart. The interval is the second divided by `max_rps`,
plus a margin: a request is claimed a moment before it is written to the socket, and the target counts
arrivals, so scheduling jitter between two requests must not squeeze six into one second at 5 rps.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta

from django.utils import timezone

from qa.models import EnvironmentPace

# 8% slower than the limit: room for ~80 ms of jitter per second between claiming and arriving.
MARGIN = 1.08
WAIT_SLICE = 0.25  # seconds a waiting claimer sleeps before asking whether its run goes on


def interval(max_rps: int) -> timedelta:
    return timedelta(seconds=MARGIN / max_rps)


def claim(environment_id: int, max_rps: int | None, alive: Callable[[], bool] = lambda: True) -> bool:
    """Wait until this environment may receive another request, and claim that moment.

    `alive()` is asked while waiting (at least every WAIT_SLICE seconds); when it answers False (the run
    was cancelled or ran out of time) nothing is claimed and the answer is False. `max_rps` None means
    no limit: True at once.
    """
    if not max_rps:
        return True
    step = interval(max_rps)
    EnvironmentPace.objects.bulk_create(
        [EnvironmentPace(environment_id=environment_id)], ignore_conflicts=True
    )
    rows = EnvironmentPace.objects.filter(environment_id=environment_id)
    while True:
        now = timezone.now()
        if rows.filter(next_allowed_at__lte=now).update(next_allowed_at=now + step):
            return True
        next_at = rows.values_list("next_allowed_at", flat=True).first() or now
        wait = (next_at - timezone.now()).total_seconds()
        if wait > 0:
            time.sleep(min(wait, WAIT_SLICE))
        if not alive():
            return False
