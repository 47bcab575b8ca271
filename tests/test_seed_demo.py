"""`manage.py seed_demo` (run by every `make run`): idempotent, and the default project shows content on
every page a newcomer opens."""

from __future__ import annotations

import io

import pytest
from django.apps import apps
from django.core.management import call_command

from accounts.models import User
from projects.management.commands.seed_demo import CI_KEY_NAME, DEMO_EMAIL, DEMO_PASSWORD, PENDING_INVITATION
from projects.models import ApiKey, AuditEvent, Invitation, Organization, ProjectMember
from projects.roles import Role


def seed() -> str:
    out = io.StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


def row_counts() -> dict[str, int]:
    return {model._meta.label: model._base_manager.count() for model in apps.get_models()}


@pytest.fixture
def shop(db):
    seed()
    return Organization.objects.get(slug="acme").default_project


def test_seeding_twice_creates_nothing_the_second_time(db):
    assert "created" in seed()
    before = row_counts()
    assert seed().strip() == "Demo data already in place."
    assert row_counts() == before


def test_the_demo_login_works(shop):
    demo = User.objects.get(email=DEMO_EMAIL)
    assert demo.check_password(DEMO_PASSWORD)
    assert demo.is_staff and demo.email_verified_at


def test_the_default_project_has_members_of_every_role_and_a_pending_invitation(shop):
    assert shop.name == "Acme Shop"
    roles = set(ProjectMember.objects.filter(project=shop).values_list("role", flat=True))
    assert roles == {Role.OWNER, Role.ADMIN, Role.MEMBER, Role.VIEWER}
    email, role = PENDING_INVITATION
    pending = Invitation.objects.filter(project=shop).pending()
    assert [(i.email, i.role) for i in pending] == [(email, role)]


def test_its_audit_log_comes_from_the_real_doors_acting_as_the_demo_user(shop):
    events = AuditEvent.objects.filter(project=shop)
    assert {
        "project.renamed",
        "member.invited",
        "invitation.accepted",
        "environment.created",
        "api_key.created",
    } <= set(events.values_list("action", flat=True))
    assert events.filter(action="member.invited").first().actor_label == DEMO_EMAIL
    accepted = events.filter(action="invitation.accepted", target="viewer@qodex.local").get()
    assert accepted.actor_label == "viewer@qodex.local"
    assert accepted.details == {"role": Role.VIEWER, "invited_email": "viewer@qodex.local"}


def test_the_ci_key_is_locked_to_the_project_and_never_printed(db):
    out = seed()
    key = ApiKey.objects.get(name=CI_KEY_NAME)
    assert key.project.is_default and key.scope == "write"
    assert "qdx_" not in out


@pytest.mark.parametrize(
    ("page", "content"),
    [
        ("", ["Acme Shop", "Recent activity", "Staging"]),
        ("settings/environments/", ["Production", "Staging", "Local", "API login"]),
        ("settings/members/", ["Ada Admin", "Max Member", "Vic Viewer", PENDING_INVITATION[0]]),
        ("memory/", ["Discount codes are case-insensitive"]),
        ("settings/api-keys/", [CI_KEY_NAME]),
        ("settings/audit/", ["invitation.accepted", "environment.created", "api_key.created"]),
        ("scenarios/", ["Smoke: catalogue answers", "Cart: add and remove an item"]),
        ("scenarios/collections/", ["Release checks"]),
    ],
)
def test_every_page_of_the_demo_project_has_content(shop, client, page, content):
    client.force_login(User.objects.get(email=DEMO_EMAIL))
    response = client.get(f"/p/{shop.slug}/{page}")
    assert response.status_code == 200
    html = response.content.decode()
    for text in content:
        assert text in html, (page, text)
