"""SPEC §3 rows for environments on the pages, and SPEC §6/§11: no secret in any page, export or log line."""

from __future__ import annotations

import logging

import pytest
from django.db import connections

from environments.models import Environment
from projects.models import AuditEvent
from tests.environments.pages import SECRETS, form_data, free_port, set_sudo, urls, with_secrets

ROLES = ["viewer", "member", "admin", "owner"]
WRITERS = [(role, role != "viewer") for role in ROLES]


@pytest.mark.parametrize("role", ROLES)
def test_row_read_every_environment_page(cast, login, make_environment, role):
    environment = with_secrets(make_environment)
    client = login(cast.user(role))
    for page in ("list", "detail", "export"):
        assert client.get(urls(environment)[page]).status_code == 200, page


@pytest.mark.parametrize(("role", "ok"), WRITERS)
def test_row_create_environments(cast, login, role, ok):
    client = login(cast.user(role))
    url = f"/p/{cast.project.slug}/settings/environments/new/"
    assert client.get(url).status_code == (200 if ok else 403)
    response = client.post(url, form_data(name="Created", base_url="https://acme.test"))
    assert response.status_code == (302 if ok else 403)
    assert Environment.objects.filter(name="Created").exists() is ok


@pytest.mark.parametrize(("role", "ok"), WRITERS)
def test_row_edit_environments(cast, login, make_environment, role, ok):
    environment = make_environment()
    response = login(cast.user(role)).post(urls(environment)["detail"], form_data(environment, name="Edited"))
    assert response.status_code == (302 if ok else 403)
    environment.refresh_from_db()
    assert (environment.name == "Edited") is ok


@pytest.mark.parametrize(("role", "ok"), WRITERS)
def test_row_delete_environments(cast, login, make_environment, role, ok):
    environment = make_environment()
    response = login(cast.user(role)).post(urls(environment)["delete"])
    assert response.status_code == (302 if ok else 403)
    assert Environment.objects.filter(pk=environment.pk).exists() is not ok


@pytest.mark.parametrize(("role", "ok"), WRITERS)
def test_row_import_environments(cast, login, make_environment, role, ok):
    exported = login(cast.owner).get(urls(make_environment(name="Source"))["export"]).content.decode()
    client = login(cast.user(role))
    response = client.post(
        urls(Environment.objects.get())["import"], {"action": "import", "document": exported}
    )
    assert response.status_code == (302 if ok else 403)
    assert Environment.objects.filter(name="Source (2)").exists() is ok


@pytest.mark.parametrize(("role", "ok"), WRITERS)
def test_row_replace_environment_secrets(cast, login, make_environment, role, ok):
    environment = with_secrets(make_environment)
    client = login(cast.user(role))
    set_sudo(client, True)
    response = client.post(
        urls(environment)["detail"], form_data(environment, auth_token="tok-new-value-1234")
    )
    assert response.status_code == (302 if ok else 403)
    environment.refresh_from_db()
    assert (environment.auth_token == "tok-new-value-1234") is ok
    assert AuditEvent.objects.filter(action="environment.secret_replaced").exists() is ok


@pytest.fixture
def everything_logged(caplog, monkeypatch):
    """Every logger at DEBUG, SQL included (Django logs queries only with a debug cursor)."""
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="django.db.backends")
    monkeypatch.setattr(connections["default"], "force_debug_cursor", True)
    return caplog


def test_no_secret_appears_in_any_page_export_fragment_or_log_line(
    cast, login, make_environment, everything_logged
):
    environment = with_secrets(make_environment, read_only=False)
    ui = with_secrets(
        make_environment,
        name="Ui",
        auth_type=Environment.AuthType.UI_LOGIN,
        ui_login_steps=[{"action": "goto", "url": "${baseUrl}/login"}],
    )
    api = with_secrets(
        make_environment,
        name="Api",
        base_url=f"http://127.0.0.1:{free_port()}",
        auth_type=Environment.AuthType.API_LOGIN,
        api_login_config={"method": "POST", "url": "${apiBaseUrl}/login", "token_path": "$.t"},
    )
    project = cast.project.slug
    responses = []
    for role in ROLES:
        client = login(cast.user(role))
        for sudo_on in (False, True):
            set_sudo(client, sudo_on)
            client.post(urls(environment)["activate"])
            for page in ("", "chat/", "settings/", "settings/environments/", "settings/audit/"):
                responses.append(client.get(f"/p/{project}/{page}"))
            for env in (environment, ui, api):
                for page in ("list", "new", "import", "detail", "delete", "export"):
                    responses.append(client.get(urls(env)[page]))
                everything = "${authToken} ${AUTH_PASSWORD} ${apiKey} ${authPassword} ${AUTH_TOKEN}"
                for htmx in ({}, {"HTTP_HX_REQUEST": "true"}):
                    responses.append(client.post(urls(env)["preview"], {"template": everything}, **htmx))
                exported = client.get(urls(env)["export"]).content.decode()
                responses.append(client.post(urls(env)["import"], {"action": "check", "document": exported}))
            # A failed edit re-renders the form; a validation round-trip answers one field.
            responses.append(client.post(urls(environment)["detail"], form_data(environment, base_url="x")))
            responses.append(
                client.post(
                    urls(environment)["detail"],
                    form_data(environment, validate="base_url"),
                    HTTP_HX_REQUEST="true",
                )
            )
    # The API login fails (nothing listens there) and its error never echoes a secret.
    client = login(cast.member)
    responses.append(client.post(urls(api)["test_login"], HTTP_HX_REQUEST="true"))

    assert len(responses) > 200
    assert all(response.status_code < 500 for response in responses)
    for response in responses:
        text = " ".join(f"{k}: {v}" for k, v in response.items()) + response.content.decode(errors="replace")
        for secret in SECRETS:
            assert secret not in text, (response.request["PATH_INFO"], secret)
    logged_sql = any(record.name == "django.db.backends" for record in everything_logged.records)
    assert logged_sql, "the capture saw no SQL: the test would prove nothing"
    for secret in SECRETS:
        assert secret not in everything_logged.text
    for event in AuditEvent.objects.all():
        for secret in SECRETS:
            assert secret not in str(event.details) + event.target
