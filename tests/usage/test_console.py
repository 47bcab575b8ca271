"""The staff console's LLM spend (`/admin/#llm`, SPEC §8) and its other tabs' figures, against
hand-computed fixtures. Rows are written through LlmUsageLog.objects.record, so the rollups follow."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from projects.models import Organization, Project
from tests.factories import make_org, make_project, make_user
from tests.usage.calls import call, utc
from usage import console
from usage.rollups import hour_of

pytestmark = pytest.mark.postgres

DAY = date(2026, 3, 10)
RANGE = {"from": "2026-03-08", "to": "2026-03-10"}


class Spend:
    """Two organizations, three projects, five calls over three UTC days; the figures below by hand.

    | project         | day    | source     | funding    | model                 | cost  | ms     | outcome |
    |-----------------|--------|------------|------------|-----------------------|-------|--------|---------|
    | Acme/Checkout   | 10 Mar | chat       | platform   | openai/gpt-4o-mini    | 0.10  | 120    | ok      |
    | Acme/Checkout   | 10 Mar | test_run   | platform   | openai/gpt-4o-mini    | none  | 30000  | timeout |
    | Acme/Billing    | 9 Mar  | chat       | byok       | anthropic/claude-3-5  | 0.50  | 2500   | ok      |
    | Globex/App      | 10 Mar | playground | platform   | openai/mystery-model  | none  | 90     | ok      |
    | Globex/App      | 8 Mar  | chat       | codex_pool | openai/gpt-4o         | 1.25  | 400    | ok      |
    """

    def __init__(self):
        self.acme = Organization.objects.create(name="Acme")
        self.globex = Organization.objects.create(name="Globex")
        self.checkout = make_project(self.acme, "Checkout", slug="checkout")
        self.billing = make_project(self.acme, "Billing", slug="billing")
        self.app = make_project(self.globex, "=Globex App", slug="globex-app")  # a formula-looking name
        call(self.checkout, utc(2026, 3, 10, 9), cost="0.10", latency=120, tokens=(1000, 100, 200))
        call(
            self.checkout, utc(2026, 3, 10, 9, 30), cost=None, source="test_run", outcome="timeout",
            latency=30000, tokens=(0, 0, 0),
        )  # fmt: skip
        call(
            self.billing, utc(2026, 3, 9, 23, 59, 59), cost="0.50", funding="byok", provider="anthropic",
            model="claude-3-5", latency=2500, tokens=(3000, 0, 400),
        )  # fmt: skip
        call(
            self.app, utc(2026, 3, 10, 0, 0, 0), cost=None, source="playground", model="mystery-model",
            latency=90, tokens=(50, 0, 5),
        )  # fmt: skip
        call(
            self.app, utc(2026, 3, 8, 12), cost="1.25", funding="codex_pool", model="gpt-4o", latency=400,
            tokens=(2000, 500, 300),
        )  # fmt: skip


@pytest.fixture
def spend(db) -> Spend:
    return Spend()


@pytest.fixture
def staff(client, db):
    client.force_login(make_user("staff@qodex.test", is_staff=True))
    return client


def report(**params) -> console.Report:
    period, problem = console.period_from({**RANGE, **params})
    filters, problems = console.filters_from(params)
    assert not problem and not problems
    return console.site_report(period, filters)


def figures_of(lines: list[console.Line]) -> list[tuple[str, Decimal, int, int]]:
    return [
        (line.label, line.figures.cost_usd, line.figures.calls, line.figures.unpriced_calls) for line in lines
    ]


# --- arithmetic ------------------------------------------------------------------------------------------


def test_the_totals_add_up_by_hand(spend):
    totals = report().totals
    assert (totals.calls, totals.errors, totals.unpriced_calls) == (5, 1, 1)
    assert totals.cost_usd == Decimal("1.85")
    assert (totals.input_tokens, totals.cached_tokens, totals.output_tokens) == (6050, 600, 905)
    assert totals.error_rate == pytest.approx(0.2)
    # Latencies 90, 120, 400, 2500, 30000 ms fall in the buckets <100, <250, <500, <3000, <40000.
    # p50: the 2.5th call, half-way into the 250–500 bucket → 375. p95: the 4.75th, three quarters into
    # 20000–40000 → 35000.
    assert (totals.p50_ms, totals.p95_ms) == (375, 35000)


def test_each_table_is_sorted_by_cost_with_unpriced_rows_kept(spend):
    found = report()
    assert figures_of(found.sources) == [
        ("Chat", Decimal("1.85"), 3, 0),
        ("Playground", Decimal("0"), 1, 1),  # unpriced before a $0 error: its cost is unknown, not none
        ("Test run", Decimal("0"), 1, 0),
    ]
    assert figures_of(found.fundings) == [
        ("Codex pool", Decimal("1.25"), 1, 0),
        ("Own key (BYOK)", Decimal("0.50"), 1, 0),
        ("Platform", Decimal("0.10"), 3, 1),
    ]
    assert [(line.detail, line.label, line.figures.cost_usd) for line in found.models] == [
        ("openai", "gpt-4o", Decimal("1.25")),
        ("anthropic", "claude-3-5", Decimal("0.50")),
        ("openai", "gpt-4o-mini", Decimal("0.10")),
        ("openai", "mystery-model", Decimal("0")),
    ]
    assert figures_of(found.projects) == [
        ("=Globex App", Decimal("1.25"), 2, 1),
        ("Billing", Decimal("0.50"), 1, 0),
        ("Checkout", Decimal("0.10"), 2, 0),
    ]
    assert found.project_count == 3


@pytest.mark.parametrize("params", [{}, {"funding": "platform"}, {"provider": "openai"}])
def test_the_pages_top_projects_carry_the_same_figures_as_the_full_list(spend, monkeypatch, params):
    """The page ranks projects on three sums, then sums every counter for its top ones: the same lines,
    every counter included, as the CSV's one pass over all projects."""
    period, _ = console.period_from(RANGE)
    filters, _ = console.filters_from(params)
    every = console.site_report(period, filters, all_projects=True)
    monkeypatch.setattr(console, "PROJECT_ROWS", 2)
    top = console.site_report(period, filters)
    assert [(line.label, line.figures) for line in top.projects] == [
        (line.label, line.figures) for line in every.projects[:2]
    ]
    assert top.project_count == every.project_count


