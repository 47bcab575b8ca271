"""The rollups (usage.rollups) always equal a GROUP BY over llm_usage_log: kept with every row, rebuilt
from the log on demand, and exact at the edges of hours and days."""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, transaction

from byok import gateway
from tests.factories import at_once, make_org, make_project, make_spend
from usage import rollups
from usage.models import (
    LATENCY_BOUNDS_MS,
    LATENCY_BUCKETS,
    LlmUsageLog,
    UsageDaily,
    UsageDailyProject,
    UsageDailySite,
    UsageHourly,
)

NOON = datetime(2026, 11, 10, 12, 0, tzinfo=UTC)
SOURCES = [choice for choice, _ in LlmUsageLog.Source.choices]
FUNDINGS = [choice for choice, _ in LlmUsageLog.Funding.choices]
OUTCOMES = [choice for choice, _ in LlmUsageLog.Outcome.choices]
# Moments on both sides of hour and day boundaries, and the edges of latency buckets.
EDGES = [
    datetime(2026, 11, 9, 23, 59, 59, 999999, tzinfo=UTC),
    datetime(2026, 11, 10, 0, 0, tzinfo=UTC),
    datetime(2026, 11, 10, 13, 59, 59, 999999, tzinfo=UTC),
    datetime(2026, 11, 10, 14, 0, tzinfo=UTC),
]
LATENCIES = [0, 99, 100, 101, 249, 250, 999, 1000, 39999, 40000, 120000]


def random_rows(projects, count: int, seed: int = 7) -> list[LlmUsageLog]:
    rng = random.Random(seed)
    rows = []
    for index in range(count):
        project = rng.choice(projects)
        outcome = rng.choice(["ok"] * 4 + OUTCOMES)
        prompt = rng.randint(0, 5000)
        at = EDGES[index] if index < len(EDGES) else NOON + timedelta(minutes=rng.randint(-3 * 24 * 60, 60))
        rows.append(
            LlmUsageLog.objects.record(
                project=project,
                organization=project.organization,
                source=rng.choice(SOURCES),
                funding=rng.choice(FUNDINGS),
                provider=rng.choice(["openai", "anthropic"]),
                model=rng.choice(["gpt-4o-mini", "claude-3-5-haiku", "unlisted-model"]),
                input_tokens=prompt,
                cached_tokens=rng.randint(0, prompt),
                output_tokens=rng.randint(0, 3000),
                latency_ms=rng.choice(LATENCIES + [rng.randint(0, 70000)]),
                outcome=outcome,
                error_code="" if outcome == "ok" else "provider_error",
                cost_usd=None
                if outcome != "ok" or rng.random() < 0.2
                else Decimal(rng.randint(0, 10**7)) / 10**8,
                created_at=at,
            )
        )
    return rows


def latency_bucket(latency_ms: int) -> str:
    for bound, name in zip(LATENCY_BOUNDS_MS, LATENCY_BUCKETS, strict=False):
        if latency_ms < bound:
            return name
    return LATENCY_BUCKETS[-1]


def counters_of(row: LlmUsageLog) -> dict:
    """What one row adds to its buckets, worked out here in Python: the oracle for usage.rollups' SQL."""
    ok = row.outcome == LlmUsageLog.Outcome.OK
    counters = dict.fromkeys(rollups.COUNTERS, 0)
    counters.update(
        calls=1,
        errors=0 if ok else 1,
        input_tokens=row.input_tokens,
        cached_tokens=row.cached_tokens,
        output_tokens=row.output_tokens,
        cost_usd=row.cost_usd or Decimal(0),
        unpriced_calls=1 if ok and row.cost_usd is None else 0,
        latency_ms_total=row.latency_ms,
    )
    counters[latency_bucket(row.latency_ms)] = 1
    return counters


def expected_buckets(keys) -> dict[tuple, dict]:
    """A GROUP BY over the log, computed here in Python from the rows as stored."""
    buckets: dict[tuple, dict] = defaultdict(lambda: dict.fromkeys(rollups.COUNTERS, 0))
    for row in LlmUsageLog.objects.all():
        key = keys(row)
        for name, value in counters_of(row).items():
            buckets[key][name] += value
    return dict(buckets)


def stored_buckets(model, keys) -> dict[tuple, dict]:
    return {
        keys(bucket): {name: getattr(bucket, name) for name in rollups.COUNTERS}
        for bucket in model.objects.all()
    }


def hour(row) -> datetime:
    return rollups.hour_of(row.created_at)


