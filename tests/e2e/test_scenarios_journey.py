"""The scenario editor in a real browser (issue 11): write a scenario step by step, add and move rows
with htmx without losing what was typed, save, then edit and export it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from playwright.sync_api import expect

from qa.models import Scenario
from tests.e2e.pages import sign_in
from tests.factories import make_org, make_user

pytestmark = pytest.mark.e2e


def test_write_a_scenario_with_the_steps_editor(page, js_errors):
    owner = make_user("scenario-owner@example.com")
    project = make_org("Shop", owner=owner).default_project
    sign_in(page, owner, f"/p/{project.slug}/scenarios/")
    expect(page.get_by_text("No scenarios yet.")).to_be_visible()
    page.get_by_role("link", name="New scenario").first.click()

    page.get_by_label("Name", exact=True).fill("Sign up and delete")
    page.get_by_label("Tags").fill("smoke, users")
    page.get_by_label("Step 1: name").fill("Create the user")
    page.locator("[name=steps-0-method]").select_option("POST")
    page.locator("[name=steps-0-target]").fill("${API_BASE_URL}/users")
    page.locator("[name=steps-0-expected_status]").fill("201")
    page.locator("#step-1 summary").click()
    page.locator("[name=steps-0-body]").fill('{"email": "${authEmail}"}')
    page.locator("[name=steps-0-captures]").fill("userId = $.id")
    page.locator("[name=steps-0-expectations]").fill("$.id exists")

    page.get_by_role("button", name="+ Add a step").click()  # htmx: only the editor comes back
    expect(page.locator("#step-2")).to_be_visible()
    expect(page.get_by_text("Unsaved changes")).to_be_visible()
    expect(page.locator("[name=steps-0-captures]")).to_have_value("userId = $.id")  # kept
    page.locator("[name=steps-1-method]").select_option("DELETE")
    page.locator("[name=steps-1-target]").fill("${API_BASE_URL}/users/${userId}")
    page.get_by_role("button", name="+ Add a step").click()
    expect(page.locator("#step-3")).to_be_visible()
    page.locator("[name=steps-2-name]").fill("Health first")
    page.locator("[name=steps-2-target]").fill("${API_BASE_URL}/health")
    page.get_by_role("button", name="Move step 3 up").click()
    expect(page.locator("[name=steps-1-name]")).to_have_value("Health first")
    page.get_by_role("button", name="Move step 2 up").click()
    expect(page.locator("[name=steps-0-name]")).to_have_value("Health first")

    page.get_by_role("button", name="Create scenario").click()
    page.wait_for_url(f"**/p/{project.slug}/scenarios/*/")
    expect(page.get_by_text("Created Sign up and delete.")).to_be_visible()
    scenario = Scenario.objects.get(project=project)
    assert [step["name"] for step in scenario.steps] == [
        "Health first",
        "Create the user",
        "DELETE ${API_BASE_URL}/users/${userId}",
    ]
    assert scenario.steps[1]["captures"] == [{"as": "userId", "from": "$.id"}]
    assert scenario.steps[2]["destructive"] is True
    assert scenario.tags == ["smoke", "users"]

    # A mistake is shown on its step and nothing is lost.
    page.locator("[name=steps-1-expected_status]").fill("2O1")
    page.get_by_role("button", name="Save changes").click()
    expect(page.locator("#step-2 .step-errors")).to_contain_text("Expected status must be an HTTP status")
    page.locator("[name=steps-1-expected_status]").fill("200")
    page.get_by_role("button", name="Remove step 1").click()
    expect(page.locator("#step-3")).to_have_count(0)
    page.get_by_role("button", name="Save changes").click()
    expect(page.get_by_text("Saved Sign up and delete.")).to_be_visible()
    scenario.refresh_from_db()
    assert [step["expected_status"] for step in scenario.steps] == [200, None]

    page.get_by_text("Export", exact=True).click()
    with page.expect_download() as download:
        page.get_by_role("menuitem", name="Qodex JSON").click()
    document = json.loads(Path(download.value.path()).read_text())
    assert document["scenarios"][0]["steps"] == scenario.steps
    assert js_errors == []
