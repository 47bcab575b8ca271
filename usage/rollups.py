"""The usage rollups (SPEC §8): hourly and daily sums of `llm_usage_log` that consoles and caps read.

`insert(row)` writes a usage row and upserts it into every rollup table — `INSERT … ON CONFLICT DO
UPDATE`, adding its counters to its bucket's — atomically, so a row and its sums commit together or not
at all (usage.models.LlmUsageLog.objects.record calls it). `rebuild(start, end)`
recomputes the buckets of a period from the log (`manage.py rebuild_usage_rollups`). `percentile` reads
p50/p95 back from a bucket's latency histogram.

Buckets are UTC hours and UTC days. The upsert is raw SQL because the ORM's upsert (`bulk_create(
update_conflicts=True)`) can only overwrite a column with the new value, not add to it; the statement is
the same on PostgreSQL and SQLite (≥ 3.24).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cache

from django.conf import settings
from django.db import connection, transaction

from usage.models import (
    LATENCY_BOUNDS_MS,
    LATENCY_BUCKETS,
    LlmUsageLog,
    UsageDaily,
    UsageDailyProject,
    UsageDailySite,
    UsageHourly,
)

COUNTERS = (
    "calls",
    "errors",
    "input_tokens",
    "cached_tokens",
    "output_tokens",
    "cost_usd",
    "unpriced_calls",
    "latency_ms_total",
    *LATENCY_BUCKETS,
)


@dataclass(frozen=True)
class Table:
    model: type
    time_field: str  # "hour" or "day"
    keys: tuple[str, ...]  # the bucket's other dimensions, as column names
    conflict: tuple[str, ...]  # the unique constraint's columns, in its order (organization follows project)


TABLES = (
    Table(UsageHourly, "hour", ("project_id", "funding"), ("project_id", "funding", "hour")),
    Table(
        UsageDaily,
        "day",
        ("project_id", "organization_id", "source", "funding", "provider", "model"),
        ("project_id", "day", "source", "funding", "provider", "model"),
    ),
    Table(
        UsageDailyProject,
        "day",
        ("project_id", "organization_id", "funding", "provider"),
        ("day", "project_id", "funding", "provider"),
    ),
    Table(
        UsageDailySite,
        "day",
        ("source", "funding", "provider", "model"),
        ("day", "source", "funding", "provider", "model"),
    ),
)


def hour_of(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def day_of(moment: datetime) -> date:
    return moment.astimezone(UTC).date()


def _row_counters() -> list[str]:
    """What one `llm_usage_log` row adds to each counter, as SQL over its columns, in COUNTERS order.

    The one definition of a row's contribution: `insert` adds these for each new row and `rebuild` sums
    them over a period, so the two cannot count differently."""
    counters = [
        "1",
        "CASE WHEN outcome <> 'ok' THEN 1 ELSE 0 END",
        "input_tokens",
        "cached_tokens",
        "output_tokens",
        "COALESCE(cost_usd, 0)",
        "CASE WHEN outcome = 'ok' AND cost_usd IS NULL THEN 1 ELSE 0 END",
        "latency_ms",
    ]
    low = 0
    for high in (*LATENCY_BOUNDS_MS, None):
        within = f"latency_ms >= {low}" + (f" AND latency_ms < {high}" if high is not None else "")
        counters.append(f"CASE WHEN {within} THEN 1 ELSE 0 END")
        low = high
    return counters


def _bucket_sql(time_field: str) -> str:
    """The UTC hour or day of `created_at`, as the rollup column stores it."""
    if connection.vendor == "postgresql":
        if time_field == "hour":
            return "date_trunc('hour', created_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'"
        return "(created_at AT TIME ZONE 'UTC')::date"
    # SQLite: Django stores UTC datetimes as 'YYYY-MM-DD HH:MM:SS[.ffffff]' text.
    return "strftime('%%Y-%%m-%%d %%H:00:00', created_at)" if time_field == "hour" else "date(created_at)"


def _counted_sql(rows: str) -> str:
    """Each row of `rows` (log rows) as its bucket keys, its hour and day, and what it adds to COUNTERS."""
    quote = connection.ops.quote_name
    keys = sorted({key for table in TABLES for key in table.keys})
    counters = zip(COUNTERS, _row_counters(), strict=True)
    # Only our own table and column names are interpolated.
    return (
        f"SELECT {', '.join(map(quote, keys))}, {_bucket_sql('hour')} AS hour, {_bucket_sql('day')} AS day, "  # noqa: S608
        f"{', '.join(f'{sql} AS {quote(name)}' for name, sql in counters)} FROM {rows}"
    )


@cache
def _upsert_sql(table: Table) -> str:
    """Add the rows of `counted` (a `_counted_sql` query in scope) to `table`'s buckets."""
    quote = connection.ops.quote_name
    columns = ", ".join(map(quote, (*table.keys, table.time_field, *COUNTERS)))
    updates = ", ".join(f"{quote(c)} = t.{quote(c)} + EXCLUDED.{quote(c)}" for c in COUNTERS)
    # Only our own table and column names are interpolated. `WHERE true`: SQLite's parser needs a WHERE
    # between INSERT … SELECT and ON CONFLICT.
    return (
        f"INSERT INTO {quote(table.model._meta.db_table)} AS t ({columns}) "  # noqa: S608
        f"SELECT {columns} FROM counted WHERE true "
        f"ON CONFLICT ({', '.join(map(quote, table.conflict))}) DO UPDATE SET {updates}"
    )