def test_the_days_hold_each_source_for_the_chart(spend):
    days = {day.day: day for day in report().days}
    assert list(days) == [date(2026, 3, 8), date(2026, 3, 9), date(2026, 3, 10)]
    assert days[date(2026, 3, 8)].by_source["chat"].cost_usd == Decimal("1.25")
    assert days[date(2026, 3, 9)].figures.cost_usd == Decimal("0.50")
    ten = days[date(2026, 3, 10)]
    assert sorted(ten.by_source) == ["chat", "playground", "test_run"]
    assert (ten.figures.calls, ten.figures.cost_usd, ten.figures.unpriced_calls) == (3, Decimal("0.10"), 1)


# --- filters ---------------------------------------------------------------------------------------------


def test_an_organization_filter_reads_only_its_projects(spend):
    found = report(organization=spend.acme.slug)
    assert (found.totals.calls, found.totals.cost_usd) == (3, Decimal("0.60"))
    assert [line.label for line in found.projects] == ["Billing", "Checkout"]
    assert figures_of(found.sources) == [("Chat", Decimal("0.60"), 2, 0), ("Test run", Decimal("0"), 1, 0)]
    assert "mystery-model" not in [line.label for line in found.models]


def test_provider_and_funding_filters_narrow_every_table(spend):
    anthropic = report(provider="anthropic")
    assert (anthropic.totals.calls, anthropic.totals.cost_usd) == (1, Decimal("0.50"))
    assert [line.label for line in anthropic.projects] == ["Billing"]
    assert anthropic.providers == ["anthropic", "openai"]  # the filter still offers every provider

    platform = report(funding="platform")
    assert (platform.totals.calls, platform.totals.unpriced_calls) == (3, 1)
    assert figures_of(platform.projects) == [
        ("Checkout", Decimal("0.10"), 2, 0),
        ("=Globex App", Decimal("0"), 1, 1),
    ]

    both = report(organization=spend.globex.slug, funding="codex_pool")
    assert figures_of(both.projects) == [("=Globex App", Decimal("1.25"), 1, 0)]
    assert both.totals.cost_usd == Decimal("1.25")


