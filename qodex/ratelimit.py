"""Fixed-window counters in the cache, for the login, sign-up, reset and sudo limits (SPEC §11).

Callers pass identities already normalized (an address through `accounts.models.normalize_email`, an IP,
a user id): this module counts what it is given, so one identity must have one spelling.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import time
from dataclasses import dataclass

from django.core.cache import cache


def _key(scope: str, ident: str) -> str:
    return "rl:" + scope + ":" + hashlib.sha256(ident.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Limit:
    """At most `limit` attempts per identity in a window of `window` seconds, counted under `scope`."""

    scope: str
    limit: int
    window: int

    def hit(self, ident: str) -> int:
        """Count one attempt: 0 while within the limit, else the seconds until the window ends."""
        key = _key(self.scope, ident)
        now = time.time()
        if cache.add(key, 1, timeout=self.window):
            # Kept beside the counter so a refusal can say when to try again.
            cache.set(key + ":ends", now + self.window, timeout=self.window)
            return 0
        try:
            count = cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.add(key, 1, timeout=self.window)
            cache.set(key + ":ends", now + self.window, timeout=self.window)
            return 0
        if count <= self.limit:
            return 0
        ends = cache.get(key + ":ends")
        return max(1, math.ceil(ends - now)) if ends else self.window

    def undo(self, ident: str) -> None:
        """Take back one attempt that turned out not to count (a successful login, for instance)."""
        with contextlib.suppress(ValueError):  # the window ended meanwhile: nothing to take back
            cache.decr(_key(self.scope, ident))

    def reset(self, ident: str) -> None:
        """Forget every attempt of `ident` in the current window."""
        key = _key(self.scope, ident)
        cache.delete_many([key, key + ":ends"])


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


def allow(scope: str, ident: str, *, limit: int, window: int) -> bool:
    """Count one attempt; False once `limit` attempts happened within `window` seconds."""
    return Limit(scope, limit, window).hit(ident) == 0


def reset(scope: str, ident: str) -> None:
    """Forget the attempts counted under `scope` for `ident`."""
    cache.delete_many([_key(scope, ident), _key(scope, ident) + ":ends"])
