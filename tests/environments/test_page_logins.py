"""“Test login” and “Capture login” on the environment page, against real servers on 127.0.0.1 (SPEC §6)."""

from __future__ import annotations

from pathlib import Path

import pytest

from environments.models import Environment
from projects.models import AuditEvent
from qodex.chromium import CHROMIUM_PATH
from tests.environments.login_site import PASSWORD, SIGN_IN
from tests.environments.pages import free_port, urls

ISSUED = "tok-issued-by-target-5e6f"
LOGIN_CONFIG = {
    "method": "POST",
    "url": "${apiBaseUrl}/api/login",
    "body": {"email": "${authEmail}", "password": "${authPassword}"},
    "token_path": "$.data.token",
}


@pytest.fixture
def api_environment(make_environment, http_target):
    def login(request):
        if request.json() == {"email": "qa@acme.test", "password": PASSWORD}:
            return 200, {}, {"data": {"token": ISSUED}}
        return 401, {}, {"error": "bad credentials"}

    http_target.route("POST", "/api/login", login)
    return make_environment(
        name="Api",
        base_url=http_target.url,
        auth_type=Environment.AuthType.API_LOGIN,
        api_login_config=LOGIN_CONFIG,
        auth_email="qa@acme.test",
        auth_password=PASSWORD,
    )


def test_a_working_login_shows_success_with_the_token_masked(cast, login, api_environment, http_target):
    client = login(cast.member)
    response = client.post(urls(api_environment)["test_login"], HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<div id="login-result"')
    assert "Login works." in html and "HTTP 200" in html and "<code>••••5e6f</code>" in html
    assert ISSUED not in html and PASSWORD not in html
    assert len(http_target.requests) == 1


def test_a_refused_login_says_exactly_why_on_the_page(cast, login, api_environment):
    api_environment.auth_password = "wrong-password-here"
    api_environment.save()
    response = login(cast.member).post(urls(api_environment)["test_login"])  # without htmx: the whole page
    html = response.content.decode()
    assert response.status_code == 200
    assert "<h1>Api</h1>" in html
    assert "Login failed." in html
    excerpt = "“{&quot;error&quot;: &quot;bad credentials&quot;}”"
    assert f"The login endpoint answered HTTP 401 Unauthorized: {excerpt}" in html
    assert "wrong-password-here" not in html


def test_an_unreachable_host_is_named(cast, login, make_environment):
    environment = make_environment(
        name="Down",
        base_url=f"http://127.0.0.1:{free_port()}",
        auth_type=Environment.AuthType.API_LOGIN,
        api_login_config=LOGIN_CONFIG,
    )
    html = login(cast.member).post(urls(environment)["test_login"], HTTP_HX_REQUEST="true").content.decode()
    assert "Connection refused by 127.0.0.1:" in html


def test_test_login_on_an_environment_without_api_login_says_so(cast, login, make_environment):
    environment = make_environment(name="Plain")
    html = login(cast.member).post(urls(environment)["test_login"], HTTP_HX_REQUEST="true").content.decode()
    assert "doesn’t use API login" in html


@pytest.mark.parametrize(
    ("role", "ok"), [("viewer", False), ("member", True), ("admin", True), ("owner", True)]
)
def test_row_test_and_capture_logins(cast, login, api_environment, role, ok):
    client = login(cast.user(role))
    response = client.post(urls(api_environment)["test_login"], HTTP_HX_REQUEST="true")
    assert response.status_code == (200 if ok else 403)
    assert ("Login works." in response.content.decode()) is ok
    response = client.post(urls(api_environment)["capture_login"], HTTP_HX_REQUEST="true")
    assert response.status_code == (200 if ok else 403)
    page = client.get(urls(api_environment)["detail"]).content.decode()
    assert ("Test login</button>" in page) is ok


# --- Capture login (real Chromium) ------------------------------------------------------------------------

needs_chromium = pytest.mark.skipif(
    not Path(CHROMIUM_PATH).exists(), reason=f"needs Chromium at {CHROMIUM_PATH}"
)


@needs_chromium
def test_capture_login_shows_the_captured_cookie_names(cast, login, ui_environment, login_site):
    environment = ui_environment(SIGN_IN)
    html = (
        login(cast.member).post(urls(environment)["capture_login"], HTTP_HX_REQUEST="true").content.decode()
    )
    assert html.lstrip().startswith('<div id="capture-result"')
    assert "Login captured." in html and "<code>session</code>" in html
    assert "Captured just now." in html
    assert "s3ss10n" not in html and PASSWORD not in html
    environment.refresh_from_db()
    assert environment.ui_storage_captured_at is not None
    (event,) = AuditEvent.objects.filter(action="environment.login_captured")
    assert event.details == {"cookies": ["session"], "origins": [login_site.url]}
    page = login(cast.viewer).get(urls(environment)["detail"]).content.decode()
    assert "Last captured" in page and "s3ss10n" not in page


@needs_chromium
def test_capture_login_names_the_failing_step(cast, login, ui_environment):
    port = free_port()
    steps = [*SIGN_IN[:2], {"action": "goto", "url": f"http://127.0.0.1:{port}/login"}, *SIGN_IN[2:]]
    environment = ui_environment(steps)
    response = login(cast.member).post(urls(environment)["capture_login"])  # without htmx: the whole page
    html = response.content.decode()
    assert response.status_code == 200
    assert "Step 3 failed." in html
    assert f"Connection refused by 127.0.0.1:{port}: nothing is listening there." in html
    assert "Not captured yet." in html
    environment.refresh_from_db()
    assert environment.ui_storage_state == ""
    assert not AuditEvent.objects.filter(action="environment.login_captured").exists()
