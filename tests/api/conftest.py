from __future__ import annotations

import time

import pytest
from django.test import Client

from accounts import sudo
from projects.models import ApiKey


@pytest.fixture
def make_key(cast):
    """`make_key(project=None, scope="write", org=cast.org)` → the raw key (shown once, like the product)."""

    def _make(project=None, scope="write", org=None, **extra) -> str:
        _, raw = ApiKey.issue(
            organization=org or (project.organization if project else cast.org),
            project=project,
            name=extra.pop("name", "CI"),
            scope=scope,
            created_by=extra.pop("created_by", cast.owner),
            **extra,
        )
        return raw

    return _make


class ApiClient:
    """The Django test client with a key sent as `Authorization: Bearer` (or `X-API-Key`)."""

    def __init__(self, raw: str | None = None, *, header: str = "bearer", client: Client | None = None):
        self.client = client or Client()
        self.headers = {}
        if raw is not None:
            self.headers = {"Authorization": f"Bearer {raw}"} if header == "bearer" else {"X-API-Key": raw}

    def request(self, method: str, path: str, json=None, headers=None, **query):
        headers = {**self.headers, **(headers or {})}
        call = getattr(self.client, method.lower())
        if method.upper() in ("GET", "HEAD", "OPTIONS", "DELETE") and json is None:
            return call(path, query or None, headers=headers)
        return call(path, json if json is not None else {}, content_type="application/json", headers=headers)

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, json=None, **kw):
        return self.request("POST", path, json=json, **kw)

    def patch(self, path, json=None, **kw):
        return self.request("PATCH", path, json=json, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)


@pytest.fixture
def api():
    """`api(raw_key)` → an ApiClient; `api()` → anonymous."""
    return ApiClient


def error_code(response) -> str:
    assert response["Content-Type"].startswith("application/json"), response.content[:200]
    return response.json()["error"]["code"]


def set_sudo(client: Client, active: bool) -> None:
    """Confirm the password just now (sudo mode on), or long ago (off), for the signed-in client."""
    session = client.session
    session[sudo.SESSION_KEY] = int(time.time()) if active else 0
    session.save()


def expire_sudo(client: Client) -> None:
    set_sudo(client, False)
