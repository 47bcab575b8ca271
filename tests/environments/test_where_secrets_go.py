"""SPEC §6 "Where secrets go is a secret too": pointing the stored secrets somewhere else needs sudo mode
on the page and the API alike; a login can't be saved without the secret it sends; typed secrets survive
a failed submission only in its own response."""

from __future__ import annotations

import pytest

from environments.models import Environment
from projects.models import ApiKey, AuditEvent
from tests.api.conftest import ApiClient
from tests.environments.pages import PASSWORD, TOKEN, form_data, set_sudo, urls, with_secrets

LOGIN = {
    "method": "POST",
    "url": "${loginHost}/login",
    "headers": {},
    "body": {"email": "${authEmail}", "password": "${authPassword}"},
    "token_path": "$.token",
}


def api_login_environment(make_environment) -> Environment:
    return make_environment(
        auth_type=Environment.AuthType.API_LOGIN,
        auth_email="qa@acme.test",
        auth_password=PASSWORD,
        api_login_config=LOGIN,
        variables={"loginHost": ("https://staging.acme.test", False)},
    )


def events(action: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action))


@pytest.mark.parametrize(
    "change",
    [
        {"base_url": "https://attacker.example"},
        {"api_base_url": "https://attacker.example"},
        {"auth_header_name": "X-Leak"},
    ],
)
def test_moving_where_the_secrets_go_needs_sudo_on_the_page(cast, login, make_environment, change):
    environment = with_secrets(make_environment)
    client = login(cast.member)
    set_sudo(client, False)
    response = client.post(urls(environment)["detail"], form_data(environment, **change))
    assert response["Location"].startswith("/accounts/confirm-password/")
    fresh = Environment.objects.get(pk=environment.pk)
    assert all(getattr(fresh, name) != value for name, value in change.items())
    assert not AuditEvent.objects.exists()


def test_a_login_url_pointed_elsewhere_needs_sudo_over_the_api_too(cast, client, make_environment):
    environment = api_login_environment(make_environment)
    client.force_login(cast.member)
    set_sudo(client, False)
    url = f"/api/v1/p/{cast.project.slug}/environments/{environment.pk}"
    moved = {**LOGIN, "url": "https://attacker.example/collect"}
    response = ApiClient(client=client).patch(url, json={"api_login_config": moved})
    assert (response.status_code, response.json()["error"]["code"]) == (403, "sudo_required")
    assert Environment.objects.get(pk=environment.pk).api_login_config == LOGIN
    set_sudo(client, True)
    assert ApiClient(client=client).patch(url, json={"api_login_config": moved}).status_code == 200
    (event,) = events("environment.secret_replaced")
    assert event.details == {"secrets": [], "destinations": ["api_login_config"]}


def test_a_plain_variable_a_login_url_uses_is_a_destination_too(cast, client, make_environment):
    environment = api_login_environment(make_environment)
    client.force_login(cast.member)
    set_sudo(client, False)
    url = f"/api/v1/p/{cast.project.slug}/environments/{environment.pk}"
    response = ApiClient(client=client).patch(
        url, json={"variables": {"loginHost": {"value": "https://attacker.example"}}}
    )
    assert (response.status_code, response.json()["error"]["code"]) == (403, "sudo_required")
    assert (
        Environment.objects.get(pk=environment.pk).get_variables()["loginHost"] == "https://staging.acme.test"
    )


def test_keys_are_exempt_from_sudo_as_for_secrets(cast, make_environment):
    environment = with_secrets(make_environment)
    _, raw = ApiClient, ApiKey.issue(organization=cast.org, project=cast.project, name="ci", scope="write")[1]
    url = f"/api/v1/p/{cast.project.slug}/environments/{environment.pk}"
    assert ApiClient(raw).patch(url, json={"base_url": "https://elsewhere.acme.test"}).status_code == 200


def test_an_environment_without_secrets_moves_freely(cast, login, make_environment):
    environment = make_environment()
    client = login(cast.member)
    set_sudo(client, False)
    response = client.post(
        urls(environment)["detail"], form_data(environment, base_url="https://new.acme.test")
    )
    assert response.status_code == 302 and "confirm-password" not in response["Location"]
    assert Environment.objects.get(pk=environment.pk).base_url == "https://new.acme.test"
    assert not events("environment.secret_replaced")


def test_a_static_token_environment_needs_its_token(cast, login, make_environment):
    client = login(cast.member)
    data = form_data(None, name="Prod", base_url="https://acme.test", auth_type="static_token")
    response = client.post(urls(make_environment())["new"], data)
    assert response.status_code == 400
    assert "Enter the token to send" in response.content.decode()
    assert not Environment.objects.filter(name="Prod").exists()
    api = ApiClient(client=client)
    response = api.post(
        f"/api/v1/p/{cast.project.slug}/environments",
        json={"name": "Prod", "base_url": "https://acme.test", "auth_type": "static_token"},
    )
    assert response.status_code == 422
    assert "auth_token" in response.json()["error"]["fields"]


def test_a_login_that_sends_the_password_needs_one(cast, client, make_environment):
    client.force_login(cast.member)
    response = ApiClient(client=client).post(
        f"/api/v1/p/{cast.project.slug}/environments",
        json={
            "name": "Login",
            "base_url": "https://acme.test",
            "auth_type": "api_login",
            "api_login_config": {**LOGIN, "url": "${apiBaseUrl}/login"},
        },
    )
    assert response.status_code == 422
    assert response.json()["error"]["fields"]["auth_password"] == [
        "The login uses ${authPassword}: enter the password it sends."
    ]
    assert not Environment.objects.filter(name="Login").exists()


def test_what_was_typed_comes_back_only_in_the_failed_response(cast, login, make_environment):
    client = login(cast.member)
    typed = "tok-typed-by-me-1234567"
    data = form_data(None, name="", base_url="https://acme.test", auth_type="static_token", auth_token=typed)
    data.update({"var-0-name": "apiKey", "var-0-value": "typed-secret-value-99", "var-0-secret": "on"})
    failed = client.post(urls(make_environment())["new"], data)
    assert failed.status_code == 400
    body = failed.content.decode()
    assert typed in body and "typed-secret-value-99" in body  # kept for the person who typed it
    assert typed not in client.get(urls(make_environment(name="Other"))["new"]).content.decode()


def test_the_token_is_kept_and_never_shown_once_stored(cast, login, make_environment):
    environment = with_secrets(make_environment)
    html = login(cast.member).get(urls(environment)["detail"]).content.decode()
    assert TOKEN not in html and PASSWORD not in html
