"""The overview's "Get started" checks each step against the project as it is, and offers only the actions
the visitor's role allows; the API keys page says the same about who creates keys."""

from __future__ import annotations

import re

import pytest

from environments.models import Environment
from projects.models import ApiKey, Invitation, ProjectMember
from projects.roles import Role
from tests.factories import add_member, make_org, make_user


def steps(html: str) -> dict[str, tuple[bool, str]]:
    """Each step of "Get started" by name: (done, its HTML)."""
    found = re.findall(r'<li data-step="([\w-]+)" data-done="(true|false)"[^>]*>(.*?)</li>', html, re.S)
    return {name: (done == "true", body) for name, done, body in found}


@pytest.fixture
def fresh(db):
    """A new project with its owner alone, plus a viewer and a member added: nothing set up yet."""
    owner = make_user("founder@fresh.test")
    project = make_org("Fresh", owner=owner).default_project
    viewer = add_member(project, Role.VIEWER, make_user("viewer@fresh.test"))
    member = add_member(project, Role.MEMBER, make_user("member@fresh.test"))
    admin = add_member(project, Role.ADMIN, make_user("admin@fresh.test"))
    return project, {"owner": owner, "admin": admin, "member": member, "viewer": viewer}


def overview(client, user, project) -> dict[str, tuple[bool, str]]:
    client.force_login(user)
    response = client.get(f"/p/{project.slug}/")
    assert response.status_code == 200
    return steps(response.content.decode())


def test_a_viewer_sees_what_is_left_to_do_without_links_to_do_it(client, fresh):
    project, users = fresh
    shown = overview(client, users["viewer"], project)
    assert list(shown) == ["environment", "active-environment", "team", "api-key"]
    environment, active, _team, api_key = (shown[name] for name in shown)
    assert environment[0] is False and active[0] is False and api_key[0] is False
    assert "<a" not in environment[1] and "Members of the project add them." in environment[1]
    assert "<a" not in api_key[1] and "Project admins create them." in api_key[1]
    html = client.get(f"/p/{project.slug}/").content.decode()
    assert f"/p/{project.slug}/settings/environments/new/" not in html
    assert "Set up an environment" not in html and "Manage members" not in html
    assert "write or generate scenarios" not in html  # viewers don't write scenarios


def test_an_admin_gets_a_link_for_each_step_left(client, fresh):
    project, users = fresh
    shown = overview(client, users["admin"], project)
    environment, _active, team, api_key = (
        shown["environment"],
        shown["active-environment"],
        shown["team"],
        shown["api-key"],
    )
    assert f'href="/p/{project.slug}/settings/environments/new/"' in environment[1]
    assert team[0] is True and f'href="/p/{project.slug}/settings/members/"' in team[1]
    assert f'href="/p/{project.slug}/settings/api-keys/"' in api_key[1] and "Create an API key" in api_key[1]


def test_a_member_may_add_an_environment_but_not_invite_or_create_keys(client, fresh):
    project, users = fresh
    shown = overview(client, users["member"], project)
    assert f'href="/p/{project.slug}/settings/environments/new/"' in shown["environment"][1]
    assert "<a" not in shown["api-key"][1]
    assert f'href="/p/{project.slug}/settings/members/"' not in shown["team"][1]


@pytest.mark.parametrize("role", ["viewer", "admin"])
def test_the_environment_steps_follow_the_project_as_it_changes(client, fresh, role):
    project, users = fresh
    before = overview(client, users[role], project)
    assert (before["environment"][0], before["active-environment"][0]) == (False, False)

    environment = Environment.objects.create(project=project, name="Staging", base_url="https://staging.test")
    after = overview(client, users[role], project)
    assert after["environment"][0] is True and "1 set up" in after["environment"][1]
    assert after["active-environment"][0] is False
    assert "Environment menu at the top" in after["active-environment"][1]  # every role may switch

    ProjectMember.objects.filter(project=project, user=users[role]).update(active_environment=environment)
    chosen = overview(client, users[role], project)
    assert (
        chosen["active-environment"][0] is True
        and "<strong>Staging</strong>" in chosen["active-environment"][1]
    )


def test_the_team_and_api_key_steps_follow_the_project(client, db):
    owner = make_user("alone@solo.test")
    project = make_org("Solo", owner=owner).default_project
    shown = overview(client, owner, project)
    assert (shown["team"][0], shown["api-key"][0]) == (False, False)
    assert "Invite your team" in shown["team"][1]

    Invitation.objects.create(
        project=project, email="friend@solo.test", role=Role.MEMBER, token_hash="x" * 64
    )
    ApiKey.issue(organization=project.organization, project=project, name="CI", created_by=owner)
    shown = overview(client, owner, project)
    assert (shown["team"][0], shown["api-key"][0]) == (True, True)
    assert "Invitation sent" in shown["team"][1] and "Manage API keys" in shown["api-key"][1]


@pytest.mark.parametrize("role", ["viewer", "member"])
def test_the_api_keys_page_tells_non_admins_who_creates_keys(client, fresh, role):
    project, users = fresh
    client.force_login(users[role])
    html = client.get(f"/p/{project.slug}/settings/api-keys/").content.decode()
    assert "Create one below" not in html and 'name="action" value="create"' not in html
    assert "Ask an admin or owner of the project to create one." in html


def test_the_api_keys_page_offers_admins_the_form_below(client, fresh):
    project, users = fresh
    client.force_login(users["admin"])
    html = client.get(f"/p/{project.slug}/settings/api-keys/").content.decode()
    assert "Create one below" in html and 'name="action" value="create"' in html
    assert "Ask an admin" not in html
