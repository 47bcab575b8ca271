"""SPEC §11: after the response that creates it, a raw API key appears in no response, page or log line."""

from __future__ import annotations

import logging
import re

import pytest
from django.db import connections

from projects.models import ApiKey
from tests.api.conftest import ApiClient, set_sudo

KEY = re.compile(r"qdx_[A-Za-z0-9_-]{40}")


def text_of(response) -> str:
    headers = " ".join(f"{k}: {v}" for k, v in response.items())
    return headers + "\n" + response.content.decode(errors="replace")


@pytest.fixture
def everything_logged(caplog, monkeypatch):
    """Every logger at DEBUG, SQL included (Django logs queries only with a debug cursor)."""
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="django.db.backends")
    monkeypatch.setattr(connections["default"], "force_debug_cursor", True)
    return caplog


def test_a_key_made_through_the_api_is_shown_once_and_never_again(cast, make_key, client, everything_logged):
    admin = ApiClient(make_key(name="admin"))
    created = admin.post(
        "/api/v1/org/api-keys", json={"name": "CI", "scope": "write", "project_id": cast.project.public_id}
    )
    raw = created.json()["key"]
    everything_logged.clear()

    used = ApiClient(raw)
    responses = [
        used.get("/api/v1/project"),
        used.get("/api/v1/memories"),
        used.post("/api/v1/memories", json={"content": "x"}),
        used.get(f"/api/v1/p/{cast.project.slug}/members"),
        used.get("/api/v1/org/projects"),  # refused: locked key
        used.get("/api/v1/nope"),
        used.post("/api/v1/memories", json={"content": ""}),  # 422
        admin.get("/api/v1/org/api-keys"),
        ApiClient(raw, header="x-api-key").get("/api/v1/project"),
        ApiClient(raw[:-1]).get("/api/v1/project"),  # a near miss
    ]
    ApiKey.find(raw).revoke()
    responses.append(used.get("/api/v1/project"))
    client.force_login(cast.owner)
    for page in ("settings/api-keys/", "settings/audit/", ""):
        responses.append(client.get(f"/p/{cast.project.slug}/{page}"))
    responses.append(client.get("/api/v1/org/api-keys"))

    for response in responses:
        assert raw not in text_of(response)
        assert raw[:-1] not in text_of(response)
    logged_sql = any(record.name == "django.db.backends" for record in everything_logged.records)
    assert logged_sql, "the capture saw no SQL: the test would prove nothing"
    assert raw not in everything_logged.text
    assert raw[:-1] not in everything_logged.text


def test_a_key_made_on_the_page_is_shown_once_and_never_again(cast, client, everything_logged):
    client.force_login(cast.owner)
    set_sudo(client, True)
    page = f"/p/{cast.project.slug}/settings/api-keys/"
    client.post(page, {"action": "create", "name": "CI", "scope": "read"})
    raw = KEY.search(client.get(page).content.decode()).group(0)
    everything_logged.clear()

    responses = [
        client.get(page),
        client.get(f"/p/{cast.project.slug}/settings/audit/"),
        ApiClient(raw).get("/api/v1/project"),
    ]
    for response in responses:
        assert raw not in text_of(response)
    assert raw not in everything_logged.text
