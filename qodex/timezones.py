"""The viewer's time zone: what pages use to show a UTC moment as the person reading it would say it.

Everything is stored and bucketed in UTC. The browser tells us its zone through the `tz` cookie, which
static/js/qodex.js sets from `Intl.DateTimeFormat().resolvedOptions().timeZone` on every page; until it
has (the very first page, or no JavaScript), or when the cookie names no known zone, pages show UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from functools import cache
from zoneinfo import ZoneInfo, available_timezones

ZONE_COOKIE = "tz"


@cache
def _known_zones() -> frozenset[str]:
    return frozenset(available_timezones())


def viewer_zone(request) -> tzinfo:
    """The zone named by the request's `tz` cookie when it is a known IANA name, else UTC."""
    name = request.COOKIES.get(ZONE_COOKIE, "")
    if name and name != "UTC" and name in _known_zones():
        return ZoneInfo(name)
    return UTC


def zone_name(zone: tzinfo) -> str:
    return getattr(zone, "key", None) or "UTC"


def clock(moment: datetime, zone: tzinfo) -> str:
    """`3 Jun 2026 14:05` in `zone`."""
    local = moment.astimezone(zone)
    return f"{local.day} {local:%b %Y %H:%M}"
