"""The same small cast in every test: plain functions over the real models (no factory library needed)."""

from __future__ import annotations

import itertools

from django.utils import timezone

from accounts.models import User
from projects.models import Organization, OrgMembership, Project, ProjectMember
from projects.roles import Role

PASSWORD = "correct-horse-battery"
_seq = itertools.count(1)


def make_user(email: str | None = None, *, verified: bool = True, **extra) -> User:
    email = email or f"user{next(_seq)}@example.com"
    user = User.objects.create_user(email, PASSWORD, **extra)
    if verified:
        user.email_verified_at = timezone.now()
        user.save(update_fields=["email_verified_at"])
    return user


def make_org(name: str = "Acme", owner: User | None = None) -> Organization:
    org = Organization.objects.create(name=name)
    if owner is not None:
        OrgMembership.objects.create(user=owner, organization=org, role=OrgMembership.OrgRole.OWNER)
        ProjectMember.objects.create(user=owner, project=org.default_project, role=Role.OWNER)
    return org


def make_project(org: Organization, name: str | None = None, **extra) -> Project:
    return Project.objects.create(organization=org, name=name or f"Project {next(_seq)}", **extra)


def add_member(project: Project, role: str, user: User | None = None) -> User:
    user = user or make_user(f"{role}{next(_seq)}@example.com")
    ProjectMember.objects.create(user=user, project=project, role=role)
    return user


# The platform's LLM key in tests (the `platform` fixture): tests assert it never shows anywhere.
PLATFORM_KEY = "sk-platform-test-key-00000000"


def make_spend(project, usd: str, *, ago=None, funding: str = "platform", model: str = "priced-model"):
    """A usage row of `usd` spent `ago` (default a minute) before now: what the caps and meters count."""
    from datetime import timedelta
    from decimal import Decimal

    from usage.models import LlmUsageLog

    return LlmUsageLog.objects.record(
        project=project,
        organization=project.organization,
        source="chat",
        funding=funding,
        provider="openai",
        model=model,
        outcome="ok",
        cost_usd=Decimal(usd),
        created_at=timezone.now() - (ago if ago is not None else timedelta(minutes=1)),
    )


def make_scenario(project, steps: list | None = None, **extra):
    """A scenario of `project` with SPEC §9 `steps` (active unless said otherwise)."""
    from qa.models import Scenario

    extra.setdefault("name", f"Scenario {next(_seq)}")
    extra.setdefault("status", Scenario.Status.ACTIVE)
    return Scenario.objects.create(project=project, steps=steps or [], **extra)


def default_ctrl_c() -> None:
    """`preexec_fn` for a child process a test stops with SIGINT, as Ctrl-C would: tests started in the
    background by a non-interactive shell ignore SIGINT, and a child would inherit that and never stop."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)


def at_once(target, times: int) -> None:
    """Run `target()` in `times` threads at once, each on its own database connection (closed after), and
    wait for all: what concurrent requests or workers do. Use with `django_db(transaction=True)`."""
    import threading

    from django.db import connection

    start = threading.Barrier(times)

    def run() -> None:
        try:
            start.wait()
            target()
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(times)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
