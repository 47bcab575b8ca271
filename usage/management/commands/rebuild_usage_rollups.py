"""Recompute the usage rollups of a period from llm_usage_log (SPEC §8).

    manage.py rebuild_usage_rollups                          # the last 7 days
    manage.py rebuild_usage_rollups --days 90
    manage.py rebuild_usage_rollups --from 2026-11-01 --to 2026-11-30   # UTC days, both included
    manage.py rebuild_usage_rollups --all

The rollups are kept with every usage row; rebuild them after restoring the log from a backup, after
editing rows by hand, or to check them (the buckets it writes equal a GROUP BY over the log).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from django.core.management.base import BaseCommand, CommandError
from django.db.models import Max, Min
from django.utils import timezone

from usage import rollups
from usage.models import LlmUsageLog


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"“{value}” is not a date; use YYYY-MM-DD.") from None


class Command(BaseCommand):
    help = "Recompute the hourly and daily usage rollups of a period from the raw usage log."

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, help="The last N UTC days, today included (default 7).")
        parser.add_argument("--from", dest="start", help="First UTC day, YYYY-MM-DD.")
        parser.add_argument("--to", dest="end", help="Last UTC day, YYYY-MM-DD (default today).")
        parser.add_argument("--all", action="store_true", help="Every day the log holds.")

    def handle(self, *args, days=None, start=None, end=None, all=False, **options):
        today = timezone.now().astimezone(UTC).date()
        if all:
            bounds = LlmUsageLog.objects.aggregate(first=Min("created_at"), last=Max("created_at"))
            if bounds["first"] is None:
                self.stdout.write("The usage log is empty: nothing to rebuild.")
                return
            first, last = rollups.day_of(bounds["first"]), rollups.day_of(bounds["last"])
        elif start:
            if days is not None:
                raise CommandError("Give either --days or --from/--to, not both.")
            first, last = _day(start), _day(end) if end else today
        else:
            if end:
                raise CommandError("--to needs --from.")
            if days is not None and not 1 <= days <= 3660:
                raise CommandError("--days must be between 1 and 3660.")
            first, last = today - timedelta(days=(days or 7) - 1), today
        if last < first:
            raise CommandError("--to is before --from.")
        since = datetime.combine(first, datetime.min.time(), tzinfo=UTC)
        until = datetime.combine(last + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
        written = rollups.rebuild(since, until)
        summary = ", ".join(f"{table}: {count}" for table, count in written.items())
        self.stdout.write(
            f"Rebuilt the usage rollups of {first} to {last} (UTC). Buckets written — {summary}."
        )
