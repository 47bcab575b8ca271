"""The environments journey (issue 3, SPEC §6): create an environment from a preset, test its API login
against a real login server on 127.0.0.1, and switch to it from the header."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from playwright.sync_api import expect

from environments.models import Environment
from projects.models import AuditEvent, ProjectMember
from tests.factories import PASSWORD, make_org, make_user

pytestmark = pytest.mark.e2e

TARGET_PASSWORD = "target-app-password-31"
TOKEN = "tok-from-the-target-9f8e"


class LoginHandler(BaseHTTPRequestHandler):
    """POST /login with the right JSON credentials answers {"data": {"token": …}}; anything else 401."""

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            credentials = json.loads(body)
        except ValueError:
            credentials = None
        good = self.path == "/login" and credentials == {"email": "qa@shop.test", "password": TARGET_PASSWORD}
        payload = json.dumps({"data": {"token": TOKEN}} if good else {"error": "bad credentials"}).encode()
        self.send_response(200 if good else 401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format, *args) -> None:
        pass


@pytest.fixture
def login_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), LoginHandler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def test_create_from_a_preset_test_its_login_and_switch_to_it(page, login_server, js_errors):
    owner = make_user("env-owner@example.com")
    project = make_org("Shop", owner=owner).default_project
    page.goto(f"/accounts/login/?next=/p/{project.slug}/settings/environments/")
    page.locator("input[name=username]").fill(owner.email)
    page.locator("input[name=password]").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Environments")
    switcher = page.get_by_test_id("environment-switcher")
    expect(switcher).to_contain_text("None yet")

    # Create from the staging preset: its constraints fill in, and what was typed stays.
    page.get_by_role("link", name="New environment").first.click()
    expect(page.locator("input[name=max_rps]")).to_have_value("5")  # production, the safe default
    expect(page.locator("input[name=read_only]")).to_be_checked()
    page.locator("input[name=name]").fill("Staging")
    page.get_by_role("link", name=re.compile("^Staging")).click()
    expect(page).to_have_url(re.compile(r"/new/\?preset=staging$"))
    expect(page.locator("input[name=max_rps]")).to_have_value("20")
    expect(page.locator("input[name=allow_destructive]")).to_be_checked()
    expect(page.locator("input[name=read_only]")).not_to_be_checked()
    expect(page.locator("input[name=name]")).to_have_value("Staging")
    page.locator("input[name=base_url]").fill(login_server)
    api_login = page.locator(".auth-group[data-auth=api_login]")
    expect(api_login).to_be_hidden()  # only the chosen authentication's settings show
    page.locator("select[name=auth_type]").select_option("api_login")
    expect(api_login).to_be_visible()
    # The login request starts from the example, which already posts ${authEmail}/${authPassword}.
    expect(page.locator("textarea[name=api_login_config]")).to_contain_text("${apiBaseUrl}/login")
    page.locator("input[name=auth_email]").fill("qa@shop.test")
    page.locator("input[name=auth_password]").fill(TARGET_PASSWORD)
    page.get_by_role("button", name="Create environment").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Staging")
    expect(page.get_by_role("status").first).to_contain_text("Created Staging.")
    environment = Environment.objects.get(project=project)
    assert (environment.read_only, environment.max_rps, environment.allow_destructive) == (False, 20, True)
    assert environment.auth_password == TARGET_PASSWORD
    assert AuditEvent.objects.get(action="environment.created").details["preset"] == "staging"

    # Test login: the real request, the token masked in place.
    page.get_by_role("button", name="Test login").click()
    result = page.locator("#login-result")
    expect(result).to_contain_text("Login works.")
    expect(result).to_contain_text("••••9f8e")
    expect(result).not_to_contain_text(TOKEN)

    # A wrong password says exactly why, in place.
    environment.auth_password = "not-the-password"
    environment.save()
    page.get_by_role("button", name="Test login").click()
    expect(result).to_contain_text("Login failed.")
    expect(result).to_contain_text("HTTP 401 Unauthorized")

    # Switch to it from the header, on the overview: the header and the card follow without a reload.
    page.get_by_role("link", name="Overview").click()
    card = page.get_by_test_id("active-environment")
    expect(card).to_contain_text("None")
    switcher.locator("summary").click()
    switcher.get_by_role("menuitem").filter(has_text="Staging").click()
    expect(switcher.locator("summary")).to_contain_text("Staging")
    expect(switcher.locator("summary")).to_contain_text("20 rps")
    expect(switcher.locator("summary")).to_contain_text("destructive on")
    expect(card).to_contain_text("Staging")
    expect(card).to_contain_text("security off")
    membership = ProjectMember.objects.get(project=project, user=owner)
    assert membership.active_environment_id == environment.pk

    # Remembered: a fresh page load still shows it.
    page.reload()
    expect(switcher.locator("summary")).to_contain_text("Staging")
    assert js_errors == []
