"""The header's environment switcher (SPEC §4, §6): one click, remembered per member and project."""

from __future__ import annotations

import pytest

from environments.models import Environment
from projects.models import OrgMembership, ProjectMember
from projects.roles import Role
from tests.environments.pages import urls
from tests.factories import add_member, make_user


def active(user, project) -> Environment | None:
    return ProjectMember.objects.get(user=user, project=project).active_environment


def header(html: str) -> str:
    start = html.index('data-testid="environment-switcher"')
    return html[start : html.index("</header>", start)]


def test_one_htmx_post_sets_the_active_environment_and_answers_the_new_switcher(
    cast, login, make_environment
):
    staging = make_environment(name="Staging", read_only=False, max_rps=20, allow_destructive=True)
    make_environment(name="Production")
    client = login(cast.member)

    response = client.post(
        urls(staging)["activate"], {"next": f"/p/{cast.project.slug}/findings/"}, HTTP_HX_REQUEST="true"
    )

    assert response.status_code == 200
    assert response["HX-Trigger"] == "environment-switched"
    html = response.content.decode()
    assert html.lstrip().startswith('<div class="env-switcher" id="env-switcher"')
    assert 'aria-label="Switch environment (active: Staging)"' in html
    assert "20 rps" in html and "destructive on" in html
    assert f'name="next" value="/p/{cast.project.slug}/findings/"' in html
    assert active(cast.member, cast.project) == staging


def test_without_javascript_the_post_redirects_back_to_the_page(cast, login, make_environment):
    staging = make_environment(name="Staging")
    client = login(cast.member)
    back = f"/p/{cast.project.slug}/scenarios/"
    assert client.post(urls(staging)["activate"], {"next": back})["Location"] == back
    assert client.post(urls(staging)["activate"], {"next": "https://evil.test/"})["Location"] == (
        f"/p/{cast.project.slug}/"
    )
    assert active(cast.member, cast.project) == staging


def test_the_choice_is_per_member_and_per_project(cast, login, make_environment):
    staging = make_environment(name="Staging")
    production = make_environment(name="Production")
    theirs = make_environment(project=cast.other_project, name="Theirs")
    add_member(cast.other_project, Role.MEMBER, cast.member)

    login(cast.member).post(urls(staging)["activate"])
    login(cast.admin).post(urls(production)["activate"])
    login(cast.member).post(urls(theirs)["activate"])

    assert active(cast.member, cast.project) == staging
    assert active(cast.admin, cast.project) == production
    assert active(cast.member, cast.other_project) == theirs
    assert active(cast.owner, cast.project) is None
    body = login(cast.member).get(f"/p/{cast.project.slug}/chat/").content.decode()
    assert 'aria-label="Switch environment (active: Staging)"' in header(body)


@pytest.mark.parametrize("role", ["viewer", "member", "admin", "owner"])
def test_row_switch_own_active_environment(cast, login, make_environment, role):
    staging = make_environment(name="Staging")
    response = login(cast.user(role)).post(urls(staging)["activate"])
    assert response.status_code == 302
    assert active(cast.user(role), cast.project) == staging


def test_an_environment_of_another_project_cant_be_selected(cast, login, make_environment):
    mine = make_environment(name="Mine")
    theirs = make_environment(project=cast.other_project, name="Theirs")
    client = login(cast.member)
    client.post(urls(mine)["activate"])
    forged = urls(theirs)["activate"].replace(cast.other_project.slug, cast.project.slug, 1)
    assert client.post(forged, HTTP_HX_REQUEST="true").status_code == 404
    assert client.post(urls(theirs)["activate"]).status_code == 404  # not a member there either
    assert active(cast.member, cast.project) == mine


def test_switching_needs_a_post(cast, login, make_environment):
    staging = make_environment(name="Staging")
    assert login(cast.member).get(urls(staging)["activate"]).status_code == 405
    assert active(cast.member, cast.project) is None


def test_org_admins_who_are_not_members_are_told_they_cant_keep_a_choice(cast, login, make_environment):
    staging = make_environment(name="Staging")
    org_admin = make_user("orgadmin@acme.test")
    OrgMembership.objects.create(user=org_admin, organization=cast.org, role=OrgMembership.OrgRole.ADMIN)
    client = login(org_admin)

    html = header(client.get(f"/p/{cast.project.slug}/").content.decode())
    assert "as an organization admin, not as a member" in html
    assert urls(staging)["activate"] not in html

    response = client.post(urls(staging)["activate"])
    assert response.status_code == 403
    assert "nowhere to remember an active environment" in response.content.decode()
    assert not ProjectMember.objects.filter(user=org_admin).exists()


def test_every_project_page_shows_the_switcher_with_the_active_environments_badges(
    cast, login, make_environment
):
    production = make_environment(name="Production")  # the production defaults
    make_environment(name="Staging", read_only=False, max_rps=20, allow_destructive=True)
    ProjectMember.objects.filter(user=cast.viewer).update(active_environment=production)
    client = login(cast.viewer)
    for page in (
        "",
        "chat/",
        "settings/",
        "settings/environments/",
        f"settings/environments/{production.pk}/",
    ):
        html = header(client.get(f"/p/{cast.project.slug}/{page}").content.decode())
        summary = html[: html.index("</summary>")]
        for badge in ("READ-ONLY", "5 rps", "destructive off", "security off"):
            assert badge in summary, (page, badge)
        assert html.count('role="menuitem" class="env-option"') == 2, page


def test_with_no_environment_the_switcher_offers_to_add_one(cast, login):
    html = header(login(cast.member).get(f"/p/{cast.project.slug}/").content.decode())
    assert "None yet" in html
    assert f'href="/p/{cast.project.slug}/settings/environments/"' in html


def test_the_overview_card_shows_the_active_environment_and_its_constraints(cast, login, make_environment):
    production = make_environment(name="Production")
    client = login(cast.member)
    card = overview_card(client.get(f"/p/{cast.project.slug}/").content.decode())
    assert "None" in card and "Pick one in the Environment menu" in card

    client.post(urls(production)["activate"])
    card = overview_card(client.get(f"/p/{cast.project.slug}/").content.decode())
    assert "Production" in card
    for badge in ("READ-ONLY", "5 rps", "destructive off", "security off"):
        assert badge in card
    # The card refreshes itself in place when the switcher announces a change.
    assert 'hx-trigger="environment-switched from:body"' in card


def overview_card(html: str) -> str:
    start = html.index('id="active-environment"')
    return html[start : html.index("</section>", start)]
