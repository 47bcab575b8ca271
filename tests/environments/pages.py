"""Helpers shared by the environment page tests: URLs, sudo mode, and the form a browser would post."""

from __future__ import annotations

import json
import socket
import time

from django.test import Client

from accounts import sudo
from environments.models import Environment, Variable

TOKEN = "tok-static-secret-0a1b2c3d"
PASSWORD = "pw-login-secret-4e5f6a7b"
API_KEY = "var-secret-value-8c9d0e1f"
SECRETS = (TOKEN, PASSWORD, API_KEY)


def urls(environment: Environment) -> dict[str, str]:
    base = f"/p/{environment.project.slug}/settings/environments/"
    one = f"{base}{environment.pk}/"
    return {
        "list": base,
        "new": f"{base}new/",
        "import": f"{base}import/",
        "detail": one,
        "delete": f"{one}delete/",
        "export": f"{one}export/",
        "preview": f"{one}preview/",
        "test_login": f"{one}test-login/",
        "capture_login": f"{one}capture-login/",
        "activate": f"{one}activate/",
    }


def free_port() -> int:
    """A port on 127.0.0.1 where nothing listens (connections are refused)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def set_sudo(client: Client, active: bool) -> None:
    """Password confirmed just now (sudo mode on), or long ago (off)."""
    session = client.session
    session[sudo.SESSION_KEY] = int(time.time()) if active else 0
    session.save()


def with_secrets(make_environment, **fields) -> Environment:
    """An environment holding every kind of secret: a token, a password and a secret variable."""
    fields.setdefault("auth_type", Environment.AuthType.STATIC_TOKEN)
    return make_environment(
        auth_token=TOKEN,
        auth_password=PASSWORD,
        auth_email="qa@acme.test",
        variables={"apiKey": (API_KEY, True), "tenant": ("acme", False)},
        **fields,
    )


def form_data(environment: Environment | None = None, **overrides) -> dict[str, str]:
    """What the edit form posts for `environment` untouched (a new one's defaults when None): secret
    inputs blank, every stored variable as a row (`var-<i>-id`, by name), two empty rows."""
    env = environment or Environment(name="", base_url="")
    data = {
        "name": env.name,
        "base_url": env.base_url,
        "api_base_url": env.api_base_url,
        "auth_type": env.auth_type,
        "auth_header_name": env.auth_header_name,
        "auth_header_prefix": env.auth_header_prefix,
        "api_login_config": json.dumps(env.api_login_config) if env.api_login_config else "",
        "ui_login_steps": json.dumps(env.ui_login_steps) if env.ui_login_steps else "",
        "auth_email": env.auth_email,
        "max_rps": "" if env.max_rps is None else str(env.max_rps),
        "auth_token": "",
        "auth_password": "",
    }
    for flag in ("read_only", "allow_destructive", "allow_security_testing"):
        if getattr(env, flag):
            data[flag] = "on"
    rows = list(Variable.objects.filter(environment=env).order_by("name")) if environment is not None else []
    for index, row in enumerate(rows):
        data[f"var-{index}-id"] = str(row.pk)
        data[f"var-{index}-name"] = row.name
        data[f"var-{index}-value"] = "" if row.secret else row.value
        if row.secret:
            data[f"var-{index}-secret"] = "on"
    data.update(
        {
            "var-TOTAL_FORMS": str(len(rows) + 2),
            "var-INITIAL_FORMS": str(len(rows)),
            "var-MIN_NUM_FORMS": "0",
            "var-MAX_NUM_FORMS": "1000",
        }
    )
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not None}
