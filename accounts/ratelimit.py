"""Fixed-window counters for the login, sign-up, reset and sudo limits (SPEC §11), in the database.

The counters are rows of `rate_limit_counters` (accounts.models.RateCounter), each bumped by one atomic
upsert, so the limits hold across gunicorn workers and hosts: a per-process cache gave each worker its
own count, multiplying every limit by the number of workers, and a shared cache's `incr` is a read then
a write in Django's database cache, which concurrent attempts would undercount.

Count outside a transaction that may roll back (the views do): an attempt rolled back is not counted.

Callers pass identities already normalized (an address through `accounts.models.normalize_email`, an IP,
a user id): this module counts what it is given, so one identity must have one spelling.
"""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import dataclass

from django.db import connection

from accounts.models import RateCounter

TABLE = RateCounter._meta.db_table
# One statement: a new identity starts a window, an ended window starts again, else the count goes up.
HIT_SQL = f"""
INSERT INTO {TABLE} AS c ("key", "count", ends_at) VALUES (%s, 1, %s)
ON CONFLICT ("key") DO UPDATE SET
  "count" = CASE WHEN c.ends_at <= %s THEN 1 ELSE c."count" + 1 END,
  ends_at = CASE WHEN c.ends_at <= %s THEN EXCLUDED.ends_at ELSE c.ends_at END
RETURNING "count", ends_at
"""  # noqa: S608  (our table name; every value is a parameter)
UNDO_SQL = f'UPDATE {TABLE} SET "count" = "count" - 1 WHERE "key" = %s AND "count" > 0 AND ends_at > %s'  # noqa: S608
FORGET_ENDED_SQL = f"DELETE FROM {TABLE} WHERE ends_at <= %s"  # noqa: S608


def _key(scope: str, ident: str) -> str:
    return scope + ":" + hashlib.sha256(ident.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Limit:
    """At most `limit` attempts per identity in a window of `window` seconds, counted under `scope`."""

    scope: str
    limit: int
    window: int

    def hit(self, ident: str) -> int:
        """Count one attempt: 0 while within the limit, else the seconds until the window ends."""
        now = time.time()
        with connection.cursor() as cursor:
            cursor.execute(HIT_SQL, [_key(self.scope, ident), now + self.window, now, now])
            count, ends_at = cursor.fetchone()
            if count == 1:  # a window began: forget the ones that ended, so the table stays small
                cursor.execute(FORGET_ENDED_SQL, [now])
        if count <= self.limit:
            return 0
        return max(1, math.ceil(ends_at - now))

    def undo(self, ident: str) -> None:
        """Take back one attempt that turned out not to count (a successful login, for instance)."""
        with connection.cursor() as cursor:
            cursor.execute(UNDO_SQL, [_key(self.scope, ident), time.time()])

    def reset(self, ident: str) -> None:
        """Forget every attempt of `ident` in the current window."""
        RateCounter.objects.filter(key=_key(self.scope, ident)).delete()


def attempt(*checks: tuple[Limit, str]) -> int:
    """Count one attempt against every (limit, identity); 0 when all allow it, else the longest wait.

    A refused attempt is taken back from the limits that allowed it, so being refused by one limit
    (say, the address) does not use up another (say, the IP).
    """
    waits = [(limit, ident, limit.hit(ident)) for limit, ident in checks]
    longest = max((wait for _, _, wait in waits), default=0)
    if longest:
        for limit, ident, wait in waits:
            if not wait:
                limit.undo(ident)
    return longest


def wait_text(seconds: int) -> str:
    """'1 minute', '15 minutes', '2 hours': how long a refused visitor waits, rounded up."""
    minutes = max(1, math.ceil(seconds / 60))
    if minutes < 120:
        return f"{minutes} minute{'s' if minutes != 1 else ''}"
    return f"{math.ceil(minutes / 60)} hours"
