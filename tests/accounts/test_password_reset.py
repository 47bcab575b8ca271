"""Password reset requests are limited per normalized email and per IP (SPEC §11)."""

import re

import pytest
from django.core.cache import cache
from django.utils import timezone

from accounts.models import User
from tests.accounts.pages import seen


@pytest.fixture(autouse=True)
def _clear_rate_limits():
    cache.clear()


@pytest.fixture
def ann(db):
    return User.objects.create_user("Ann@example.com", "old-passphrase-42", email_verified_at=timezone.now())


def ask(client, email, ip="127.0.0.1"):
    return client.post("/accounts/password-reset/", {"email": email}, REMOTE_ADDR=ip)


def test_any_spelling_of_the_address_finds_the_account_and_mails_its_own_address(client, ann, mailoutbox):
    response = ask(client, "  ANN@EXAMPLE.com ")
    assert response.status_code == 302
    assert [m.to for m in mailoutbox] == [["Ann@example.com"]]


def test_five_requests_an_hour_per_address_whatever_the_spelling_or_ip(client, ann, mailoutbox):
    for n, spelling in enumerate(
        ["ann@example.com", "ANN@example.com", " ann@example.com", "Ann@Example.com"]
    ):
        assert ask(client, spelling, ip=f"10.0.0.{n}").status_code == 302
    assert ask(client, "ann@example.com", ip="10.0.0.8").status_code == 302
    response = ask(client, "aNN@example.com ", ip="10.0.0.9")
    assert response.status_code == 429
    assert re.search(r"Too many reset requests\. Try again in \d+ minutes\.", response.content.decode())
    assert len(mailoutbox) == 5


def test_twenty_requests_an_hour_per_ip_whatever_the_address(client, ann, mailoutbox):
    for n in range(20):
        assert ask(client, f"someone{n}@example.com", ip="10.0.0.7").status_code == 302
    assert ask(client, "ann@example.com", ip="10.0.0.7").status_code == 429
    assert mailoutbox == []
    assert ask(client, "ann@example.com", ip="10.0.0.8").status_code == 302
    assert len(mailoutbox) == 1


def test_the_limit_treats_unknown_addresses_like_known_ones(client, ann):
    for _ in range(5):
        ask(client, "ann@example.com")
        ask(client, "nobody@example.com")
    known, unknown = ask(client, "ann@example.com"), ask(client, "nobody@example.com")
    assert known.status_code == unknown.status_code == 429
    assert seen(known, replace=("ann@", "x@")) == seen(unknown, replace=("nobody@", "x@"))
