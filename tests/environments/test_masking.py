"""One masking rule (qodex/crypto.py): passwords show no character at all; tokens and secret variables
show their last four only when they are long (16 characters or more), dots alone when shorter."""

from __future__ import annotations

import pytest

from environments.models import Environment
from qodex import crypto
from tests.environments.pages import urls

SHORT_PASSWORD = "abcder22"  # 8 characters: the old rule showed half of it (••••er22)
LONG_PASSWORD = "a-long-passphrase-that-ends-in-9x8y"
LONG_TOKEN = "tok-live-0123456789-1a2b"


def test_a_password_never_shows_a_character_nor_its_length():
    assert crypto.mask_password(SHORT_PASSWORD) == "••••••••"
    assert crypto.mask_password(LONG_PASSWORD) == "••••••••"
    assert crypto.mask_password("x") == "••••••••"
    assert crypto.mask_password("") == ""
    assert crypto.mask_password(None) == ""


@pytest.mark.parametrize(
    ("token", "shown"),
    [
        (LONG_TOKEN, "••••1a2b"),
        ("0123456789ab1a2b", "••••1a2b"),  # 16 characters: long enough for its tail
        ("0123456789a1a2b", "••••"),  # 15: dots only
        ("tok-1a2b", "••••"),
        ("", ""),
        (None, ""),
    ],
)
def test_a_token_shows_its_last_four_only_when_it_is_long(token, shown):
    assert crypto.mask(token) == shown


@pytest.fixture
def short_password_environment(make_environment):
    return make_environment(
        auth_type=Environment.AuthType.API_LOGIN,
        auth_email="qa@acme.test",
        auth_password=SHORT_PASSWORD,
        auth_token="tok-1a2b",
    )


@pytest.mark.parametrize("role", ["viewer", "member"])
def test_the_environment_page_shows_no_character_of_an_8_character_password(
    cast, login, short_password_environment, role
):
    html = login(cast.user(role)).get(urls(short_password_environment)["detail"]).content.decode()
    assert "<code>••••••••</code>" in html
    assert "er22" not in html and SHORT_PASSWORD not in html
    assert "1a2b" not in html  # a short token: dots only


def test_the_preview_shows_no_character_of_a_long_password(cast, login, make_environment):
    environment = make_environment(auth_password=LONG_PASSWORD, auth_token=LONG_TOKEN)
    response = login(cast.viewer).post(
        urls(environment)["preview"], {"template": "${authPassword} ${authToken}"}, HTTP_HX_REQUEST="true"
    )
    html = response.content.decode()
    assert "•••••••• ••••1a2b" in html
    assert "9x8y" not in html


def test_the_api_returns_an_8_character_password_as_dots_only(cast, login, short_password_environment):
    client = login(cast.viewer)  # the browser session reaches the API too
    url = f"/api/v1/p/{cast.project.slug}/environments"
    one = client.get(f"{url}/{short_password_environment.pk}")
    listed = client.get(url)
    assert one.status_code == listed.status_code == 200
    assert one.json()["auth_password"] == "••••••••"
    assert one.json()["has_auth_password"] is True
    assert one.json()["auth_token"] == "••••"
    assert [item["auth_password"] for item in listed.json()["items"]] == ["••••••••"]
    for body in (one.content.decode(), listed.content.decode()):
        assert "er22" not in body and "1a2b" not in body
