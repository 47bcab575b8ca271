"""The LLM spend console in Chromium: staff open /admin/#llm and read the chart, its tooltips and tables;
a project admin reads the project's usage page. Desktop and phone widths."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from tests.e2e.pages import sign_in
from tests.factories import make_org, make_project, make_user
from tests.usage.calls import call

pytestmark = pytest.mark.e2e

PHONE = {"width": 390, "height": 844}
MODELS = ["gpt-4o-mini", "gpt-4o", "claude-3-5-sonnet"]
SOURCES = ["chat", "playground", "scenario_generation", "test_run", "memory", "key_check", "api"]


def fill_spend(projects, days: int = 30, seed: int = 7) -> None:
    """A month of calls over every source, funding and a few models, some unpriced and some failed."""
    rng = random.Random(seed)
    now = timezone.now()
    for day in range(days):
        for project in projects:
            for _ in range(rng.randint(0, 3)):
                source = rng.choice(SOURCES)
                priced = rng.random() > 0.1
                call(
                    project,
                    now - timedelta(days=day, minutes=rng.randint(0, 600)),
                    cost=f"{rng.uniform(0.01, 2.5):.6f}" if priced else None,
                    source=source,
                    funding=rng.choice(["platform", "platform", "byok", "codex_pool"]),
                    provider=rng.choice(["openai", "openai", "anthropic"]),
                    model=rng.choice(MODELS) if priced else "mystery-1",
                    outcome="ok" if rng.random() > 0.08 else "timeout",
                    latency=rng.randint(80, 9000),
                    tokens=(rng.randint(100, 9000), rng.randint(0, 500), rng.randint(10, 900)),
                )


@pytest.fixture
def spend(db):
    projects = []
    for org_name, names in [("Acme", ["Checkout", "Billing", "Search"]), ("Globex", ["Mobile app"])]:
        org = make_org(org_name)
        projects += [make_project(org, name) for name in names]
    fill_spend(projects)
    return projects


@pytest.mark.parametrize("viewport", [None, PHONE], ids=["desktop", "phone"])
def test_staff_read_the_daily_spend_chart_on_the_llm_tab(page, spend, js_errors, viewport):
    if viewport:
        page.set_viewport_size(viewport)
    staff = make_user("staff@qodex.test", is_staff=True)
    sign_in(page, staff, "/admin/")
    page.goto("/admin/#llm")

    llm = page.locator("#llm")
    expect(llm).to_be_visible()
    expect(page.locator("#overview")).to_be_hidden()
    expect(page.get_by_role("link", name="LLM spend", exact=True)).to_have_attribute("aria-current", "page")

    chart = llm.get_by_role("img", name="Daily spend by source")
    expect(chart).to_be_visible()
    box = chart.bounding_box()
    assert box["width"] > 200 and box["height"] > 150
    bars = chart.locator("rect")
    assert bars.count() > 30
    # Every segment says what it is in its tooltip, and the axis and legend are there to read.
    assert " · " in bars.first.locator("title").text_content()
    assert "$" in page.locator(".chart-axis text").last.text_content()
    expect(llm.locator(".chart-legend li").first).to_be_visible()
    # The page itself never scrolls sideways, whatever the width.
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")

    # The 7 d preset keeps the tab and narrows the chart to its eight UTC days.
    llm.get_by_role("link", name="7 d").click()
    page.wait_for_url("**period=7d#llm")
    expect(page.locator("#llm")).to_be_visible()
    expect(page.locator(".chart-plot g")).to_have_count(8)

    # A funding filter through the form, applied in place.
    llm.get_by_label("Funding", exact=True).select_option("byok")
    llm.get_by_role("button", name="Apply").click()
    page.wait_for_url("**funding=byok**#llm")
    expect(page.locator("#llm")).to_be_visible()
    expect(page.get_by_label("Funding", exact=True)).to_have_value("byok")
    assert not js_errors


def test_a_project_admin_reads_the_usage_page_in_their_time_zone(page, new_context, cast, js_errors):
    fill_spend([cast.project], days=10)
    sign_in(page, cast.owner, f"/p/{cast.project.slug}/settings/usage/")
    page.reload()  # the first page set the tz cookie from the browser's zone (UTC in this browser)
    expect(page.get_by_role("heading", name="Usage", exact=True)).to_be_visible()
    expect(page.get_by_role("img", name="Daily spend by source")).to_be_visible()
    expect(page.locator("[data-meter]")).to_have_count(2)

    berlin = new_context(timezone_id="Europe/Berlin").new_page()
    sign_in(berlin, cast.owner, f"/p/{cast.project.slug}/settings/usage/")
    berlin.goto(f"/p/{cast.project.slug}/settings/usage/?from=2026-01-05&to=2026-01-06")
    expect(berlin.locator("[data-period-bounds]")).to_contain_text(
        "5 Jan 2026 00:00 to 7 Jan 2026 00:00 UTC, which is 5 Jan 2026 01:00 to 7 Jan 2026 01:00 in your "
        "time zone (Europe/Berlin)"
    )
    assert not js_errors
