"""The sudo confirmation is limited per account and per IP, counting wrong passwords only (SPEC §11)."""

import re

import pytest
from django.contrib.auth.signals import user_login_failed
from django.core.cache import cache

from projects.models import ProjectMember
from projects.roles import Role
from tests.factories import PASSWORD, make_user

URL = "/accounts/confirm-password/"


@pytest.fixture(autouse=True)
def _clear_rate_limits():
    cache.clear()


@pytest.fixture
def password_checks():
    """Each time a password was checked and found wrong (Django's own signal)."""
    failures = []

    def receiver(**kwargs):
        failures.append(kwargs)

    user_login_failed.connect(receiver)
    yield failures
    user_login_failed.disconnect(receiver)


def signed_in_without_sudo(client, user):
    client.force_login(user)
    session = client.session
    del session["sudo_confirmed_at"]  # as if the password was typed more than 30 minutes ago
    session.save()
    return client


def confirm(client, password, ip="127.0.0.1"):
    return client.post(URL, {"password": password, "next": "/projects/new/"}, REMOTE_ADDR=ip)


def test_the_right_password_confirms_and_goes_on(client, db):
    client = signed_in_without_sudo(client, make_user())
    response = confirm(client, PASSWORD)
    assert response.status_code == 302
    assert response["Location"] == "/projects/new/"
    assert "sudo_confirmed_at" in client.session


def test_ten_wrong_passwords_lock_the_confirmation_and_it_says_when_to_try_again(client, db, password_checks):
    client = signed_in_without_sudo(client, make_user())
    for _ in range(10):
        response = confirm(client, "wrong")
        assert response.status_code == 200
        assert "That password is not right." in response.content.decode()
    response = confirm(client, PASSWORD)
    assert response.status_code == 429
    assert re.search(r"Too many wrong passwords\. Try again in 1[45] minutes\.", response.content.decode())
    assert "sudo_confirmed_at" not in client.session
    confirm(client, "wrong")
    assert len(password_checks) == 10, "the password is not checked at all once throttled"


def test_the_limit_per_account_holds_across_ips(client, db):
    client = signed_in_without_sudo(client, make_user())
    for n in range(10):
        confirm(client, "wrong", ip=f"10.0.0.{n}")
    assert confirm(client, PASSWORD, ip="10.0.1.1").status_code == 429


def test_the_limit_per_ip_holds_across_accounts(client, db):
    for _ in range(5):
        client = signed_in_without_sudo(client, make_user())
        for _attempt in range(10):
            confirm(client, "wrong", ip="10.0.0.9")
    client = signed_in_without_sudo(client, make_user())
    assert confirm(client, PASSWORD, ip="10.0.0.9").status_code == 429
    assert confirm(client, PASSWORD, ip="10.0.0.10").status_code == 302, "another IP still confirms"


def test_right_passwords_do_not_count_and_clear_the_failures(client, db):
    user = make_user()
    for _ in range(3):
        client = signed_in_without_sudo(client, user)
        for _ in range(9):
            confirm(client, "wrong")
        assert confirm(client, PASSWORD).status_code == 302
    for _ in range(15):
        client = signed_in_without_sudo(client, user)
        assert confirm(client, PASSWORD).status_code == 302


def test_the_password_asked_by_project_deletion_shares_the_limit(cast, client, password_checks):
    project = cast.other_project
    ProjectMember.objects.create(project=project, user=cast.owner, role=Role.OWNER)
    client = signed_in_without_sudo(client, cast.owner)
    for _ in range(10):
        confirm(client, "wrong")
    response = client.post(
        f"/p/{project.slug}/settings/",
        {"action": "delete", "confirm_slug": project.slug, "password": PASSWORD},
    )
    assert "Too many wrong passwords" in response.content.decode()
    project.refresh_from_db()
    assert project.deleted_at is None
    assert len(password_checks) == 10
