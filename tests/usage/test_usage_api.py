"""`GET /api/v1/p/<slug>/usage?days=N` (SPEC §5): the shape CI and the CLI rely on, from the rollups."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from projects.models import ApiKey
from tests.api.conftest import ApiClient, error_code
from tests.factories import make_project
from tests.usage.calls import call
from usage.rollups import day_of

pytestmark = pytest.mark.postgres

COUNTERS = {"calls", "errors", "input_tokens", "output_tokens", "cached_tokens", "cost_usd", "unpriced_calls"}


def key(cast, project=None, scope="write") -> ApiClient:
    return ApiClient(
        ApiKey.issue(organization=cast.org, project=project, name="CI", scope=scope, created_by=cast.owner)[1]
    )


def midnight(day) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


@pytest.fixture
def spend(cast):
    """Three calls of the cast's project: yesterday 23:59:59 and today 00:00:00 (UTC), and 40 days ago;
    and a neighbour's call that must never count."""
    today = day_of(timezone.now())
    project = cast.project
    call(
        project, midnight(today) - timedelta(seconds=1), cost="0.012345", source="chat",
        tokens=(1200, 200, 80),
    )  # fmt: skip
    call(project, midnight(today), cost=None, source="test_run", outcome="rate_limited", tokens=(0, 0, 0))
    call(project, midnight(today) - timedelta(days=40), cost="5.00", source="chat")
    call(make_project(cast.org, "Neighbour"), midnight(today), cost="3.00", source="api")
    return project


def test_it_answers_in_the_shape_of_spec_5(cast, spend):
    response = key(cast).get(f"/api/v1/p/{spend.slug}/usage", days=1)
    assert response.status_code == 200
    body = response.json()
    today = day_of(timezone.now())
    assert set(body) == {"from", "to", "totals", "by_source", "by_day"}
    # 1 day: the UTC days overlapping the last 24 hours, yesterday and today.
    assert body["from"] == f"{today - timedelta(days=1):%Y-%m-%d}T00:00:00Z"
    assert body["to"] == f"{today + timedelta(days=1):%Y-%m-%d}T00:00:00Z"
    assert body["totals"] == {
        "calls": 2,
        "errors": 1,
        "input_tokens": 1200,
        "output_tokens": 80,
        "cached_tokens": 200,
        "cost_usd": "0.01234500",
        "unpriced_calls": 0,  # the rate-limited call failed: no cost to miss
    }
    assert body["by_source"] == [
        {"source": "chat", "calls": 1, "errors": 0, "input_tokens": 1200, "output_tokens": 80,
         "cached_tokens": 200, "cost_usd": "0.01234500", "unpriced_calls": 0},
        {"source": "test_run", "calls": 1, "errors": 1, "input_tokens": 0, "output_tokens": 0,
         "cached_tokens": 0, "cost_usd": "0.00000000", "unpriced_calls": 0},
    ]  # fmt: skip
    assert [(day["date"], day["calls"], day["cost_usd"]) for day in body["by_day"]] == [
        (f"{today - timedelta(days=1)}", 1, "0.01234500"),
        (f"{today}", 1, "0.00000000"),
    ]
    assert all(set(day) == COUNTERS | {"date"} for day in body["by_day"])


def test_days_widens_the_period_and_defaults_to_30(cast, spend):
    api = key(cast)
    month = api.get(f"/api/v1/p/{spend.slug}/usage").json()
    assert len(month["by_day"]) == 31 and month["totals"]["calls"] == 2
    longer = api.get(f"/api/v1/p/{spend.slug}/usage", days=41).json()
    assert longer["totals"]["calls"] == 3 and longer["totals"]["cost_usd"] == "5.01234500"
    assert len(longer["by_day"]) == 42
    assert len(api.get(f"/api/v1/p/{spend.slug}/usage", days=366).json()["by_day"]) == 367


@pytest.mark.parametrize("days", ["0", "367", "-1", "thirty", "1.5", ""])
def test_days_outside_1_to_366_is_a_422(cast, spend, days):
    response = key(cast).get(f"/api/v1/p/{spend.slug}/usage", days=days)
    assert (response.status_code, error_code(response)) == (422, "validation_failed")
    assert "days" in response.json()["error"]["fields"]


def test_it_is_for_admins_and_never_reaches_another_project(cast, spend, client):
    assert key(cast, scope="read").get(f"/api/v1/p/{spend.slug}/usage").status_code == 403
    neighbour = make_project(cast.org, "Locked")
    locked = key(cast, project=neighbour)
    response = locked.get(f"/api/v1/p/{spend.slug}/usage")
    assert (response.status_code, error_code(response)) == (403, "project_forbidden")
    assert locked.get(f"/api/v1/p/{neighbour.slug}/usage").json()["totals"]["calls"] == 0
    response = key(cast).get(f"/api/v1/p/{cast.other_project.slug}/usage")
    assert response.status_code == 404
    client.force_login(cast.member)
    assert ApiClient(client=client).get(f"/api/v1/p/{spend.slug}/usage").status_code == 403
    client.force_login(cast.admin)
    assert ApiClient(client=client).get(f"/api/v1/p/{spend.slug}/usage").status_code == 200


def test_the_queries_do_not_grow_with_the_calls(cast, spend, django_assert_num_queries):
    api = key(cast)
    api.get(f"/api/v1/p/{spend.slug}/usage")  # the key's first use writes last_used_at
    with CaptureQueriesContext(connection) as queries:
        api.get(f"/api/v1/p/{spend.slug}/usage")
    now = timezone.now()
    for n in range(30):
        call(spend, now - timedelta(days=n), source=("chat", "api", "memory")[n % 3], model=f"m{n % 4}")
    with django_assert_num_queries(len(queries)):
        assert api.get(f"/api/v1/p/{spend.slug}/usage").status_code == 200
