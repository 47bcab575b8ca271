"""check_api_login against a real HTTP server on 127.0.0.1 (SPEC §6): every failure says what happened."""

import socket

import pytest

from environments.login import api_login_token, check_api_login
from environments.models import Environment, cached_token

PASSWORD = "hunter2-correct-horse"


@pytest.fixture
def login_environment(make_environment, http_target):
    """An API-login environment pointed at the test server's POST /api/login."""

    def _make(**config) -> Environment:
        api_login_config = {
            "method": "POST",
            "url": "${apiBaseUrl}/api/login",
            "headers": {"X-Client": "qodex"},
            "body": {"email": "${authEmail}", "password": "${authPassword}"},
            "token_path": "$.data.token",
        }
        api_login_config.update(config)
        return make_environment(
            name="Api",
            base_url=http_target.url,
            auth_type=Environment.AuthType.API_LOGIN,
            api_login_config=api_login_config,
            auth_email="qa@acme.test",
            auth_password=PASSWORD,
        )

    return _make


def test_a_working_login_returns_the_token_and_caches_it(login_environment, http_target):
    def login(request):
        credentials = request.json()
        if credentials == {"email": "qa@acme.test", "password": PASSWORD}:
            return 200, {}, {"data": {"token": "tok-issued-login-5e6f"}}
        return 401, {}, {"error": "bad credentials"}

    http_target.route("POST", "/api/login", login)
    environment = login_environment()

    result = check_api_login(environment)

    assert result.ok, result.error
    assert (result.token, result.error, result.status_code) == ("tok-issued-login-5e6f", "", 200)
    assert result.masked_token == "••••5e6f"
    assert "tok-issued" not in repr(result)
    assert http_target.requests[0].headers["X-Client"] == "qodex"
    assert cached_token(environment) == "tok-issued-login-5e6f"


def test_the_runner_reuses_the_cached_token_without_logging_in_again(login_environment, http_target):
    http_target.route("POST", "/api/login", body={"data": {"token": "tok-issued-login-5e6f"}})
    environment = login_environment()
    assert api_login_token(environment).token == "tok-issued-login-5e6f"
    assert api_login_token(environment).token == "tok-issued-login-5e6f"
    assert len(http_target.requests) == 1

    environment.save()  # any edit forgets the token
    assert api_login_token(environment).ok
    assert len(http_target.requests) == 2


def test_a_refused_login_shows_the_status_and_an_excerpt_without_the_password(login_environment, http_target):
    http_target.route(
        "POST", "/api/login", status=401, body={"error": f"wrong password {PASSWORD} for qa@acme.test"}
    )
    result = check_api_login(login_environment())
    assert not result.ok
    assert result.status_code == 401
    assert result.error == (
        "The login endpoint answered HTTP 401 Unauthorized: "
        '“{"error": "wrong password •••• for qa@acme.test"}”.'
    )
    assert PASSWORD not in result.error
    assert result.token == ""


def test_a_long_error_body_is_cut_to_two_hundred_characters(login_environment, http_target):
    http_target.route("POST", "/api/login", status=500, body="x" * 5000)
    result = check_api_login(login_environment())
    excerpt = result.error.split("“")[1].rstrip("”.")
    assert len(excerpt) == 200
    assert excerpt.endswith("…")
    assert "HTTP 500 Internal Server Error" in result.error


def test_a_body_that_is_not_json_is_named_as_such(login_environment, http_target):
    http_target.route(
        "POST", "/api/login", body="<html><h1>Sign in</h1></html>", headers={"Content-Type": "text/html"}
    )
    result = check_api_login(login_environment())
    assert result.error == (
        "The login endpoint answered HTTP 200, but its body is not JSON (text/html): "
        "“<html><h1>Sign in</h1></html>”."
    )


def test_a_token_path_that_matches_nothing_lists_what_the_response_has(login_environment, http_target):
    http_target.route("POST", "/api/login", body={"access_token": "tok-1", "expires_in": 3600})
    environment = login_environment()
    result = check_api_login(environment)
    assert result.error == (
        "The token path $.data.token matched nothing in the response "
        "(its top-level keys are access_token, expires_in)."
    )
    assert cached_token(environment) is None


def test_a_token_that_is_not_text_is_refused(login_environment, http_target):
    environment = login_environment()
    http_target.route("POST", "/api/login", body={"data": {"token": 424242}})
    assert check_api_login(environment).error == "The token path $.data.token matched a number, not text."
    http_target.route("POST", "/api/login", body={"data": {"token": {"value": "x"}}})
    assert check_api_login(environment).error == "The token path $.data.token matched an object, not text."


def test_a_closed_port_is_reported_as_connection_refused_with_host_and_port(make_environment):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    environment = make_environment(
        name="Down",
        base_url=f"http://127.0.0.1:{port}",
        auth_type=Environment.AuthType.API_LOGIN,
        api_login_config={"method": "POST", "url": "${baseUrl}/login", "token_path": "$.token"},
    )
    result = check_api_login(environment)
    assert result.error == (
        f"Connection refused by 127.0.0.1:{port}: nothing is listening there. Is the app running?"
    )


def test_a_server_slower_than_the_timeout_is_reported_as_a_timeout(login_environment, http_target):
    http_target.route("POST", "/api/login", body={"data": {"token": "late"}}, delay=2)
    result = check_api_login(login_environment(), timeout=0.3)
    where = http_target.url.removeprefix("http://")
    assert result.error == f"{where} accepted the connection but sent no answer within 0.3s."


def test_unknown_variables_are_named_before_anything_is_sent(login_environment, http_target):
    environment = login_environment(url="${apiBaseUrl}/api/login?tenant=${tenant}&v=${apiVersion}")
    result = check_api_login(environment)
    assert result.error == (
        "The login request can’t be built. Unknown variables ${apiVersion}, ${tenant}: "
        "define them in the environment's variables."
    )
    assert http_target.requests == []


def test_a_url_that_is_not_absolute_once_rendered_is_explained(login_environment):
    result = check_api_login(login_environment(url="/api/login"))
    assert result.error == (
        "The login URL can’t be used: “/api/login” is not a full http:// or https:// URL, "
        "such as https://staging.example.com."
    )


def test_an_incomplete_config_is_reported_without_a_request(login_environment, http_target):
    environment = login_environment()
    environment.api_login_config = {"method": "POST", "url": "${apiBaseUrl}/api/login"}
    result = check_api_login(environment)
    assert result.error == "The API login config is incomplete: “token_path” is required."
    assert http_target.requests == []
