"""On a phone (390 px wide) the sidebar folds away; the menu toggle brings back the project switcher."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from projects.roles import Role
from tests.factories import PASSWORD, add_member, make_org, make_project, make_user

pytestmark = pytest.mark.e2e

PHONE = {"width": 390, "height": 844}


def test_the_switcher_is_reachable_from_the_menu_toggle_and_navigates(page, js_errors):
    owner = make_user("mobile@example.com")
    org = make_org("Pocket", owner=owner)
    default = org.default_project
    app = make_project(org, "Mobile App")
    add_member(app, Role.OWNER, owner)

    page.set_viewport_size(PHONE)
    page.goto(f"/accounts/login/?next=/p/{default.slug}/")
    page.locator("input[name=username]").fill(owner.email)
    page.locator("input[name=password]").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(rf"/p/{default.slug}/$"))

    switcher = page.get_by_test_id("project-switcher")
    toggle = page.get_by_role("button", name="Menu")
    expect(switcher).to_be_hidden()
    expect(toggle).to_have_attribute("aria-expanded", "false")

    toggle.click()
    expect(toggle).to_have_attribute("aria-expanded", "true")
    expect(switcher).to_be_visible()
    switcher.locator("summary").click()
    target = switcher.get_by_role("menuitem").filter(has_text="Mobile App")
    expect(target).to_be_in_viewport()
    target.click()

    expect(page).to_have_url(re.compile(rf"/p/{app.slug}/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Mobile App")
    # A fresh page starts with the panel folded again, and nothing overflows the phone's width.
    expect(switcher).to_be_hidden()
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    assert js_errors == []