def test_bad_filters_are_named_and_dropped(db):
    filters, problems = console.filters_from(
        {"organization": "nope", "funding": "free", "provider": "x" * 21}
    )
    assert filters == console.Filters()
    assert problems == [
        "No organization “nope”; showing every organization.",
        "A provider is a name of up to 20 letters and digits; showing every provider.",
        "Funding is platform, byok or codex_pool; showing every funding.",
    ]


@pytest.mark.parametrize(
    "params",
    [
        {"q": "ac\x00me"},
        {"organization": "ac\x00me"},
        {"provider": "open\x00ai"},
        {"from": "2026-01-01\x00", "to": "2026-01-02"},
        {"funding": "\x00"},
        {"period": "\x00"},
        {"export": "\x00"},
    ],
)
def test_odd_input_is_never_a_server_error(staff, params):
    assert staff.get("/admin/", params).status_code in (200, 400)


# --- periods ---------------------------------------------------------------------------------------------


def test_a_call_at_235959_belongs_to_its_day_and_one_at_midnight_to_the_next(spend):
    ninth = report(**{"from": "2026-03-09", "to": "2026-03-09"})
    assert [line.label for line in ninth.projects] == ["Billing"]  # 9 Mar 23:59:59
    tenth = report(**{"from": "2026-03-10", "to": "2026-03-10"})
    assert sorted(line.label for line in tenth.projects) == ["=Globex App", "Checkout"]  # 10 Mar 00:00:00
    assert tenth.totals.calls == 3


@pytest.mark.parametrize(
    ("key", "now", "first", "last"),
    [
        # The UTC days that overlap the span ending now.
        ("24h", utc(2026, 3, 10, 12), date(2026, 3, 9), date(2026, 3, 10)),
        ("24h", utc(2026, 3, 10, 0, 0), date(2026, 3, 9), date(2026, 3, 10)),
        ("24h", utc(2026, 3, 10, 23, 59, 59), date(2026, 3, 9), date(2026, 3, 10)),
        ("7d", utc(2026, 3, 10, 12), date(2026, 3, 3), date(2026, 3, 10)),
        ("30d", utc(2026, 3, 10, 12), date(2026, 2, 8), date(2026, 3, 10)),
        ("90d", utc(2026, 3, 10, 12), date(2025, 12, 10), date(2026, 3, 10)),
    ],
)
def test_a_preset_period_is_the_utc_days_covering_it(key, now, first, last):
    period, problem = console.period_from({"period": key}, now)
    assert (period.first_day, period.last_day, problem) == (first, last, "")
    assert period.start == utc(first.year, first.month, first.day)
    assert period.end == utc(last.year, last.month, last.day) + timedelta(days=1)


@pytest.mark.parametrize(
    ("params", "problem"),
    [
        ({"from": "2026-03-10"}, "A custom range needs both a start and an end date."),
        ({"from": "2026-03-10", "to": "10/03/2026"}, "Enter dates as YYYY-MM-DD."),
        ({"from": "2026-03-11", "to": "2026-03-10"}, "The start date is after the end date."),
        ({"from": "2024-01-01", "to": "2026-01-01"}, "A custom range can cover at most 366 days."),
        ({"from": "1999-01-01", "to": "1999-01-02"}, "Pick dates between 2020-01-01 and 2027-03-11."),
        ({"from": "2026-01-01", "to": "9999-12-31"}, "Pick dates between 2020-01-01 and 2027-03-11."),
        ({"period": "1y"}, "Choose a period of 24 h, 7 d, 30 d or 90 d, or a custom range."),
    ],
)
def test_a_bad_period_says_why_and_falls_back_to_30_days(params, problem):
    period, said = console.period_from(params, utc(2026, 3, 10, 12))
    assert said.startswith(problem)
    assert (period.key, period.first_day) == ("30d", date(2026, 2, 8))


