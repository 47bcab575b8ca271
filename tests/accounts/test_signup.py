import re
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.utils import timezone

from accounts import throttles
from accounts.models import EmailVerification, User
from projects.models import OrgMembership, ProjectMember
from projects.roles import Role

LINK = re.compile(r"http://testserver(/accounts/verify/[^/\s]+/)")


@pytest.fixture(autouse=True)
def _clear_rate_limits():
    cache.clear()


def sign_up(client, email="new@example.com", password="a-long-passphrase-42"):
    return client.post("/accounts/signup/", {"email": email, "password": password})


def verification_path(mailoutbox) -> str:
    return LINK.search(mailoutbox[-1].body).group(1)


def test_sign_up_sends_a_verification_email_and_shows_check_your_email(client, db, mailoutbox, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.Argon2PasswordHasher"]
    response = sign_up(client)
    assert response.status_code == 302
    assert response["Location"] == "/accounts/check-email/"
    assert len(mailoutbox) == 1
    assert mailoutbox[0].to == ["new@example.com"]
    assert "/accounts/verify/" in mailoutbox[0].body
    assert mailoutbox[0].alternatives, "the email has an HTML part too"
    user = User.objects.get(email="new@example.com")
    assert not user.is_verified
    assert user.password.startswith("argon2")


def test_verifying_creates_the_organization_and_default_project_and_lands_there(client, db, mailoutbox):
    sign_up(client)
    response = client.get(verification_path(mailoutbox))
    user = User.objects.get(email="new@example.com")
    assert user.is_verified
    membership = ProjectMember.objects.get(user=user)
    assert membership.role == Role.OWNER
    assert membership.project.is_default
    assert OrgMembership.objects.get(user=user).role == OrgMembership.OrgRole.OWNER
    assert response.status_code == 302
    assert response["Location"] == f"/p/{membership.project.slug}/"
    assert client.get(response["Location"]).status_code == 200


def test_the_verification_link_works_once(client, db, mailoutbox):
    sign_up(client)
    path = verification_path(mailoutbox)
    client.get(path)
    response = client.get(path)
    assert response.status_code == 400
    assert "already been used" in response.content.decode()
    assert ProjectMember.objects.count() == 1


def test_the_verification_link_expires_after_48_hours(client, db, mailoutbox):
    sign_up(client)
    EmailVerification.objects.update(created_at=timezone.now() - timedelta(hours=48, minutes=1))
    response = client.get(verification_path(mailoutbox))
    assert response.status_code == 400
    assert "expired" in response.content.decode()
    assert not User.objects.get(email="new@example.com").is_verified


def test_an_unknown_verification_link_says_so(client, db):
    response = client.get("/accounts/verify/not-a-token/")
    assert response.status_code == 400
    assert "not valid" in response.content.decode()


def test_unverified_users_reach_only_the_check_your_email_page(client, db, mailoutbox):
    sign_up(client)
    for path in ["/", "/projects/new/", "/admin/", "/p/anything/"]:
        response = client.get(path)
        assert response.status_code == 302, path
        assert response["Location"] == "/accounts/check-email/", path
    assert client.get("/accounts/check-email/").status_code == 200


def test_resend_is_rate_limited(client, db, mailoutbox):
    sign_up(client)
    client.post("/accounts/check-email/resend/")
    assert len(mailoutbox) == 1, "a second email within a minute is refused"
    throttles.SIGNUP_EMAIL_PER_MINUTE.reset("new@example.com")  # a minute passes
    client.post("/accounts/check-email/resend/")
    assert len(mailoutbox) == 2
    for _ in range(5):
        throttles.SIGNUP_EMAIL_PER_MINUTE.reset("new@example.com")
        client.post("/accounts/check-email/resend/")
    assert len(mailoutbox) == 5, "at most five emails an hour"


def test_signing_up_with_a_taken_email_creates_nothing_and_emails_its_owner(client, db, mailoutbox):
    User.objects.create_user("Taken@Example.com", "whatever-123-xyz")
    response = sign_up(client, email="taken@example.COM")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/check-email/"
    assert "already exists" not in client.get(response["Location"]).content.decode()
    assert User.objects.count() == 1
    assert [m.to for m in mailoutbox] == [["Taken@example.com"]]


def test_sign_up_rejects_a_weak_password_with_a_message(client, db):
    response = sign_up(client, password="123")
    assert response.status_code == 200
    assert "too short" in response.content.decode()
    assert not User.objects.exists()


def test_login_is_by_email_case_insensitively_and_logout_needs_post(client, db):
    User.objects.create_user("ann@example.com", "a-long-passphrase-42", email_verified_at=timezone.now())
    response = client.post(
        "/accounts/login/", {"username": "ANN@example.com", "password": "a-long-passphrase-42"}
    )
    assert response.status_code == 302
    assert client.get("/accounts/logout/").status_code == 405
    assert client.post("/accounts/logout/").status_code == 302
    assert "_auth_user_id" not in client.session


def test_login_is_rate_limited(client, db):
    User.objects.create_user("ann@example.com", "a-long-passphrase-42")
    for _ in range(10):
        client.post("/accounts/login/", {"username": "ann@example.com", "password": "wrong"})
    response = client.post(
        "/accounts/login/", {"username": "ann@example.com", "password": "a-long-passphrase-42"}
    )
    assert response.status_code == 429
    assert "Too many attempts" in response.content.decode()


def test_password_reset_sends_a_link_that_sets_a_new_password(client, db, mailoutbox):
    User.objects.create_user("ann@example.com", "old-passphrase-42", email_verified_at=timezone.now())
    client.post("/accounts/password-reset/", {"email": "ann@example.com"})
    link = re.search(r"http://testserver(/accounts/password-reset/\S+/)", mailoutbox[0].body).group(1)
    response = client.get(link, follow=True)
    form_url = response.redirect_chain[-1][0]
    response = client.post(
        form_url, {"new_password1": "new-passphrase-42", "new_password2": "new-passphrase-42"}
    )
    assert response.status_code == 302
    assert User.objects.get(email="ann@example.com").check_password("new-passphrase-42")


def test_create_user_and_create_superuser_take_email_and_password(db):
    model = get_user_model()
    user = model.objects.create_user(email="u@example.com", password="pw-123456789")
    admin = model.objects.create_superuser(email="a@example.com", password="pw-123456789")
    assert user.check_password("pw-123456789") and not user.is_staff
    assert admin.is_staff and admin.is_superuser and admin.is_verified
