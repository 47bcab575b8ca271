"""A fixed-window counter in the cache, for login, sign-up and resend limits (SPEC §11)."""

from __future__ import annotations

import hashlib

from django.core.cache import cache


def _key(scope: str, ident: str) -> str:
    return "rl:" + scope + ":" + hashlib.sha256(ident.lower().encode()).hexdigest()[:32]


def allow(scope: str, ident: str, *, limit: int, window: int) -> bool:
    """Count one attempt; False once `limit` attempts happened within `window` seconds."""
    key = _key(scope, ident)
    if cache.add(key, 1, timeout=window):
        return True
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.add(key, 1, timeout=window)
        return True
    return count <= limit


def reset(scope: str, ident: str) -> None:
    cache.delete(_key(scope, ident))
