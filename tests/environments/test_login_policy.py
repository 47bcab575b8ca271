"""Test login and capture login under the outbound policy (SPEC §6, §11): malformed URLs answer a clear
result, never an exception; private targets and every redirect hop are checked; nothing leaks a secret."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from environments.login import capture_ui_login, check_api_login
from environments.models import Environment
from qodex.chromium import CHROMIUM_PATH
from qodex.crypto import MASK
from tests.environments.login_site import LOGIN_PAGE, PASSWORD, SIGN_IN
from tests.environments.pages import urls

SETTING = "QODEX_ALLOW_PRIVATE_TARGETS"
PRIVATE = f"Qodex only sends requests to public addresses unless the server setting {SETTING} is on."
METADATA_URL = "http://169.254.169.254/latest/meta-data/iam/security-credentials/"
METADATA = (
    "“169.254.169.254” is a cloud metadata address: Qodex never sends requests there, whatever the settings."
)
NOT_FULL = "is not a full http:// or https:// URL, such as https://staging.example.com."
CANT_USE = "The login URL can’t be used:"

needs_chromium = pytest.mark.skipif(
    not Path(CHROMIUM_PATH).exists(), reason=f"needs Chromium at {CHROMIUM_PATH}"
)


@pytest.fixture
def private_targets_refused(settings):
    settings.QODEX_ALLOW_PRIVATE_TARGETS = False


@pytest.fixture
def api_login(make_environment, http_target):
    """`api_login(url)`: an API-login environment whose login request goes to `url` (variables allowed)."""

    def _make(url: str = "${baseUrl}/api/login", **fields) -> Environment:
        return make_environment(
            name="Api",
            base_url=http_target.url,
            auth_type=Environment.AuthType.API_LOGIN,
            api_login_config={
                "method": "POST",
                "url": url,
                "body": {"email": "${authEmail}", "password": "${authPassword}"},
                "token_path": "$.token",
                **fields,
            },
            auth_email="qa@acme.test",
            auth_password=PASSWORD,
        )

    return _make


def debug_on_every_logger(caplog) -> None:
    caplog.set_level(logging.DEBUG)
    for name in list(logging.root.manager.loggerDict):
        caplog.set_level(logging.DEBUG, logger=name)


# --- Test login ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://[::1/x", "is not a valid URL: its IPv6 host is missing a bracket."),
        ("http://127.0.0.1:abc/", "has a port that isn't a number from 1 to 65535."),
        ("http://127.0.0.1:99999/", "has a port that isn't a number from 1 to 65535."),
        ("file:///etc/passwd", NOT_FULL),
    ],
)
def test_a_malformed_login_url_answers_a_clear_error(api_login, http_target, url, why):
    result = check_api_login(api_login(url))
    assert (result.ok, result.error) == (False, f"{CANT_USE} “{url}” {why}")
    assert http_target.requests == []


def test_a_password_in_the_port_is_masked_in_the_error(api_login):
    result = check_api_login(api_login("http://127.0.0.1:${authPassword}/login"))
    assert (
        result.error
        == f"{CANT_USE} “http://127.0.0.1:{MASK}/login” has a port that isn't a number from 1 to 65535."
    )
    assert PASSWORD not in result.error


def test_the_test_login_page_with_a_password_in_the_port_answers_without_leaking_it(
    cast, login, api_login, caplog
):
    environment = api_login("http://127.0.0.1:${authPassword}/")
    debug_on_every_logger(caplog)
    client = login(cast.member)
    client.raise_request_exception = False  # a 500 must show as one, with what it logged

    response = client.post(urls(environment)["test_login"], HTTP_HX_REQUEST="true")

    html = response.content.decode()
    assert response.status_code == 200
    assert "Login failed." in html
    assert f"“http://127.0.0.1:{MASK}/” has a port that isn" in html
    assert PASSWORD not in html
    assert PASSWORD not in caplog.text
    assert all(PASSWORD not in str(record.args) for record in caplog.records)


def test_with_private_targets_off_the_login_is_refused_and_the_target_receives_nothing(
    private_targets_refused, api_login, http_target
):
    http_target.route("POST", "/api/login", body={"token": "tok-1"})
    result = check_api_login(api_login())
    assert result.error == f"{CANT_USE} “127.0.0.1” is a loopback address. {PRIVATE}"
    assert http_target.requests == []


def test_a_redirect_to_a_metadata_address_is_refused_on_the_hop(api_login, http_target):
    http_target.route("POST", "/api/login", status=307, headers={"Location": METADATA_URL})
    result = check_api_login(api_login(), timeout=5)
    assert result.error == f"The login endpoint redirected to {METADATA_URL}: {METADATA}"
    assert [request.path for request in http_target.requests] == ["/api/login"]


def test_a_redirect_to_another_scheme_is_refused(api_login, http_target):
    http_target.route("POST", "/api/login", status=302, headers={"Location": "gopher://127.0.0.1:70/x"})
    result = check_api_login(api_login(), timeout=5)
    assert result.error == (
        "The login endpoint redirected to gopher://127.0.0.1:70/x: “gopher://127.0.0.1:70/x” " + NOT_FULL
    )


def test_a_redirect_to_a_malformed_location_answers_a_clear_error(api_login, http_target):
    http_target.route("POST", "/api/login", status=302, headers={"Location": "http://[::1/x"})
    result = check_api_login(api_login(), timeout=5)
    where = http_target.url.removeprefix("http://")
    assert result.error.startswith(f"The login request to {where} failed: Invalid URL in location header")


def test_an_allowed_redirect_is_followed(api_login, http_target):
    http_target.route("POST", "/api/login", status=307, headers={"Location": "/api/v2/login"})
    http_target.route("POST", "/api/v2/login", body={"token": "tok-after-redirect"})
    result = check_api_login(api_login())
    assert (result.ok, result.token) == (True, "tok-after-redirect")


def test_a_header_that_is_not_ascii_answers_a_clear_error(api_login, http_target):
    result = check_api_login(api_login(headers={"X-Tenant": "Zürich"}))
    assert result.error == "A login header holds a character HTTP headers can’t carry: use ASCII only."
    assert http_target.requests == []


# --- Capture login -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/hostname",
        "data:text/html,<form>",
        "javascript:alert(document.cookie)",
        "chrome://settings",
        "about:blank",
        "view-source:http://127.0.0.1/",
    ],
)
def test_a_goto_step_that_is_not_http_is_refused_before_chromium_opens_it(ui_environment, login_site, url):
    result = capture_ui_login(ui_environment([{"action": "goto", "url": url}, *SIGN_IN[1:]]))
    assert (result.ok, result.failed_step) == (False, 1)
    assert result.error == f"Step 1 (goto {url}) can’t run: “{url}” {NOT_FULL}"
    assert login_site.requests == []


def test_a_goto_step_with_a_password_in_its_port_is_refused_with_the_password_masked(ui_environment):
    result = capture_ui_login(
        ui_environment([{"action": "goto", "url": "http://127.0.0.1:${authPassword}/"}])
    )
    assert result.error == (
        f"Step 1 (goto http://127.0.0.1:{MASK}/) can’t run: "
        f"“http://127.0.0.1:{MASK}/” has a port that isn't a number from 1 to 65535."
    )


def test_a_wait_for_url_step_may_be_a_pattern_but_not_another_scheme(ui_environment, login_site):
    steps = [*SIGN_IN[:4], {"action": "wait_for_url", "url": "file:///**"}]
    result = capture_ui_login(ui_environment(steps))
    assert result.failed_step == 5
    assert result.error == f"Step 5 (wait_for_url file:///**) can’t run: “file:///**” {NOT_FULL}"
    assert login_site.requests == []


def test_with_private_targets_off_the_capture_is_refused_before_chromium_starts(
    private_targets_refused, ui_environment, login_site
):
    result = capture_ui_login(ui_environment(SIGN_IN))
    assert result.failed_step == 1
    assert result.error == (
        f"Step 1 (goto {login_site.url}/login) can’t run: “127.0.0.1” is a loopback address. {PRIVATE}"
    )
    assert login_site.requests == []


@needs_chromium
@pytest.mark.e2e
def test_a_capture_redirected_to_a_metadata_address_stops_on_that_hop(ui_environment, login_site):
    login_site.route("GET", "/login", status=302, headers={"Location": METADATA_URL})
    environment = ui_environment(SIGN_IN)

    result = capture_ui_login(environment, step_timeout=5)

    assert result.failed_step == 1
    assert result.error == (
        f"Step 1 (goto {login_site.url}/login) was stopped: "
        f"the browser asked for {METADATA_URL}, and {METADATA}"
    )
    assert Environment.objects.get(pk=environment.pk).ui_storage_state == ""


@needs_chromium
@pytest.mark.e2e
@pytest.mark.parametrize("source", [METADATA_URL, "/pixel"], ids=["directly", "through a redirect"])
def test_a_page_asking_for_a_metadata_address_stops_the_capture(ui_environment, login_site, source):
    page = LOGIN_PAGE + f'<img src="{source}" alt="">'
    login_site.route("GET", "/login", body=page, headers={"Content-Type": "text/html"})
    login_site.route("GET", "/pixel", status=302, headers={"Location": METADATA_URL})

    result = capture_ui_login(ui_environment(SIGN_IN), step_timeout=5)

    assert result.failed_step == 1
    assert result.error.endswith(f"was stopped: the browser asked for {METADATA_URL}, and {METADATA}")


@needs_chromium
@pytest.mark.e2e
def test_a_capture_still_works_under_the_guard_with_subresources_and_redirects(ui_environment, login_site):
    page = (
        LOGIN_PAGE + '<img src="/pixel" alt=""><img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=" alt="">'
    )
    login_site.route("GET", "/login", body=page, headers={"Content-Type": "text/html"})
    login_site.route("GET", "/pixel", status=302, headers={"Location": "/pixel.gif"})
    login_site.route("GET", "/pixel.gif", body=b"GIF89a", headers={"Content-Type": "image/gif"})

    result = capture_ui_login(ui_environment(SIGN_IN), step_timeout=10)

    assert result.ok, result.error
    assert {"/pixel", "/pixel.gif", "/dashboard"} <= {request.path for request in login_site.requests}


@needs_chromium
@pytest.mark.e2e
def test_a_capture_error_masks_the_password_as_the_browser_encodes_it(make_environment, login_site):
    secret = 'p@ss "wörd"/&<é>+1'
    environment = make_environment(
        name="Ui",
        base_url=login_site.url,
        auth_type=Environment.AuthType.UI_LOGIN,
        auth_password=secret,
        ui_login_steps=[
            {"action": "goto", "url": "${baseUrl}/login?token=${authPassword}"},
            {"action": "wait_for_selector", "selector": "#never-there"},
        ],
    )

    result = capture_ui_login(environment, step_timeout=1)

    assert result.failed_step == 2
    assert result.error.startswith("Step 2 (wait_for_selector “#never-there”) timed out after 1s")
    assert result.error.endswith(f"the browser was at {login_site.url}/login?token={MASK}.")
    assert "w%C3%B6rd" not in result.error and "wörd" not in result.error
    assert json.dumps(secret)[1:-1] not in result.error
