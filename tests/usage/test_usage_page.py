"""A project's usage page (`/p/<slug>/settings/usage/`, SPEC §8): the console's report limited to the
project, for its admins, with the platform cap meters."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from projects.models import OrgMembership, Project
from tests.factories import make_project, make_user
from tests.usage.calls import call, utc

pytestmark = pytest.mark.postgres

RANGE = {"from": "2026-03-08", "to": "2026-03-10"}


@pytest.fixture
def spend(cast):
    """The cast's project: two calls on 9 and 10 Mar; its neighbour in the organization and a project of
    another organization spend on other models, which must never show."""
    project = cast.project
    call(project, utc(2026, 3, 9, 23, 59, 59), cost="0.40", source="chat", latency=600, tokens=(900, 0, 90))
    call(
        project, utc(2026, 3, 10), cost=None, source="test_run", model="mystery-model", latency=1500,
        tokens=(10, 0, 1),
    )  # fmt: skip
    sibling = make_project(cast.org, "Sibling")
    call(sibling, utc(2026, 3, 10, 8), cost="7.00", model="sibling-model")
    call(cast.other_project, utc(2026, 3, 10, 8), cost="9.00", model="globex-model")
    return project


def url(project: Project) -> str:
    return f"/p/{project.slug}/settings/usage/"


@pytest.mark.parametrize(
    ("role", "status"), [("owner", 200), ("admin", 200), ("member", 403), ("viewer", 403)]
)
def test_it_is_for_the_projects_admins(cast, login, spend, role, status):
    assert login(cast.user(role)).get(url(spend), RANGE).status_code == status
    assert login(cast.user(role)).get(url(spend), {**RANGE, "export": "sources"}).status_code == status


def test_outsiders_get_a_404_and_org_admins_get_in(cast, login, spend):
    assert login(cast.outsider).get(url(spend), RANGE).status_code == 404
    org_admin = make_user("orgadmin@acme.test")
    OrgMembership.objects.create(user=org_admin, organization=cast.org, role=OrgMembership.OrgRole.ADMIN)
    assert login(org_admin).get(url(spend), RANGE).status_code == 200


def test_it_shows_only_this_projects_spend(cast, login, spend):
    body = login(cast.admin).get(url(spend), RANGE).content.decode()
    assert "$0.40" in body and "1 call unpriced" in body
    assert "mystery-model" in body
    for elsewhere in ("sibling-model", "globex-model", "$7.00", "$9.00", "$16", "Per project"):
        assert elsewhere not in body
    assert "50.0% error rate" not in body  # both calls are ok
    assert "0.0% error rate" in body


def test_it_splits_the_days_at_midnight_utc(cast, login, spend):
    ninth = login(cast.admin).get(url(spend), {"from": "2026-03-09", "to": "2026-03-09"}).content.decode()
    assert "$0.40" in ninth and "unpriced" not in ninth
    tenth = login(cast.admin).get(url(spend), {"from": "2026-03-10", "to": "2026-03-10"}).content.decode()
    assert "$0.40" not in tenth and "1 call unpriced" in tenth


def test_the_filters_narrow_it(cast, login, spend):
    body = login(cast.admin).get(url(spend), {**RANGE, "funding": "byok"}).content.decode()
    assert "No LLM calls in this period." in body
    body = login(cast.admin).get(url(spend), {**RANGE, "provider": "openai"}).content.decode()
    assert "$0.40" in body
    assert 'name="organization"' not in body  # no organization filter on a project's page


def test_it_shows_the_period_in_the_viewers_time_zone(cast, login, spend):
    client = login(cast.admin)
    client.cookies["tz"] = "America/New_York"  # summer time from 8 Mar 2026, 07:00 UTC
    body = client.get(url(spend), RANGE).content.decode()
    assert (
        "8 Mar 2026 00:00 to 11 Mar 2026 00:00 UTC, which is 7 Mar 2026 19:00 to 10 Mar 2026 20:00 in your "
        "time zone (America/New_York)" in body
    )


def test_it_exports_its_tables_as_csv(cast, login, spend):
    client = login(cast.admin)
    response = client.get(url(spend), {**RANGE, "export": "models"})
    assert response["Content-Disposition"] == (
        f'attachment; filename="qodex-{spend.slug}-usage-models-2026-03-08-to-2026-03-10.csv"'
    )
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert [row[:3] + row[8:10] for row in rows] == [
        ["provider", "model", "calls", "cost_usd", "unpriced_calls"],
        ["openai", "gpt-4o-mini", "1", "0.40000000", "0"],
        ["openai", "mystery-model", "1", "0.00000000", "1"],
    ]
    days = client.get(url(spend), {**RANGE, "export": "days"}).content.decode()
    assert "sibling-model" not in days and days.count("\n") == 3
    assert client.get(url(spend), {**RANGE, "export": "projects"}).status_code == 400  # not on this page


def test_platform_projects_see_their_cap_meters(cast, login, settings):
    settings.QODEX_CAP_5H_USD = "5.00"
    settings.QODEX_CAP_WEEKLY_USD = "25.00"
    project = cast.project
    call(project, timezone.now() - timedelta(minutes=10), cost="1.20")
    call(project, timezone.now() - timedelta(days=2), cost="3.00")
    body = login(cast.admin).get(url(project)).content.decode()
    assert "$1.20 of $5.00 in the last 5 hours." in body
    assert "$4.20 of $25.00 in the last 7 days." in body
    assert 'value="24"' in body  # the 5-hour meter: 1.20 of 5.00
    project.llm_mode = Project.LlmMode.BYOK
    project.save()
    assert "Platform limits" not in login(cast.admin).get(url(project)).content.decode()


def test_a_reached_cap_says_so_and_when_it_clears(cast, login, settings):
    settings.QODEX_CAP_5H_USD = "1.00"
    spent_at = timezone.now() - timedelta(minutes=10)
    call(cast.project, spent_at, cost="1.50")
    body = login(cast.admin).get(url(cast.project)).content.decode()
    assert "limit reached" in body
    clears = spent_at.replace(minute=0, second=0, microsecond=0) + timedelta(hours=6)
    assert f"Back under it at {clears.day} {clears:%b %H:%M} UTC." in body


def test_bad_input_is_a_400_with_the_reason(cast, login, spend):
    response = login(cast.admin).get(url(spend), {"from": "2026-03-10", "to": "2026-02-10"})
    assert response.status_code == 400
    assert "The start date is after the end date." in response.content.decode()
    response = login(cast.admin).get(url(spend), {"funding": "free"})
    assert response.status_code == 400


def test_only_admins_see_the_usage_tab(cast, login):
    assert (
        "settings/usage/" in login(cast.admin).get(f"/p/{cast.project.slug}/settings/byok/").content.decode()
    )
    assert (
        "settings/usage/"
        not in login(cast.member).get(f"/p/{cast.project.slug}/settings/byok/").content.decode()
    )


def test_the_page_runs_the_same_queries_however_much_was_spent(cast, login, spend, django_assert_num_queries):
    client = login(cast.admin)
    client.get(url(spend))  # the first visit remembers the project: not part of the page
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url(spend)).status_code == 200
    now = timezone.now()
    for n in range(40):
        call(
            spend, now - timedelta(days=n % 20, minutes=n), cost=str(Decimal("0.01") * n) if n % 4 else None,
            source=("chat", "playground", "api", "memory")[n % 4], model=f"model-{n % 5}",
            funding=("platform", "byok")[n % 2], provider=("openai", "google")[n % 2],
        )  # fmt: skip
    with django_assert_num_queries(len(queries)):
        assert client.get(url(spend)).status_code == 200
