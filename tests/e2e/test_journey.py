"""The first journey (SPEC §4): sign up, verify from the email, land in the default project, create a
second project, switch between them with the switcher, invite a member who then joins."""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

import pytest
from playwright.sync_api import expect

from accounts.models import User
from projects.models import Project, ProjectMember

pytestmark = pytest.mark.e2e

PASSWORD = "a-long-journey-password"
OVERVIEW = re.compile(r"/p/([a-z0-9-]+)/$")  # also evaluated by the browser: no (?P<…>)


def link_from(message, path_prefix: str, live_server_url: str) -> str:
    """The first link in an email's text body under `path_prefix`, pointed at the live server."""
    match = re.search(rf"https?://[^\s\"'<>]+{re.escape(path_prefix)}[^\s\"'<>]+", message.body)
    assert match, f"no {path_prefix} link in:\n{message.body}"
    server = urlsplit(live_server_url)
    return urlunsplit(urlsplit(match.group(0))._replace(scheme=server.scheme, netloc=server.netloc))


def current_slug(page) -> str:
    return OVERVIEW.search(urlsplit(page.url).path).group(1)


def switch_to(page, name: str) -> None:
    """Open the project switcher and pick `name`."""
    switcher = page.get_by_test_id("project-switcher")
    switcher.locator("summary").click()
    switcher.get_by_role("menuitem").filter(has_text=name).click()


def test_sign_up_verify_create_switch_and_invite(page, new_context, live_server, mailoutbox, js_errors):
    email = "ada@example.com"

    # Sign up: the account exists but only sees "check your email" until it is verified.
    page.goto("/accounts/signup/")
    page.locator("input[name=email]").fill(email)
    page.locator("input[name=password]").fill(PASSWORD)
    page.get_by_role("button", name="Sign up").click()
    expect(page).to_have_url(re.compile(r"/accounts/check-email/$"))
    expect(page.get_by_role("heading", name="Check your email")).to_be_visible()
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/accounts/check-email/$"))

    # The verification link from the email lands in the new default project.
    assert [m.to for m in mailoutbox] == [[email]]
    page.goto(link_from(mailoutbox[0], "/accounts/verify/", live_server.url))
    expect(page).to_have_url(OVERVIEW)
    default_slug = current_slug(page)
    expect(page.get_by_role("heading", level=1)).to_have_text("Default")
    switcher = page.get_by_test_id("project-switcher")
    expect(switcher.locator("summary")).to_contain_text("Default")
    user = User.objects.get(email=email)
    assert user.is_verified

    # A second project, created from the switcher's "New project".
    switcher.locator("summary").click()
    switcher.get_by_role("menuitem").filter(has_text="New project").click()
    expect(page).to_have_url(re.compile(r"/projects/new/\?organization=\d+$"))
    page.locator("input[name=name]").fill("Checkout API")
    page.get_by_role("button", name="Create project").click()
    expect(page).to_have_url(OVERVIEW)
    checkout_slug = current_slug(page)
    assert checkout_slug != default_slug
    expect(page.get_by_role("heading", level=1)).to_have_text("Checkout API")
    expect(page.get_by_role("status")).to_contain_text("Created Checkout API in ")
    checkout = Project.objects.get(slug=checkout_slug)
    assert checkout.organization == Project.objects.get(slug=default_slug).organization
    assert ProjectMember.objects.get(project=checkout, user=user).role == "owner"

    # The switcher lists both projects, marks the current one, and moves between them.
    switcher.locator("summary").click()
    items = switcher.get_by_role("menuitem")
    expect(items.filter(has_text="Checkout API")).to_have_attribute("aria-current", "true")
    expect(items.filter(has_text="Default")).not_to_have_attribute("aria-current", "true")
    items.filter(has_text="Default").click()
    expect(page).to_have_url(re.compile(rf"/p/{default_slug}/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Default")
    switch_to(page, "Checkout API")
    expect(page).to_have_url(re.compile(rf"/p/{checkout_slug}/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Checkout API")

    # Invite a teammate to Checkout API as admin.
    page.get_by_role("link", name="Manage members").click()
    expect(page).to_have_url(re.compile(rf"/p/{checkout_slug}/settings/members/$"))
    invite = page.locator("form:has(input[name=action][value=invite])")
    invite.locator("input[name=email]").fill("grace@example.com")
    invite.locator("select[name=role]").select_option("admin")
    invite.get_by_role("button", name="Send invitation").click()
    expect(page.get_by_role("status")).to_contain_text("Invitation sent to grace@example.com.")
    expect(page.locator('[data-invitation="grace@example.com"]')).to_contain_text("Admin")
    invitation_email = mailoutbox[-1]
    assert invitation_email.to == ["grace@example.com"]

    # The teammate, in a browser of their own, follows the link, signs up and lands in the project.
    teammate = new_context().new_page()
    teammate.on("pageerror", lambda error: js_errors.append(error))
    teammate.goto(link_from(invitation_email, "/invitations/", live_server.url))
    expect(teammate.get_by_role("heading", level=1)).to_have_text("Join Checkout API")
    teammate.get_by_role("link", name="Create an account to join").click()
    expect(teammate.locator("input[name=email]")).to_have_value("grace@example.com")
    teammate.locator("input[name=password]").fill(PASSWORD)
    teammate.get_by_role("button", name="Sign up").click()
    expect(teammate).to_have_url(re.compile(rf"/p/{checkout_slug}/$"))
    expect(teammate.get_by_role("heading", level=1)).to_have_text("Checkout API")
    teammate_switcher = teammate.get_by_test_id("project-switcher")
    teammate_switcher.locator("summary").click()
    # Only the project they were invited to: nothing else of Ada's organization shows.
    expect(teammate_switcher.get_by_role("menuitem").filter(has_text="Checkout API")).to_be_visible()
    expect(teammate_switcher.get_by_role("menuitem").filter(has_text="Default")).to_have_count(0)
    grace = User.objects.get(email="grace@example.com")
    assert ProjectMember.objects.get(project=checkout, user=grace).role == "admin"

    # Ada sees Grace among the members, and the invitation is no longer pending.
    page.reload()
    expect(page.locator('[data-member="grace@example.com"]')).to_be_visible()
    expect(page.locator('[data-invitation="grace@example.com"]')).to_have_count(0)

    assert js_errors == []
