"""Platform spend caps (SPEC §7): rolling 5-hour and 7-day windows of platform-funded cost per project.

A call on platform funding reserves its estimated cost before it is sent and settles after (the gateway
deletes the reservation in the transaction that writes the call's usage row). Admission is
reserve-then-check, without a lock: the reservation is committed first, then one statement reads the
spend and every other live reservation. Of any set of admitted calls, the one that checked last saw all
the others' reservations, so concurrent calls can carry the spend past a cap by at most that last call's
own estimate; two calls that see each other near the cap may both be refused, never both let through.

Spent money is read from the hourly rollups (`llm_usage_hourly`, platform funding), never the raw log:
a window counts every hour bucket it touches, so spend ages out by the hour — a call at 13:20 counts
towards the 5-hour cap until 19:00. That errs towards refusing, never towards overspending, and keeps a
check to one index range of at most 169 rows whatever the size of the log.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import connection
from django.utils import timezone

from byok.models import CapReservation
from projects.models import Project
from usage.models import LlmUsageLog, UsageHourly
from usage.rollups import hour_of

WINDOWS = {"5-hour": timedelta(hours=5), "weekly": timedelta(days=7)}
BUCKET = timedelta(hours=1)  # the rollup's grain: spend ages out of a window an hour at a time
# A reservation outlives any call (timeouts and retries included); a crashed process's one then expires.
RESERVATION_TTL = timedelta(minutes=15)


@dataclass(frozen=True)
class Meter:
    """One cap as the BYOK page and refusals show it."""

    name: str  # "5-hour" or "weekly"
    cap: Decimal
    spent: Decimal
    reserved: Decimal
    resets_at: datetime | None  # when enough spend ages out to be under the cap again; None if under

    @property
    def reached(self) -> bool:
        return self.spent + self.reserved >= self.cap


class CapExceeded(Exception):
    def __init__(self, meter: Meter):
        super().__init__(meter.name)
        self.meter = meter


def caps_of(project: Project) -> dict[str, Decimal]:
    """The project's caps: its staff-set overrides, else the settings' defaults."""
    return {
        "5-hour": project.cap_5h_usd
        if project.cap_5h_usd is not None
        else Decimal(settings.QODEX_CAP_5H_USD),
        "weekly": project.cap_weekly_usd
        if project.cap_weekly_usd is not None
        else Decimal(settings.QODEX_CAP_WEEKLY_USD),
    }


def _platform_hours(project: Project, since: datetime):
    """The project's platform-funded hour buckets from the one holding `since` on."""
    return UsageHourly.objects.filter(
        project=project, funding=LlmUsageLog.Funding.PLATFORM, hour__gte=hour_of(since)
    )


def _resets_at(project: Project, window: timedelta, cap: Decimal, spent: Decimal, reserved: Decimal, now):
    """When the oldest spend in the window has aged out far enough for the project to be under the cap."""
    over = spent + reserved - cap
    if over < 0:
        return None
    aged = Decimal(0)
    buckets = _platform_hours(project, now - window).order_by("hour").values_list("hour", "cost_usd")
    for hour, cost in buckets:
        aged += cost
        if aged > over:
            return hour + BUCKET + window
    return now + window  # reservations alone hold it over: they settle or expire well before this


# Spend in both windows and the other calls' live reservations, in one statement (so one snapshot: a call
# settling meanwhile is counted once, as spend or as reservation). Plain SQL: the cap check runs before
# every platform call and the ORM's compilation of it took longer than the query (docs/PERFORMANCE.md).
HELD_SQL = f"""
SELECT
  (SELECT COALESCE(SUM(cost_usd), 0) FROM {UsageHourly._meta.db_table}
    WHERE project_id = %s AND funding = %s AND hour >= %s),
  (SELECT COALESCE(SUM(cost_usd), 0) FROM {UsageHourly._meta.db_table}
    WHERE project_id = %s AND funding = %s AND hour >= %s),
  (SELECT COALESCE(SUM(amount_usd), 0) FROM {CapReservation._meta.db_table}
    WHERE project_id = %s AND expires_at > %s AND id <> %s)
"""  # noqa: S608  (our table names; every value is a parameter)


def _decimal(value) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(str(value))  # SQLite sums are floats


def _held(project: Project, now: datetime, *, besides: int = 0) -> tuple[dict[str, Decimal], Decimal]:
    """Platform spend in each window, and the live reservations other than `besides`, at `now`."""
    platform = LlmUsageLog.Funding.PLATFORM
    when = connection.ops.adapt_datetimefield_value  # as the ORM would send it (SQLite: UTC text)
    five_hours, week = when(hour_of(now - WINDOWS["5-hour"])), when(hour_of(now - WINDOWS["weekly"]))
    with connection.cursor() as cursor:
        cursor.execute(
            HELD_SQL,
            [project.pk, platform, five_hours, project.pk, platform, week, project.pk, when(now), besides],
        )
        spent_5h, spent_week, reserved = map(_decimal, cursor.fetchone())
    return {"5-hour": spent_5h, "weekly": spent_week}, reserved


def meters(project: Project, now: datetime | None = None) -> list[Meter]:
    now = now or timezone.now()
    spent, reserved = _held(project, now)
    return [
        Meter(
            name,
            cap,
            spent[name],
            reserved,
            _resets_at(project, WINDOWS[name], cap, spent[name], reserved, now),
        )
        for name, cap in caps_of(project).items()
    ]


@dataclass
class Reservation:
    """A platform-funded call's hold on the caps (a CapReservation row), and the spend its check saw."""

    id: int
    spent_before: dict[str, Decimal]


RESERVE_SQL = f"""
INSERT INTO {CapReservation._meta.db_table} (project_id, amount_usd, created_at, expires_at)
VALUES (%s, %s, %s, %s) RETURNING id
"""  # noqa: S608  (our table name; every value is a parameter)
SETTLE_SQL = f"DELETE FROM {CapReservation._meta.db_table} WHERE id = %s"  # noqa: S608


def reserve(project: Project, estimate: Decimal) -> Reservation:
    """Admit a platform-funded call and hold `estimate` for it, or raise CapExceeded naming the cap.

    Call it outside a transaction: the reservation must be visible to concurrent calls before the check.
    Plain SQL, like the check: three ORM statements here cost more than the calls' other bookkeeping.
    """
    now = timezone.now()
    when = connection.ops.adapt_datetimefield_value
    with connection.cursor() as cursor:
        cursor.execute(
            RESERVE_SQL,
            [
                project.pk,
                connection.ops.adapt_decimalfield_value(estimate),
                when(now),
                when(now + RESERVATION_TTL),
            ],
        )
        reservation_id = cursor.fetchone()[0]
    spent, others = _held(project, now, besides=reservation_id)
    reservation = Reservation(reservation_id, spent)
    for name, cap in caps_of(project).items():
        if spent[name] + others >= cap:
            settle(reservation)
            raise CapExceeded(next(meter for meter in meters(project, now) if meter.name == name))
    return reservation


def release(reservation: Reservation | None) -> tuple[str, list] | None:
    """The statement that stops holding a reservation, for the gateway to commit with the call's usage row."""
    return (SETTLE_SQL, [reservation.id]) if reservation is not None else None


def settle(reservation: Reservation | None) -> None:
    """Stop holding a reservation whose call ended without a usage row (or a refused admission)."""
    if reservation is not None:
        with connection.cursor() as cursor:
            cursor.execute(SETTLE_SQL, [reservation.id])
