"""Long names and URLs people type (a 100-character environment name, a 500-character base URL) never
widen a page: they wrap, or are cut with an ellipsis and a `title` holding the full text."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from environments.models import Environment
from projects import audit
from projects.access import Actor
from projects.models import ApiKey, ProjectMember
from projects.roles import Role
from tests.e2e.pages import sign_in
from tests.factories import add_member, make_org, make_project, make_user

pytestmark = pytest.mark.e2e

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}
# No spaces anywhere: the worst case for wrapping.
LONG_NAME = ("production-eu-west-1-" * 5)[:100]
LONG_URL = ("https://staging.example.com/" + "segment/" * 70)[:500]
LONG_PROJECT = ("checkout-and-payments-" * 5)[:100]
LONG_EMAIL = "q" * 60 + "@" + "very-long-subdomain." * 5 + "example.com"


@pytest.fixture
def long_values(db):
    """A project whose every user-provided name or URL is as long as the forms allow."""
    owner = make_user(LONG_EMAIL, name="Olivia " + "O" * 140, is_staff=True)
    org = make_org("Organization-" + "o" * 87, owner=owner)
    project = org.default_project
    project.name = LONG_PROJECT
    project.save(update_fields=["name"])
    make_project(org, LONG_PROJECT[:-1] + "2")
    environment = Environment(
        project=project,
        name=LONG_NAME,
        base_url=LONG_URL,
        api_base_url=LONG_URL,
        auth_type=Environment.AuthType.API_LOGIN,
        auth_email=LONG_EMAIL,
        updated_by=owner,
    )
    environment.save()
    Environment(project=project, name="Staging", base_url="https://staging.example.com").save()
    ProjectMember.objects.filter(project=project, user=owner).update(active_environment=environment)
    viewer = add_member(project, Role.VIEWER, make_user("v" * 60 + "@example.com", name="V" * 150))
    ApiKey.issue(organization=org, project=project, name="K" * 100, created_by=owner)
    audit.record(
        Actor(user=owner), "environment.created", project=project, target=LONG_NAME, details={"url": LONG_URL}
    )
    return owner, viewer, project, environment


def assert_fits(page, width: int) -> None:
    """Nothing is wider than the window, and no table hides columns in a sideways scroll."""
    assert page.evaluate("document.documentElement.scrollWidth") <= width, page.url
    tables = page.evaluate(
        "[...document.querySelectorAll('.table-wrap')].map(w => [w.scrollWidth, w.clientWidth])"
    )
    for scroll_width, client_width in tables:
        assert scroll_width <= client_width + 1, (page.url, scroll_width, client_width)


def open_menu(page, test_id: str, width: int) -> None:
    if test_id == "project-switcher" and width < 800:
        page.get_by_role("button", name="Menu").click()
    page.get_by_test_id(test_id).locator("summary").click()
    menu = page.get_by_test_id(test_id).locator(".switcher-menu")
    expect(menu).to_be_visible()
    box = menu.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= width, (test_id, box)


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["1280px", "390px"])
def test_long_names_and_urls_never_widen_a_page(page, long_values, viewport, js_errors):
    owner, viewer, project, environment = long_values
    width = viewport["width"]
    base = f"/p/{project.slug}"
    env_path = f"{base}/settings/environments/{environment.pk}/"
    page.set_viewport_size(viewport)
    sign_in(page, owner, f"{base}/settings/environments/")

    assert_fits(page, width)
    row = page.locator(f"tr[data-environment='{LONG_NAME}']")
    expect(row.get_by_role("link", name=LONG_NAME)).to_have_attribute("title", LONG_NAME)
    expect(row.locator("code.url")).to_have_attribute("title", environment.base_url)
    # Every column stays on screen: the last one ("Updated") ends inside the window.
    updated = row.locator("td").last.bounding_box()
    assert updated["x"] + updated["width"] <= width

    for path in (
        f"{base}/",
        env_path,
        f"{env_path}delete/",
        f"{base}/settings/",
        f"{base}/settings/members/",
        f"{base}/settings/api-keys/",
        f"{base}/settings/audit/",
        "/admin/#projects",
        "/admin/#users",
    ):
        page.goto(path)
        assert_fits(page, width)

    page.goto(f"{base}/")
    expect(page.get_by_test_id("environment-switcher").locator(".env-switch-name")).to_have_attribute(
        "title", LONG_NAME
    )
    expect(page.get_by_test_id("project-switcher").locator(".switcher-name")).to_have_attribute(
        "title", LONG_PROJECT
    )
    open_menu(page, "environment-switcher", width)
    assert_fits(page, width)
    expect(
        page.get_by_test_id("environment-switcher").locator(f".env-option-name[title='{LONG_NAME}']")
    ).to_be_visible()
    page.keyboard.press("Escape")
    open_menu(page, "project-switcher", width)
    assert_fits(page, width)
    expect(
        page.get_by_test_id("project-switcher").locator(f"[role=menuitem] [title='{LONG_PROJECT}']")
    ).to_be_visible()
    assert js_errors == []


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["1280px", "390px"])
def test_a_viewer_reads_a_long_environment_without_sideways_scrolling(page, long_values, viewport):
    """Viewers get the environment as facts instead of a form: its URLs wrap there too."""
    owner, viewer, project, environment = long_values
    page.set_viewport_size(viewport)
    path = f"/p/{project.slug}/settings/environments/{environment.pk}/"
    sign_in(page, viewer, path)
    expect(page.get_by_role("heading", level=1)).to_have_text(LONG_NAME)
    assert_fits(page, viewport["width"])
    page.goto(f"/p/{project.slug}/settings/environments/")
    assert_fits(page, viewport["width"])
