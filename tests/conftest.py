from __future__ import annotations

from dataclasses import dataclass

import pytest
from django.conf import settings
from django.test import Client

from accounts.models import User
from byok.standin import StandIn
from projects.models import Organization, Project
from projects.roles import Role
from tests.factories import PLATFORM_KEY, add_member, make_org, make_project, make_user


def pytest_collection_modifyitems(config, items):
    """On SQLite, skip only what needs PostgreSQL (SPEC §1: `make test` without DATABASE_URL)."""
    if settings.DATABASES["default"]["ENGINE"].endswith("postgresql"):
        return
    skip = pytest.mark.skip(reason="needs PostgreSQL (set DATABASE_URL)")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """Argon2 is slow on purpose; tests that check hashing ask for it explicitly."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _fresh_price_cache():
    """A test's rolled-back prices must not outlive it in usage.pricing's per-process cache."""
    from usage import pricing

    pricing.forget_current_prices()


@pytest.fixture(autouse=True)
def _private_targets_allowed(settings):
    """The test targets listen on 127.0.0.1; the outbound policy tests turn this off themselves."""
    settings.QODEX_ALLOW_PRIVATE_TARGETS = True


@dataclass
class Cast:
    """One organization with two projects, a member of every role on `project`, and an outsider."""

    org: Organization
    project: Project
    other_project: Project
    owner: User
    admin: User
    member: User
    viewer: User
    outsider: User

    def user(self, role: str) -> User:
        return getattr(self, role)


@pytest.fixture
def cast(db) -> Cast:
    owner = make_user("owner@acme.test", name="Olive Owner")
    org = make_org("Acme", owner=owner)
    project = org.default_project
    other = make_project(make_org("Globex", owner=make_user("globex@globex.test")), "Globex App")
    return Cast(
        org=org,
        project=project,
        other_project=other,
        owner=owner,
        admin=add_member(project, Role.ADMIN, make_user("admin@acme.test")),
        member=add_member(project, Role.MEMBER, make_user("member@acme.test")),
        viewer=add_member(project, Role.VIEWER, make_user("viewer@acme.test")),
        outsider=make_user("outsider@elsewhere.test"),
    )


@pytest.fixture
def login(client: Client):
    """`login(user)` signs the test client in as `user` and returns it."""

    def _login(user: User) -> Client:
        client.force_login(user)
        return client

    return _login


@pytest.fixture
def platform(settings, llm_standin):
    """The platform's LLM provider is the stand-in, reached with PLATFORM_KEY and no SDK retries."""
    settings.QODEX_PLATFORM_PROVIDER = "openai"
    settings.QODEX_PLATFORM_API_KEY = PLATFORM_KEY
    settings.QODEX_PLATFORM_BASE_URL = llm_standin.url
    settings.QODEX_LLM_MAX_RETRIES = 0
    return llm_standin


@pytest.fixture
def llm_standin():
    """A started LLM stand-in (byok/standin.py) on 127.0.0.1 for this test only; `.url` is the base URL."""
    with StandIn() as server:
        yield server
