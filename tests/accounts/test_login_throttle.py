"""Login is limited per normalized email and per IP, counting failed attempts only (SPEC §11)."""

import re

import pytest
from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.utils import timezone

from accounts.models import User

PASSWORD = "a-long-passphrase-42"


@pytest.fixture
def ann(db):
    return User.objects.create_user("ann@example.com", PASSWORD, email_verified_at=timezone.now())


def log_in(client, username, password=PASSWORD, ip="127.0.0.1"):
    return client.post("/accounts/login/", {"username": username, "password": password}, REMOTE_ADDR=ip)


def fail(client, username="ann@example.com", times=1, ip="127.0.0.1"):
    for _ in range(times):
        assert log_in(client, username, "wrong", ip=ip).status_code == 200


@pytest.fixture
def password_checks():
    """How many times authentication ran and failed (Django's own signal)."""
    failures = []

    def receiver(**kwargs):
        failures.append(kwargs)

    user_login_failed.connect(receiver)
    yield failures
    user_login_failed.disconnect(receiver)


def test_spellings_of_one_address_share_one_counter(client, ann):
    for spelling in [" ann@example.com", "ANN@example.com", "Ann@Example.COM ", "ann@EXAMPLE.com"]:
        fail(client, spelling, times=2)
    fail(client, "ann@example.com", times=2)
    for spelling in ["ann@example.com", "  ANN@EXAMPLE.COM  ", "aNn@example.com"]:
        response = log_in(client, spelling)
        assert response.status_code == 429, spelling
        assert "_auth_user_id" not in client.session


def test_the_limit_per_address_holds_across_ips(client, ann):
    for n in range(10):
        fail(client, ip=f"10.0.0.{n}")
    assert log_in(client, "ann@example.com", ip="10.0.1.1").status_code == 429


def test_the_limit_per_ip_holds_across_addresses(client, ann):
    for n in range(50):
        fail(client, f"nobody{n}@example.com", ip="10.0.0.9")
    assert log_in(client, "ann@example.com", ip="10.0.0.9").status_code == 429
    assert log_in(client, "ann@example.com", ip="10.0.0.10").status_code == 302, "another IP still logs in"


def test_successful_logins_do_not_count(client, ann):
    for _ in range(15):
        assert log_in(client, "ann@example.com").status_code == 302
        client.post("/accounts/logout/")
    assert log_in(client, "ann@example.com").status_code == 302


def test_a_success_clears_the_failures_of_the_address(client, ann):
    fail(client, times=9)
    assert log_in(client, "ann@example.com").status_code == 302
    client.post("/accounts/logout/")
    fail(client, times=9)
    assert log_in(client, "ann@example.com").status_code == 302


def test_a_throttled_login_does_not_check_the_password_and_says_when_to_try_again(
    client, ann, password_checks
):
    logins = []
    user_logged_in.connect(receiver := lambda **kwargs: logins.append(kwargs))
    try:
        fail(client, times=10)
        assert len(password_checks) == 10
        response = log_in(client, "ann@example.com")
        wrong = log_in(client, "ann@example.com", "wrong")
    finally:
        user_logged_in.disconnect(receiver)
    assert response.status_code == wrong.status_code == 429
    assert len(password_checks) == 10, "no password was checked once throttled"
    assert logins == []
    assert re.search(r"Too many attempts\. Try again in 1[45] minutes", response.content.decode())


def test_a_look_alike_spelling_does_not_log_in_as_another_account(client, db):
    # PostgreSQL's UPPER() folds "ſ" (long s) into "S": a case-insensitive lookup would accept this
    # spelling for sam@example.com while counting its failures under another key.
    User.objects.create_user("sam@example.com", PASSWORD, email_verified_at=timezone.now())
    assert log_in(client, "ſam@example.com").status_code == 200
    assert "_auth_user_id" not in client.session
    assert User.objects.by_email("ſam@example.com").first() is None
    assert User.objects.by_email(" SAM@example.com").get().email == "sam@example.com"


def test_choosing_a_new_password_lifts_the_lock_on_the_address(client, ann, mailoutbox):
    fail(client, times=10)
    assert log_in(client, "ann@example.com").status_code == 429
    client.post("/accounts/password-reset/", {"email": "ann@example.com"})
    link = re.search(r"http://testserver(/accounts/password-reset/\S+/)", mailoutbox[0].body).group(1)
    form_url = client.get(link, follow=True).redirect_chain[-1][0]
    client.post(form_url, {"new_password1": "new-passphrase-42", "new_password2": "new-passphrase-42"})
    assert log_in(client, "ann@example.com", "new-passphrase-42").status_code == 302
