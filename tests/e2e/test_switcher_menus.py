"""The sidebar and header dropdowns: shown whole above the page; Escape closes them wherever the focus is."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from environments.models import Environment
from tests.e2e.pages import sign_in
from tests.factories import make_org, make_project, make_user

pytestmark = pytest.mark.e2e

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}


@pytest.fixture
def owner_on_default_project(db):
    """An owner of two projects, looking at the default one (so its row shows both ✓ and "default")."""
    owner = make_user("menus@example.com")
    org = make_org("Menus", owner=owner)
    make_project(org, "Second project")
    Environment(project=org.default_project, name="Staging", base_url="https://staging.example.com").save()
    return owner, org.default_project


def assert_shown_whole(page, locator, viewport) -> None:
    """Inside the window, and the topmost thing at its centre (not clipped, not painted over)."""
    box = locator.bounding_box()
    assert box is not None and box["width"] > 0
    assert box["x"] >= 0 and box["x"] + box["width"] <= viewport["width"], box
    assert box["y"] >= 0 and box["y"] + box["height"] <= viewport["height"], box
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    on_top = locator.evaluate("(el, [x, y]) => el.contains(document.elementFromPoint(x, y))", [x, y])
    assert on_top, f"something covers {locator} at ({x}, {y})"


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["1280px", "390px"])
def test_the_project_menu_shows_its_check_mark_and_default_tag_in_full(
    page, owner_on_default_project, viewport, js_errors
):
    owner, project = owner_on_default_project
    page.set_viewport_size(viewport)
    sign_in(page, owner, f"/p/{project.slug}/settings/members/")
    if viewport["width"] < 800:
        page.get_by_role("button", name="Menu").click()
    switcher = page.get_by_test_id("project-switcher")
    switcher.locator("summary").click()
    current = switcher.locator("[role=menuitem][aria-current]")
    expect(current).to_contain_text(project.name)
    assert_shown_whole(page, current.locator(".switcher-check"), viewport)
    assert_shown_whole(page, current.locator(".switcher-tag"), viewport)
    assert_shown_whole(page, switcher.get_by_role("menuitem", name="Second project"), viewport)
    assert js_errors == []


@pytest.mark.parametrize("test_id", ["project-switcher", "environment-switcher"])
def test_escape_closes_a_menu_and_returns_focus_to_its_button(page, owner_on_default_project, test_id):
    owner, project = owner_on_default_project
    sign_in(page, owner, f"/p/{project.slug}/")
    switcher = page.get_by_test_id(test_id)
    summary = switcher.locator("summary")
    menu = switcher.locator(".switcher-menu")

    # Focus on a menu item (reached with the arrow keys).
    summary.click()
    page.keyboard.press("ArrowDown")
    expect(switcher.get_by_role("menuitem").first).to_be_focused()
    page.keyboard.press("Escape")
    expect(menu).to_be_hidden()
    expect(summary).to_be_focused()

    # Focus nowhere in particular: a click on the menu's group label leaves it on the page's body.
    summary.click()
    switcher.locator(".switcher-group").first.click()
    assert page.evaluate("document.activeElement === document.body")
    page.keyboard.press("Escape")
    expect(menu).to_be_hidden()
    expect(summary).to_be_focused()
