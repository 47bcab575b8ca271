import pytest
from datetime import timedelta
from django.utils import timezone
from tests.e2e.pages import sign_in
from tests.e2e.test_usage_console import fill_spend
from tests.factories import make_org, make_project, make_user
from tests.usage.calls import call

pytestmark = pytest.mark.e2e


def shoot(page, name, width):
    height = page.evaluate("document.documentElement.scrollHeight")
    page.screenshot(path=f"/tmp/shots/{name}-{width}.png", full_page=True)
    if width < 500:
        for n, y in enumerate(range(0, height, 1300)):
            page.screenshot(path=f"/tmp/shots/{name}-{width}-part{n}.png", full_page=True,
                            clip={"x": 0, "y": y, "width": width, "height": min(1300, height - y)})


@pytest.mark.parametrize("width", [1280, 390])
def test_shots(page, new_context, cast, width, settings):
    settings.QODEX_CAP_5H_USD = "5.00"
    projects = [cast.project]
    for org_name, names in [("Acme Corporation International", ["Checkout", "Billing and invoicing platform", "Search"]), ("Globex", ["Mobile app"])]:
        org = make_org(org_name)
        projects += [make_project(org, name) for name in names]
    fill_spend(projects)
    call(projects[2], timezone.now() - timedelta(minutes=3), cost="4.30")
    call(cast.project, timezone.now() - timedelta(minutes=3), cost="0.70")
    page.set_viewport_size({"width": width, "height": 900})
    staff = make_user("staff@qodex.test", is_staff=True)
    sign_in(page, staff, "/admin/")
    page.goto("/admin/#llm")
    shoot(page, "admin-llm", width)
    page.goto("/admin/#overview")
    shoot(page, "admin-overview", width)
    page.goto("/admin/#projects")
    shoot(page, "admin-projects", width)
    page.goto("/admin/?from=2026-01-10&to=2026-01-05#llm")
    page.screenshot(path=f"/tmp/shots/admin-llm-error-{width}.png")
    other = new_context(timezone_id="Europe/Berlin").new_page()
    other.set_viewport_size({"width": width, "height": 900})
    sign_in(other, cast.owner, f"/p/{cast.project.slug}/settings/usage/")
    other.reload()
    shoot(other, "project-usage", width)
    other.goto(f"/p/{cast.project.slug}/settings/usage/?period=90d")
    shoot(other, "project-usage-90d", width)
    other.goto(f"/p/{cast.project.slug}/settings/usage/?period=24h&funding=codex_pool")
    shoot(other, "project-usage-empty", width)