@cache
def _insert_with_rollups_sql(also: str = "", asynchronous: bool = False) -> str:
    """PostgreSQL: the row, its four rollup upserts (and `also`) as one statement (data-modifying WITH);
    `asynchronous`: its commit does not wait for the WAL flush (see `insert`)."""
    quote = connection.ops.quote_name
    columns = [field.column for field in _log_fields()]
    clauses = [
        f"logged AS (INSERT INTO {quote(LlmUsageLog._meta.db_table)} ({', '.join(map(quote, columns))}) "  # noqa: S608
        f"VALUES ({', '.join(['%s'] * len(columns))}) RETURNING *)",
        f"counted AS ({_counted_sql('logged')})",
    ]
    clauses += [f"bucket_{index} AS ({_upsert_sql(table)})" for index, table in enumerate(TABLES)]
    if also:
        clauses.append(f"also AS ({also})")
    flush = ", set_config('synchronous_commit', 'off', true)" if asynchronous else ""
    return f"WITH {', '.join(clauses)} SELECT id{flush} FROM logged"  # noqa: S608  (our names; values are parameters)


@cache
def _log_fields() -> list:
    meta = LlmUsageLog._meta
    return [field for field in meta.local_concrete_fields if field is not meta.pk]


def add(row_id: int) -> None:
    """Add one stored usage row to its bucket in every rollup table. Call it in the row's own transaction."""
    log = connection.ops.quote_name(LlmUsageLog._meta.db_table)
    # A named parameter: Django's SQLite backend turns `%s` into `?` with a regular expression that took
    # longer over these statements than running them (docs/PERFORMANCE.md); a dict it fills with `%`.
    counted = f"WITH counted AS ({_counted_sql(log)} WHERE id = %(row)s) "
    with connection.cursor() as cursor:
        for table in TABLES:
            cursor.execute(counted + _upsert_sql(table), {"row": row_id})


