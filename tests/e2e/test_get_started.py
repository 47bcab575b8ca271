"""The overview's "Get started" follows the header switcher in place: choosing an environment ticks it."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from environments.models import Environment
from projects.roles import Role
from tests.factories import PASSWORD, add_member, make_org, make_user

pytestmark = pytest.mark.e2e


def test_choosing_an_environment_ticks_its_step_without_a_reload(page, js_errors):
    project = make_org("Ticks", owner=make_user("ticks-owner@example.com")).default_project
    viewer = add_member(project, Role.VIEWER, make_user("ticks-viewer@example.com"))
    Environment(project=project, name="Staging", base_url="https://staging.example.com").save()

    page.goto(f"/accounts/login/?next=/p/{project.slug}/")
    page.locator("input[name=username]").fill(viewer.email)
    page.locator("input[name=password]").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    step = page.locator("[data-step=active-environment]")
    expect(step).to_have_attribute("data-done", "false")
    page.evaluate("window.notReloaded = true")

    page.get_by_test_id("environment-switcher").locator("summary").click()
    page.get_by_role("menuitem", name="Staging").click()

    expect(step).to_have_attribute("data-done", "true")
    expect(step).to_contain_text("You work against Staging")
    assert page.evaluate("window.notReloaded === true")
    assert js_errors == []