def test_a_custom_range_is_whole_utc_days_both_ends_included():
    period, _ = console.period_from({"from": "2026-03-08", "to": "2026-03-10", "period": "24h"})
    assert (period.key, len(period.days)) == ("custom", 3)
    assert (period.start, period.end) == (utc(2026, 3, 8), utc(2026, 3, 11))


# --- the page --------------------------------------------------------------------------------------------


def test_the_llm_tab_shows_totals_tables_chart_and_the_unpriced_flag(staff, spend):
    body = staff.get("/admin/", RANGE).content.decode()
    assert "$1.85" in body
    assert "1 call unpriced" in body
    assert "20.0% error rate" in body
    assert "375 ms" in body and "35.0 s" in body  # p50, p95
    for title in ("Per project", "Per source", "Per funding", "Per provider and model"):
        assert title in body
    assert body.count('<svg class="chart-plot"') == 1
    assert "<title>8 Mar 2026 · Chat: $1.25, 1 call. Day total $1.25.</title>" in body
    assert 'class="swatch src-playground"' in body  # the legend
    assert ">8 Mar</text>" in body and ">10 Mar</text>" in body  # the day axis


def test_the_page_says_what_the_period_covers_in_utc_and_the_viewers_zone(staff, spend):
    staff.cookies["tz"] = "Asia/Kolkata"
    body = staff.get("/admin/", RANGE).content.decode()
    assert (
        "8 Mar 2026 00:00 to 11 Mar 2026 00:00 UTC, which is 8 Mar 2026 05:30 to 11 Mar 2026 05:30 in your "
        "time zone (Asia/Kolkata)" in body
    )
    staff.cookies["tz"] = "Mars/Olympus_Mons"  # unknown: UTC only
    body = staff.get("/admin/", RANGE).content.decode()
    assert "8 Mar 2026 00:00 to 11 Mar 2026 00:00 UTC." in body and "your time zone" not in body


def test_a_bad_period_is_a_400_that_says_why(staff, spend):
    response = staff.get("/admin/", {"from": "2026-03-11", "to": "2026-03-10"})
    assert response.status_code == 400
    assert (
        "The start date is after the end date. Showing the last 30 days instead." in response.content.decode()
    )


def test_presets_keep_the_filters_and_drop_a_custom_range(staff, spend):
    body = staff.get("/admin/", {**RANGE, "funding": "byok"}).content.decode()
    assert 'href="?funding=byok&amp;period=7d#llm"' in body
    assert 'href="?from=2026-03-08&amp;to=2026-03-10&amp;funding=byok&amp;export=projects"' in body


def test_the_console_is_a_404_for_everyone_but_staff(client, spend):
    assert client.get("/admin/", RANGE).status_code == 404
    client.force_login(make_user("someone@example.com"))
    assert client.get("/admin/", {**RANGE, "export": "projects"}).status_code == 404


# --- CSV -------------------------------------------------------------------------------------------------


def rows_of(response) -> list[list[str]]:
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    return list(csv.reader(io.StringIO(response.content.decode())))