def insert(row: LlmUsageLog, also: tuple[str, list] | None = None) -> None:
    """Insert an unsaved usage row and add it to every rollup, atomically (LlmUsageLog.objects.record).
    `also`, (sql, params) of one more INSERT, UPDATE or DELETE, commits with them (the gateway releases
    the call's cap reservation this way).

    On PostgreSQL this is one statement, so one round trip and one commit: the gateway writes a row per
    LLM call, and the separate statements and their transaction cost ~0.8 ms more per call
    (docs/PERFORMANCE.md). Outside a transaction, and unless QODEX_USAGE_ASYNC_COMMIT is off, its commit
    returns before the WAL reaches the disk (`synchronous_commit = off` for this one transaction): a
    crash of the database server can lose the last fraction of a second of usage rows, never half of one
    or its rollups, and nothing else commits that way. Elsewhere it is the plain save, `add` and `also`
    in one transaction; tests run the same rollup checks on both (tests/usage/test_rollups.py)."""
    also_sql, also_params = also or ("", [])
    if connection.vendor != "postgresql":
        with transaction.atomic(savepoint=False):  # inside a caller's transaction, part of it
            row.save(force_insert=True)
            add(row.pk)
            if also_sql:
                with connection.cursor() as cursor:
                    cursor.execute(also_sql, also_params)
        return
    params = [field.get_db_prep_save(getattr(row, field.attname), connection) for field in _log_fields()]
    asynchronous = settings.QODEX_USAGE_ASYNC_COMMIT and not connection.in_atomic_block
    with connection.cursor() as cursor:
        cursor.execute(_insert_with_rollups_sql(also_sql, asynchronous), params + list(also_params))
        row.pk = cursor.fetchone()[0]
    row._state.adding, row._state.db = False, connection.alias


def _rebuild_sql(table: Table) -> str:
    quote = connection.ops.quote_name
    bucket = _bucket_sql(table.time_field)
    keys = ", ".join(map(quote, table.keys))
    columns = ", ".join(map(quote, (*table.keys, table.time_field, *COUNTERS)))
    return (
        f"INSERT INTO {quote(table.model._meta.db_table)} ({columns}) "  # noqa: S608  (our names only)
        f"SELECT {keys}, {bucket}, {', '.join(f'COALESCE(SUM({sql}), 0)' for sql in _row_counters())} "
        f"FROM {quote(LlmUsageLog._meta.db_table)} WHERE created_at >= %s AND created_at < %s "
        f"GROUP BY {keys}, {bucket}"
    )


def rebuild(start: datetime, end: datetime) -> dict[str, int]:
    """Recompute every rollup bucket that overlaps [start, end) from the raw log, in one transaction.

    The period widens to whole UTC days (daily buckets hold whole days), so the result equals a GROUP BY
    over the log for every bucket it touches. The GROUP BY runs in the database (INSERT … SELECT): a
    million log rows take seconds, not the minutes of building each bucket in Python. Returns the
    number of buckets written per table."""
    first_day = day_of(start)
    last_day = day_of(end - timedelta(microseconds=1)) if end > start else first_day
    since = datetime.combine(first_day, datetime.min.time(), tzinfo=UTC)
    until = datetime.combine(last_day + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
    written = {}
    with transaction.atomic(), connection.cursor() as cursor:
        for table in TABLES:
            model = table.model
            if table.time_field == "hour":
                model.objects.filter(hour__gte=since, hour__lt=until).delete()
            else:
                model.objects.filter(day__gte=first_day, day__lte=last_day).delete()
            bounds = [
                LlmUsageLog._meta.get_field("created_at").get_db_prep_value(moment, connection)
                for moment in (since, until)
            ]
            cursor.execute(_rebuild_sql(table), bounds)
            written[model._meta.db_table] = cursor.rowcount
    return written


def percentile(histogram: Sequence[int], fraction: float) -> int | None:
    """The latency (ms) below which `fraction` of the calls fall, read from a histogram of the buckets of
    LATENCY_BOUNDS_MS and interpolated linearly inside its bucket; None without calls."""
    total = sum(histogram)
    if not total:
        return None
    wanted = fraction * total
    seen = 0
    for index, count in enumerate(histogram):
        if count and seen + count >= wanted:
            low = LATENCY_BOUNDS_MS[index - 1] if index else 0
            high = LATENCY_BOUNDS_MS[index] if index < len(LATENCY_BOUNDS_MS) else low * 2
            return round(low + (high - low) * (wanted - seen) / count)
        seen += count
    return LATENCY_BOUNDS_MS[-1] * 2