def day(row):
    return rollups.day_of(row.created_at)


GROUPINGS = {
    UsageHourly: (
        lambda r: (r.project_id, r.funding, hour(r)),
        lambda b: (b.project_id, b.funding, b.hour),
    ),
    UsageDaily: (
        lambda r: (r.project_id, r.organization_id, day(r), r.source, r.funding, r.provider, r.model),
        lambda b: (b.project_id, b.organization_id, b.day, b.source, b.funding, b.provider, b.model),
    ),
    UsageDailyProject: (
        lambda r: (r.project_id, r.organization_id, day(r), r.funding, r.provider),
        lambda b: (b.project_id, b.organization_id, b.day, b.funding, b.provider),
    ),
    UsageDailySite: (
        lambda r: (day(r), r.source, r.funding, r.provider, r.model),
        lambda b: (b.day, b.source, b.funding, b.provider, b.model),
    ),
}


def assert_rollups_equal_the_log():
    for model, (row_key, bucket_key) in GROUPINGS.items():
        assert stored_buckets(model, bucket_key) == expected_buckets(row_key), model.__name__


@pytest.fixture
def projects(db):
    first, second = make_org("Acme"), make_org("Globex")
    return [first.default_project, make_project(first, "Acme Two"), second.default_project]


def test_the_rollups_equal_a_group_by_over_the_log_after_a_random_mix_of_calls(projects):
    rows = random_rows(projects, 300)
    assert_rollups_equal_the_log()
    # The edges landed where they belong: 23:59:59.999999 on its day and hour, midnight on the next.
    edge_days = [rollups.day_of(row.created_at) for row in rows[:2]]
    assert [str(d) for d in edge_days] == ["2026-11-09", "2026-11-10"]
    assert [rollups.hour_of(row.created_at).hour for row in rows[2:4]] == [13, 14]


def test_rebuilding_a_period_gives_the_same_buckets(projects):
    random_rows(projects, 200, seed=11)
    before = {model: stored_buckets(model, keys) for model, (_, keys) in GROUPINGS.items()}
    # Damage the rollups, as a hand edit or a restored backup of the log would leave them.
    UsageHourly.objects.filter(pk__in=UsageHourly.objects.values("pk")[:5]).delete()
    UsageDaily.objects.update(calls=0)
    UsageDailySite.objects.all().delete()
    call_command("rebuild_usage_rollups", "--all", stdout=StringIO())
    after = {model: stored_buckets(model, keys) for model, (_, keys) in GROUPINGS.items()}
    assert after == before
    assert_rollups_equal_the_log()


def test_rebuilding_one_day_leaves_the_other_days_alone(projects):
    random_rows(projects, 120, seed=3)
    UsageDaily.objects.update(calls=999)
    call_command("rebuild_usage_rollups", "--from", "2026-11-10", "--to", "2026-11-10", stdout=StringIO())
    assert set(UsageDaily.objects.exclude(day="2026-11-10").values_list("calls", flat=True)) == {999}
    rebuilt = UsageDaily.objects.filter(day="2026-11-10")
    assert rebuilt.exists() and 999 not in set(rebuilt.values_list("calls", flat=True))


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--from", "yesterday"], "is not a date"),
        (["--from", "2026-11-10", "--to", "2026-11-01"], "before --from"),
        (["--days", "0"], "between 1 and"),
        (["--to", "2026-11-10"], "needs --from"),
    ],
)
def test_the_rebuild_command_refuses_bad_periods_and_changes_nothing(projects, arguments, message):
    random_rows(projects, 10)
    before = UsageDaily.objects.count()
    with pytest.raises(CommandError, match=message):
        call_command("rebuild_usage_rollups", *arguments)
    assert UsageDaily.objects.count() == before


@pytest.mark.postgres  # SQLite serializes writers and refuses the ones that wait too long
@pytest.mark.django_db(transaction=True)
def test_concurrent_rows_in_one_bucket_all_count():
    project = make_org("Acme").default_project

    def spend():
        for _ in range(5):
            make_spend(project, "0.01000000")

    at_once(spend, 8)
    connection.close()
    bucket = UsageHourly.objects.get(project=project)
    assert (bucket.calls, bucket.cost_usd) == (40, Decimal("0.40000000"))
    assert UsageDailySite.objects.get().calls == 40