def test_each_table_exports_as_csv_with_decimal_strings(staff, spend):
    response = staff.get("/admin/", {**RANGE, "export": "projects"})
    assert response["Content-Disposition"] == (
        'attachment; filename="qodex-llm-projects-2026-03-08-to-2026-03-10.csv"'
    )
    app, billing, checkout = spend.app.public_id, spend.billing.public_id, spend.checkout.public_id
    head = ["calls", "errors", "error_rate", "input_tokens", "cached_tokens", "output_tokens", "cost_usd"]
    head += ["unpriced_calls", "p50_ms", "p95_ms"]
    assert rows_of(response) == [
        ["project", "project_id", "slug", "organization", *head],
        ["'=Globex App", app, "globex-app", "Globex", "2", "0", "0.0000", "2050", "500", "305", "1.25000000", "1", "100", "475"],  # noqa: E501
        ["Billing", billing, "billing", "Acme", "1", "0", "0.0000", "3000", "0", "400", "0.50000000", "0", "2500", "2950"],  # noqa: E501
        ["Checkout", checkout, "checkout", "Acme", "2", "1", "0.5000", "1000", "100", "200", "0.10000000", "0", "250", "38000"],  # noqa: E501
    ]  # fmt: skip
    sources = rows_of(staff.get("/admin/", {**RANGE, "export": "sources", "funding": "platform"}))
    assert [row[:2] + row[7:9] for row in sources] == [
        ["source", "calls", "cost_usd", "unpriced_calls"],
        ["chat", "1", "0.10000000", "0"],
        ["playground", "1", "0.00000000", "1"],
        ["test_run", "1", "0.00000000", "0"],
    ]
    models = rows_of(staff.get("/admin/", {**RANGE, "export": "models"}))
    assert [row[:2] for row in models] == [
        ["provider", "model"],
        ["openai", "gpt-4o"],
        ["anthropic", "claude-3-5"],
        ["openai", "gpt-4o-mini"],
        ["openai", "mystery-model"],
    ]
    funding = rows_of(staff.get("/admin/", {**RANGE, "export": "funding"}))
    assert [row[0] for row in funding] == ["funding", "codex_pool", "byok", "platform"]
    days = rows_of(staff.get("/admin/", {**RANGE, "export": "days"}))
    assert [row[:3] + [row[8]] for row in days] == [
        ["date", "source", "calls", "cost_usd"],
        ["2026-03-08", "chat", "1", "1.25000000"],
        ["2026-03-09", "chat", "1", "0.50000000"],
        ["2026-03-10", "chat", "1", "0.10000000"],
        ["2026-03-10", "playground", "1", "0.00000000"],
        ["2026-03-10", "test_run", "1", "0.00000000"],
    ]


def test_the_csv_has_every_project_the_page_has_the_top_ones(staff, spend, monkeypatch):
    monkeypatch.setattr(console, "PROJECT_ROWS", 2)
    body = staff.get("/admin/", RANGE).content.decode()
    assert "Checkout" not in body.split('id="per-project"')[1].split("</section>")[0]
    assert "The 2 projects that spent most, of 3; the CSV has every one." in body
    assert len(rows_of(staff.get("/admin/", {**RANGE, "export": "projects"}))) == 4


def test_an_unknown_export_or_bad_input_is_a_400_in_words(staff, spend):
    response = staff.get("/admin/", {**RANGE, "export": "users"})
    assert response.status_code == 400
    assert response.content.decode() == "Export one of: projects, sources, models, funding, days.\n"
    response = staff.get("/admin/", {"from": "x", "to": "y", "export": "sources"})
    assert response.status_code == 400
    assert "Enter dates as YYYY-MM-DD." in response.content.decode()


# --- the other tabs --------------------------------------------------------------------------------------


def test_the_overview_shows_spend_today_and_over_7_days(staff, db):
    project = make_project(make_org("Acme"), "Shop")
    now = timezone.now()
    call(project, now - timedelta(seconds=1), cost="2.00")
    call(project, now - timedelta(days=2), cost="3.00")
    call(project, now - timedelta(days=2), cost=None)
    call(project, now - timedelta(days=40), cost="100.00")
    body = staff.get("/admin/").content.decode()
    today = body.split('data-spend="today"')[1].split("</div>")[0]
    week = body.split('data-spend="week"')[1].split("</div>")[0]
    assert "$2.00" in today and "1 call since 00:00 UTC" in today
    assert "$5.00" in week and "3 calls since" in week and "1 unpriced" in week


def test_the_projects_tab_shows_each_projects_30_day_spend(staff, db):
    org = make_org("Acme")
    shop, quiet = make_project(org, "Shop"), make_project(org, "Quiet")
    now = timezone.now()
    call(shop, now - timedelta(days=1), cost="1.50")
    call(shop, now - timedelta(days=29, hours=12), cost="0.25")  # a day inside the 30 d period
    call(shop, now - timedelta(days=45), cost="9.00")
    body = staff.get("/admin/").content.decode()
    rows = body.split('id="projects"')[1]
    assert "$1.75" in rows.split(shop.public_id)[1].split("</tr>")[0]
    assert "$0.00" in rows.split(quiet.public_id)[1].split("</tr>")[0]


