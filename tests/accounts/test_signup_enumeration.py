"""Sign-up does not reveal whether an address has an account; its owner gets an email instead (SPEC §11)."""

import re
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.test import Client
from django.utils import timezone

from accounts import registration, throttles
from accounts.models import EmailVerification, User
from tests.accounts.pages import seen

PASSWORD = "a-long-passphrase-42"


@pytest.fixture(autouse=True)
def _clear_rate_limits():
    cache.clear()


@pytest.fixture
def taken(db):
    return User.objects.create_user(
        "Taken@Example.com", "the-owners-passphrase", email_verified_at=timezone.now()
    )


def sign_up(client, email, password=PASSWORD):
    return client.post("/accounts/signup/", {"email": email, "password": password})


def a_minute_passes(email):
    throttles.SIGNUP_EMAIL_PER_MINUTE.reset(email)


def visible(client, response) -> dict:
    """Everything about a response its visitor can observe, apart from the page body."""
    return {
        "status": response.status_code,
        "location": response.get("Location"),
        "cookies": sorted(response.cookies),
        "headers": sorted(key for key in response.headers if key != "X-Request-ID"),
        "logged_in": "_auth_user_id" in client.session,
    }


def test_a_taken_address_gets_exactly_the_response_a_new_one_gets(taken):
    new, other = Client(), Client()
    first, second = sign_up(new, "new@example.com"), sign_up(other, "taken@example.com")
    assert visible(new, first) == visible(other, second)
    assert first["Location"] == "/accounts/check-email/"
    assert not visible(new, first)["logged_in"]
    pages = [client.get("/accounts/check-email/") for client in (new, other)]
    assert [page.status_code for page in pages] == [200, 200]
    assert seen(pages[0], replace=("new@", "x@")) == seen(pages[1], replace=("taken@", "x@"))
    for path in ["/", "/projects/new/", "/p/anything/"]:
        assert new.get(path)["Location"] == other.get(path)["Location"] == "/accounts/check-email/", path


def test_a_weak_password_gets_the_same_error_whether_or_not_the_address_is_taken(taken, client):
    new, existing = sign_up(client, "new@example.com", "123"), sign_up(client, "taken@example.com", "123")
    assert new.status_code == existing.status_code == 200
    assert seen(new, replace=("new@", "x@")) == seen(existing, replace=("taken@", "x@"))
    assert "too short" in seen(new)


def test_the_owner_of_a_taken_address_gets_an_email_with_ways_back_in(taken, client, mailoutbox):
    sign_up(client, " TAKEN@example.com")
    [email] = mailoutbox
    assert email.to == ["Taken@example.com"], "the stored address, not the typed one"
    assert email.subject == "Someone tried to sign up for Qodex with your address"
    assert "already has an account" in email.body
    assert "http://testserver/accounts/login/" in email.body
    assert "http://testserver/accounts/password-reset/" in email.body
    [(html, kind)] = email.alternatives
    assert kind == "text/html"
    assert 'href="http://testserver/accounts/login/"' in html
    assert 'href="http://testserver/accounts/password-reset/"' in html


def test_the_existing_account_is_never_logged_in_or_changed(taken, client):
    before = User.objects.filter(pk=taken.pk).values().get()
    sign_up(client, "taken@example.com")
    client.post("/accounts/check-email/resend/")
    assert User.objects.filter(pk=taken.pk).values().get() == before
    assert User.objects.count() == 1
    assert not EmailVerification.objects.exists()
    assert "_auth_user_id" not in client.session
    assert registration.create_account("TAKEN@example.com", PASSWORD) is None


def test_the_notice_is_rate_limited_like_the_verification_email(taken, client, mailoutbox):
    for _ in range(3):
        assert sign_up(client, "taken@example.com")["Location"] == "/accounts/check-email/"
    assert len(mailoutbox) == 1, "one a minute"
    for _ in range(10):
        a_minute_passes("taken@example.com")
        sign_up(client, "Taken@example.com")
    assert len(mailoutbox) == 5, "five an hour"


def test_a_new_address_and_a_taken_one_count_their_emails_the_same_way(db, mailoutbox):
    new = Client()
    sign_up(new, "new@example.com")
    sign_up(
        new, "new@example.com"
    )  # the address is taken now: a notice would be due, but a minute has not passed
    assert [m.subject for m in mailoutbox] == ["Verify your email for Qodex"]


def test_resending_looks_the_same_in_both_cases(taken, mailoutbox):
    new, other = Client(), Client()
    sign_up(new, "new@example.com")
    sign_up(other, "taken@example.com")
    for address, client in [("new@", new), ("taken@", other)]:
        response = client.post("/accounts/check-email/resend/", follow=True)
        assert "You can ask for another in 1 minute." in seen(response)
        a_minute_passes(f"{address}example.com")
        response = client.post("/accounts/check-email/resend/", follow=True)
        assert f"A new email is on its way to {address}example.com." in seen(response)
    subjects = {tuple(m.to): m.subject for m in mailoutbox}
    assert subjects == {
        ("new@example.com",): "Verify your email for Qodex",
        ("Taken@example.com",): "Someone tried to sign up for Qodex with your address",
    }
    assert len(mailoutbox) == 4


def test_verifying_in_the_signing_up_browser_logs_in_without_sudo(db, client, mailoutbox):
    sign_up(client, "new@example.com")
    link = re.search(r"http://testserver(/accounts/verify/[^/\s]+/)", mailoutbox[0].body).group(1)
    response = client.get(link)
    assert response["Location"].startswith("/p/")
    assert client.session["_auth_user_id"] == str(User.objects.get(email="new@example.com").pk)
    assert "sudo_confirmed_at" not in client.session, "following a link is not typing the password"
    assert registration.PENDING_KEY not in client.session


def test_verifying_in_another_browser_asks_to_log_in(db, mailoutbox):
    sign_up(Client(), "new@example.com")
    link = re.search(r"http://testserver(/accounts/verify/[^/\s]+/)", mailoutbox[0].body).group(1)
    elsewhere = Client()
    response = elsewhere.get(link)
    assert response["Location"] == "/accounts/login/"
    assert "_auth_user_id" not in elsewhere.session
    assert User.objects.get(email="new@example.com").is_verified


def test_logging_in_ends_the_pending_sign_up(taken, client):
    sign_up(client, "taken@example.com")
    client.post("/accounts/login/", {"username": "taken@example.com", "password": "the-owners-passphrase"})
    assert registration.PENDING_KEY not in client.session
    assert client.get("/projects/new/").status_code == 200


def test_an_expired_link_offers_a_new_email_to_the_browser_that_signed_up(db, client, mailoutbox):
    sign_up(client, "new@example.com")
    link = re.search(r"http://testserver(/accounts/verify/[^/\s]+/)", mailoutbox[0].body).group(1)
    EmailVerification.objects.update(created_at=timezone.now() - timedelta(hours=49))
    response = client.get(link)
    assert response.status_code == 400
    assert "Send a new link" in seen(response)
    assert "Send a new link" not in seen(Client().get(link))


def test_a_deactivated_account_is_not_logged_in_by_its_verification_link(db, client, mailoutbox):
    sign_up(client, "new@example.com")
    User.objects.filter(email="new@example.com").update(is_active=False)
    link = re.search(r"http://testserver(/accounts/verify/[^/\s]+/)", mailoutbox[0].body).group(1)
    assert client.get(link)["Location"] == "/accounts/login/"
    assert "_auth_user_id" not in client.session
