"""Secrets are scrubbed from what people see in every common encoding (SPEC §6, "Where secrets go")."""

from __future__ import annotations

import base64
import html
import json
from urllib.parse import quote, quote_plus

import pytest

from environments.login import check_api_login
from environments.models import Environment
from qodex.crypto import MASK
from qodex.scrub import forms, scrub

# Characters that each encoding changes: @ / & + % for URLs, quotes and non-ASCII for JSON, <> for HTML.
SECRET = 'p@ss "wörd"/&<é>+1%'


def b64(text: str, encode=base64.b64encode) -> str:
    return encode(text.encode()).decode()


ENCODED = {
    "raw": SECRET,
    "quote": quote(SECRET),
    "quote, nothing safe": quote(SECRET, safe=""),
    "quote_plus": quote_plus(SECRET),
    "JSON": json.dumps(SECRET)[1:-1],
    "JSON, UTF-8": json.dumps(SECRET, ensure_ascii=False)[1:-1],
    "HTML": html.escape(SECRET),
    "base64": b64(SECRET),
    "base64 unpadded": b64(SECRET).rstrip("="),
    "base64 URL-safe": b64(SECRET, base64.urlsafe_b64encode),
}


@pytest.mark.parametrize("name", ENCODED)
def test_each_encoding_of_a_secret_is_masked(name):
    assert scrub(f"before {ENCODED[name]} after", [SECRET]) == f"before {MASK} after"


def test_padded_and_unpadded_base64_of_a_secret_whose_length_needs_padding_are_masked():
    secret = "hunter2-correct-horse"  # 21 bytes: no padding; one more byte needs it
    for value in (secret, secret + "!"):
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            encoded = b64(value, encode)
            assert scrub(f"[{encoded}]", [value]) == f"[{MASK}]"
            assert scrub(f"[{encoded.rstrip('=')}]", [value]) == f"[{MASK}]"


@pytest.mark.parametrize("user", ["qa", "qa1", "qa12", "qa@acme.test"])
def test_a_password_inside_a_basic_auth_header_can_no_longer_be_decoded(user):
    secret = "hunter2-correct-horse-battery"
    header = "Basic " + b64(f"{user}:{secret}")
    scrubbed = scrub(header, [secret])
    before, after = scrubbed.split(MASK)
    # What is left either side of the mask encodes at most the two bytes that share a group with the
    # secret's edges: the user name's full groups before it, one partial group of 4 characters after.
    assert len(before) <= len("Basic ") + len(b64(user + ":")) + 4
    assert len(after) <= 4


def test_longer_secrets_are_masked_before_the_shorter_ones_inside_them():
    assert scrub("token=abcdef123456", ["abc", "abcdef123456"]) == f"token={MASK}"


def test_an_empty_secret_masks_nothing():
    assert forms("") == set()
    assert scrub("nothing to hide", ["", "zzz"]) == "nothing to hide"


def test_a_short_secret_has_no_base64_fragment_that_could_match_unrelated_text():
    assert forms("abc") == {"abc", "YWJj"}
    assert scrub("YWJj, YmM and WJj", ["abc"]) == f"{MASK}, YmM and WJj"


# --- What the login check shows ------------------------------------------------------------------------


def test_a_login_target_echoing_the_password_in_every_encoding_shows_none_of_them(
    make_environment, http_target
):
    def echo(request):
        password = request.json()["password"]
        body = " ".join(
            [
                f"url={quote_plus(password)}",
                f"json={json.dumps(password)}",
                f"b64={b64(password)}",
                f"basic={b64('qa@acme.test:' + password)}",
                f"html={html.escape(password)}",
            ]
        )
        return 401, {"Content-Type": "text/plain; charset=utf-8"}, body

    http_target.route("POST", "/api/login", echo)
    environment = make_environment(
        name="Echo",
        base_url=http_target.url,
        auth_type=Environment.AuthType.API_LOGIN,
        api_login_config={
            "method": "POST",
            "url": "${baseUrl}/api/login",
            "body": {"email": "${authEmail}", "password": "${authPassword}"},
            "token_path": "$.token",
        },
        auth_email="qa@acme.test",
        auth_password=SECRET,
    )

    result = check_api_login(environment)

    assert result.status_code == 401
    assert result.error.count(MASK) == 5, result.error
    for name, form in ENCODED.items():
        assert form not in result.error, name
    assert b64("qa@acme.test:" + SECRET) not in result.error