def test_a_gateway_call_lands_in_every_rollup(projects, platform):
    project = projects[0]
    result = gateway.complete(project, source="playground", messages=[{"role": "user", "content": "Hi"}])
    assert UsageHourly.objects.get(project=project, funding="platform").calls == 1
    daily = UsageDaily.objects.get(project=project)
    assert (daily.source, daily.input_tokens, daily.output_tokens) == (
        "playground",
        result.usage.input_tokens,
        result.usage.output_tokens,
    )
    assert UsageDailyProject.objects.get(project=project).calls == 1


def test_a_refused_call_counts_as_an_error_without_cost(projects, settings):
    settings.QODEX_PLATFORM_API_KEY = ""
    with pytest.raises(gateway.LlmError):
        gateway.complete(projects[0], source="chat", messages=[{"role": "user", "content": "Hi"}])
    bucket = UsageDailySite.objects.get()
    assert (bucket.calls, bucket.errors, bucket.cost_usd, bucket.unpriced_calls) == (1, 1, 0, 0)


def record(project, **fields) -> LlmUsageLog:
    """One successful platform-funded chat call of `project` at NOON, with `fields` on top."""
    defaults = {"source": "chat", "funding": "platform", "provider": "openai", "model": "gpt-4o-mini"}
    return LlmUsageLog.objects.record(
        project=project,
        organization_id=project.organization_id,
        **{**defaults, "outcome": "ok", "created_at": NOON, **fields},
    )


def test_latency_buckets_split_at_their_bounds(projects):
    project = projects[0]
    for latency in (0, LATENCY_BOUNDS_MS[0] - 1, LATENCY_BOUNDS_MS[0], 10**9):
        record(project, latency_ms=latency)
    bucket = UsageHourly.objects.get(project=project)
    histogram = [getattr(bucket, name) for name in LATENCY_BUCKETS]
    assert histogram == [2, 1] + [0] * (len(LATENCY_BUCKETS) - 3) + [1]
    assert bucket.latency_ms_total == 2 * LATENCY_BOUNDS_MS[0] - 1 + 10**9


def test_percentiles_interpolate_inside_a_bucket():
    histogram = [0] * len(LATENCY_BUCKETS)
    histogram[2] = 10  # ten calls between 250 and 500 ms
    assert rollups.percentile(histogram, 0.5) == 375
    assert rollups.percentile(histogram, 0.95) == 488
    histogram[0] = 90  # ninety more under 100 ms: the median moves there
    assert rollups.percentile(histogram, 0.5) == 56
    assert rollups.percentile([0] * len(LATENCY_BUCKETS), 0.5) is None


def test_a_row_after_a_rebuild_adds_to_the_rebuilt_bucket(projects):
    def spend(usd: str, at: datetime):
        record(projects[0], cost_usd=Decimal(usd), created_at=at)

    spend("0.10", NOON)
    call_command("rebuild_usage_rollups", "--from", "2026-11-10", "--to", "2026-11-10", stdout=StringIO())
    spend("0.20", NOON + timedelta(minutes=1))
    bucket = UsageHourly.objects.get()  # one bucket: the rebuilt one and the new row's are the same
    assert (bucket.calls, bucket.cost_usd) == (2, Decimal("0.30000000"))
    assert UsageDailySite.objects.get().calls == 2


def synchronous_commit() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        return cursor.fetchone()[0]


def record_capturing_sql(project) -> list[str]:
    statements = []

    def capture(execute, sql, params, many, context):
        statements.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(capture):
        make_spend(project, "0.01000000")
    return statements


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_usage_row_outside_a_transaction_commits_without_waiting_for_the_flush(settings):
    project = make_org("Acme").default_project
    settings.QODEX_USAGE_ASYNC_COMMIT = True
    assert any("synchronous_commit" in sql for sql in record_capturing_sql(project))
    assert synchronous_commit() == "on"  # for that one transaction only: the session's writes still wait
    settings.QODEX_USAGE_ASYNC_COMMIT = False
    assert not any("synchronous_commit" in sql for sql in record_capturing_sql(project))
    assert LlmUsageLog.objects.count() == 2
    assert_rollups_equal_the_log()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_usage_row_inside_a_transaction_leaves_the_transactions_commit_durable(settings):
    """A caller's transaction holds other writes (a door's audit row, say): they still wait for the flush."""
    settings.QODEX_USAGE_ASYNC_COMMIT = True
    project = make_org("Acme").default_project
    with transaction.atomic():
        assert not any("synchronous_commit" in sql for sql in record_capturing_sql(project))
        assert synchronous_commit() == "on"
    assert LlmUsageLog.objects.count() == 1