# --- projects near their caps ----------------------------------------------------------------------------


@pytest.fixture
def caps_settings(settings):
    settings.QODEX_CAP_5H_USD = "5.00"
    settings.QODEX_CAP_WEEKLY_USD = "25.00"


def test_the_llm_tab_lists_platform_projects_near_or_at_their_caps(staff, db, caps_settings):
    org = make_org("Acme")
    now = timezone.now()
    near = make_project(org, "Near", cap_5h_usd=Decimal("1.00"))
    call(near, now - timedelta(minutes=5), cost="0.85")  # 85% of its own 5-hour cap
    at_cap = make_project(org, "At cap")
    call(at_cap, now - timedelta(days=3), cost="25.00")  # 100% of the weekly default
    calm = make_project(org, "Calm")
    call(calm, now - timedelta(minutes=5), cost="3.99")  # 79.8% of 5.00
    own_key = make_project(org, "Own key", llm_mode=Project.LlmMode.BYOK)
    call(own_key, now - timedelta(minutes=5), cost="5.00")  # byok projects have no platform cap
    byok_funded = make_project(org, "Byok funded")
    call(byok_funded, now - timedelta(minutes=5), cost="5.00", funding="byok")
    old = make_project(org, "Old")
    call(old, now - timedelta(days=8), cost="30.00")  # out of the weekly window
    watched = console.projects_near_caps(now)
    assert [(watch.project.name, watch.reached) for watch in watched] == [("At cap", True), ("Near", False)]
    assert [(use.name, use.spent, use.cap, use.percent) for use in watched[1].uses] == [
        ("5-hour", Decimal("0.85"), Decimal("1.00"), 85),
        ("weekly", Decimal("0.85"), Decimal("25.00"), 3),
    ]
    body = staff.get("/admin/").content.decode()
    assert 'data-near-cap="' + at_cap.slug in body and 'data-near-cap="' + near.slug in body
    assert 'data-near-cap="' + calm.slug not in body
    assert "$0.85 of $1.00 (85%)" in body


def test_the_5_hour_window_starts_at_the_hour_bucket_five_hours_back(db, caps_settings):
    project = make_project(make_org("Acme"))
    now = utc(2026, 3, 10, 14, 20)
    first_hour = hour_of(now - timedelta(hours=5))  # 09:00: the bucket byok.caps counts from
    call(project, first_hour, cost="2.50")
    call(project, first_hour - timedelta(microseconds=1), cost="2.00")  # 08:59:59.999999: outside
    assert console.projects_near_caps(now) == []  # 2.50 of 5.00 in the window
    call(project, first_hour + timedelta(minutes=59, seconds=59), cost="1.50")
    [watch] = console.projects_near_caps(now)
    five, weekly = watch.uses
    assert (five.spent, weekly.spent) == (Decimal("4.00"), Decimal("6.00"))
    assert five.near and not five.reached and not watch.reached


# --- queries ---------------------------------------------------------------------------------------------


def count_queries(client, params) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/admin/", params).status_code == 200
    return len(queries)


def test_the_console_runs_the_same_queries_however_much_was_spent(
    staff, spend, caps_settings, django_assert_num_queries
):
    now = timezone.now()
    call(spend.checkout, now - timedelta(minutes=1), cost="4.50")  # near its cap: the list has a row
    for params in ({}, {"organization": spend.acme.slug, "funding": "platform"}):
        few = count_queries(staff, params)
        for n in range(30):
            project = make_project(spend.globex if n % 2 else spend.acme, f"More {n}")
            for day in range(3):
                call(
                    project, now - timedelta(days=day, minutes=n), cost="4.10" if n % 3 else None,
                    source=("chat", "test_run", "api")[n % 3], funding=("platform", "byok")[day % 2],
                    model=f"model-{n % 4}",
                )  # fmt: skip
        with django_assert_num_queries(few):
            assert staff.get("/admin/", params).status_code == 200
