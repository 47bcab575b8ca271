"""Platform spend caps (SPEC §7): rolling 5-hour and 7-day windows of platform-funded cost per project.

A call on platform funding reserves its estimated cost before it is sent and settles after: the check and
the reservation happen under a lock on the project row, so concurrent calls are admitted one at a time
and at most the last one admitted can carry the spend past a cap (by its own cost).

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
from django.db import transaction
from django.db.models import Q, Sum
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


def _spent(project: Project, now: datetime) -> dict[str, Decimal]:
    """Platform spend in each window, in one query over at most a week of hour buckets."""
    longest = max(WINDOWS.values())
    sums = _platform_hours(project, now - longest).aggregate(
        **{
            name: Sum("cost_usd", filter=Q(hour__gte=hour_of(now - window)))
            for name, window in WINDOWS.items()
        }
    )
    return {name: sums[name] or Decimal(0) for name in WINDOWS}


def _reserved(project: Project, now: datetime) -> Decimal:
    total = CapReservation.objects.filter(project=project, expires_at__gt=now).aggregate(t=Sum("amount_usd"))
    return total["t"] or Decimal(0)


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


def meters(project: Project, now: datetime | None = None) -> list[Meter]:
    now = now or timezone.now()
    reserved = _reserved(project, now)
    spent = _spent(project, now)
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


def reserve(project: Project, estimate: Decimal) -> CapReservation:
    """Admit a platform-funded call and hold `estimate` for it, or raise CapExceeded naming the cap."""
    with transaction.atomic():
        # One admission at a time per project: the project row is the lock (Memory.objects.add and
        # soft_delete take it too, only for an instant).
        list(Project.objects.select_for_update().filter(pk=project.pk).values_list("pk"))
        now = timezone.now()
        for meter in meters(project, now):
            if meter.reached:
                raise CapExceeded(meter)
        return CapReservation.objects.create(
            project=project, amount_usd=estimate, expires_at=now + RESERVATION_TTL
        )


def settle(reservation: CapReservation | None) -> None:
    """The call is over and its usage row written: stop holding its estimate."""
    if reservation is not None:
        CapReservation.objects.filter(pk=reservation.pk).delete()
