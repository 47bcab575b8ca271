"""A member runs a scenario from the test-runs page, watches it progress, and opens the finding it found.

The live server and the worker run in this process (the worker as background threads); the app under
test is the shop (tests/targets/shop.py), whose admin-creation bug the scenario catches.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from environments.models import Environment
from qa.models import Finding, TestRun
from qa.worker import start_worker
from tests.e2e.pages import sign_in
from tests.factories import make_scenario
from tests.targets.shop import EMAIL, PASSWORD, Shop

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

PHONE = {"width": 390, "height": 844}
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-results" / "screenshots"
STEPS = [
    {
        "name": "Log in",
        "method": "POST",
        "target": "${API_BASE_URL}/login",
        "body": {"email": "${authEmail}", "password": "${authPassword}"},
        "expected_status": 200,
        "captures": [{"as": "token", "from": "$.data.token"}],
    },
    {"name": "Warm up", "method": "GET", "target": "/slow?seconds=1.5", "expected_status": 200},
    {
        "name": "Create an admin",
        "method": "POST",
        "target": "/users",
        "headers": {"Authorization": "Bearer ${token}"},
        "body": {"name": "Ada", "role": "admin"},
        "expected_status": 201,
        "expectations": [{"kind": "jsonpath", "path": "$.role", "equals": "admin"}],
    },
    {"name": "Health", "method": "GET", "target": "/health", "expected_status": 200},
]


@pytest.fixture
def shop():
    with Shop() as server:
        yield server


@pytest.fixture
def worker(live_server):
    pool = start_worker(threads=1, interval=0.1)
    yield pool
    pool.stop(timeout=30)


def shoot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


@pytest.mark.parametrize("viewport", [None, PHONE], ids=["desktop", "phone"])
def test_a_member_runs_a_scenario_watches_it_and_opens_its_finding(
    page, cast, shop, worker, js_errors, viewport
):
    if viewport:
        page.set_viewport_size(viewport)
    size = "phone" if viewport else "desktop"
    Environment.objects.create(
        project=cast.project,
        name="Staging",
        base_url=shop.url,
        api_base_url=f"{shop.url}/api",
        read_only=False,
        max_rps=None,
        auth_email=EMAIL,
        auth_password=PASSWORD,
    )
    make_scenario(cast.project, STEPS, name="Admins can be created", priority="high")
    sign_in(page, cast.member, f"/p/{cast.project.slug}/test-runs/")
    expect(page.get_by_text("No test runs yet.")).to_be_visible()
    page.get_by_label("Scenario", exact=True).select_option(label="Admins can be created")
    page.get_by_label("Environment", exact=True).select_option("Staging")
    page.get_by_role("button", name="Run", exact=True).click()

    run = TestRun.objects.get()
    page.wait_for_url(f"**/test-runs/{run.pk}/")

    progress = page.locator("#run")
    # It shows progress while it runs (the slow step holds it), then the verdict, without a reload.
    expect(page.get_by_text(re.compile(r"Running: [12] of 4 steps done"))).to_be_visible(timeout=15_000)
    expect(progress).to_have_attribute("aria-busy", "true")
    expect(progress).to_have_attribute("data-run-status", "failed", timeout=20_000)
    expect(progress).to_have_attribute("aria-busy", "false")
    expect(page.get_by_role("heading", name=f"Run #{run.pk} Failed")).to_be_visible()
    expect(page.locator("[data-step-status=passed]")).to_have_count(3)
    failed = page.locator("[data-step-status=failed]")
    expect(failed).to_contain_text('$.role should equal "admin", but it is "user".')
    failed.get_by_text("Request, response and checks").click()
    expect(failed.locator("pre").first).to_contain_text('"role": "admin"')
    expect(page.get_by_role("button", name="Re-run failed")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= page.viewport_size["width"]
    shoot(page, f"test-run-{size}")

    page.get_by_role("link", name=re.compile("Admins can be created › Create an admin")).click()
    finding = Finding.objects.get()
    page.wait_for_url(f"**/findings/{finding.pk}/")
    expect(page.get_by_text('$.role should equal "admin", but it is "user".', exact=True)).to_be_visible()
    expect(page.get_by_role("link", name=f"Run #{run.pk}")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= page.viewport_size["width"]
    shoot(page, f"finding-{size}")
    page.get_by_role("button", name="Mark fixed").click()
    expect(page.get_by_text("Marked fixed.")).to_be_visible()

    page.get_by_role("link", name="← Findings").click()
    expect(page.get_by_text("No open findings.")).to_be_visible()
    page.get_by_label("Status", exact=True).select_option("fixed")
    expect(page.locator(f"[data-finding='{finding.pk}']")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= page.viewport_size["width"]
    shoot(page, f"findings-{size}")
    page.goto(f"/p/{cast.project.slug}/test-runs/")
    shoot(page, f"test-runs-{size}")
    assert js_errors == []
