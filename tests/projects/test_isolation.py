"""SPEC §11: walk the URL resolver and try every `/p/<slug>/` route as everyone who must not get in.

A route added later is covered the moment it is added to the URLconf.
"""

from __future__ import annotations

import re

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from projects import roles
from projects.roles import Role
from tests.factories import add_member, make_user

SAMPLE = {"int": "1", "str": "x", "slug": "x", "uuid": "00000000-0000-0000-0000-000000000000", "path": "x"}
CONVERTER = re.compile(r"<(?:(\w+):)?(\w+)>")


CSRF = re.compile(rb'(csrfmiddlewaretoken" value="|X-CSRFToken": ")[^"]+')


def page_text(response) -> bytes:
    """The body without the per-render CSRF token, to compare two 404 pages."""
    return CSRF.sub(rb"\1", response.content)


def walk(patterns, prefix=""):
    for entry in patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            yield from walk(entry.url_patterns, route)
        elif isinstance(entry, URLPattern):
            yield route, entry


def project_routes() -> list[tuple[str, URLPattern]]:
    return [
        (route, p) for route, p in walk(get_resolver().url_patterns) if route.startswith("p/<slug:slug>/")
    ]


def url_for(route: str, slug: str) -> str:
    route = route.replace("<slug:slug>", slug, 1)
    return "/" + CONVERTER.sub(lambda m: SAMPLE.get(m.group(1) or "str", "x"), route).lstrip("^").rstrip("$")


ROUTES = project_routes()
IDS = [route for route, _ in ROUTES]


def test_the_walk_finds_the_project_routes():
    assert len(ROUTES) >= 14
    assert "p/<slug:slug>/settings/members/" in IDS


@pytest.mark.parametrize(("route", "pattern"), ROUTES, ids=IDS)
def test_every_project_route_goes_through_the_permission_mechanism(route, pattern):
    assert hasattr(pattern.callback, "project_scopes"), (
        f"{route} is not wrapped by projects.access.project_view"
    )


@pytest.mark.parametrize(("route", "pattern"), ROUTES, ids=IDS)
def test_anonymous_users_are_sent_to_log_in(client, cast, route, pattern):
    for method in ("get", "post"):
        response = getattr(client, method)(url_for(route, cast.project.slug))
        assert response.status_code == 302, (method, route)
        assert response["Location"].startswith("/accounts/login/?next="), (method, route)


@pytest.mark.parametrize(("route", "pattern"), ROUTES, ids=IDS)
def test_non_members_get_the_same_404_as_a_missing_slug(client, cast, route, pattern):
    missing = None
    for user in (cast.outsider, make_user(f"{route.count('/')}@other.test")):
        client.force_login(user)
        for method in ("get", "post"):
            response = getattr(client, method)(url_for(route, cast.project.slug))
            assert response.status_code == 404, (user, method, route)
            missing = missing or getattr(client, method)(url_for(route, "no-such-project"))
            assert page_text(response) == page_text(missing)


@pytest.mark.parametrize(("route", "pattern"), ROUTES, ids=IDS)
def test_members_of_another_project_get_404(client, cast, route, pattern):
    client.force_login(add_member(cast.other_project, "owner"))
    assert client.get(url_for(route, cast.project.slug)).status_code == 404
    assert client.post(url_for(route, cast.project.slug)).status_code == 404


def viewers_may_post(pattern) -> bool:
    return roles.has_scope(Role.VIEWER, pattern.callback.project_scopes["write"])


# The only routes whose POST a viewer may send (SPEC §3): switching their own active environment, and the
# environment preview, a POST that reads (its output is masked). Adding one here is a decision.
VIEWER_POST_ROUTES = {
    "p/<slug:slug>/settings/environments/<int:environment_id>/activate/",
    "p/<slug:slug>/settings/environments/<int:environment_id>/preview/",
}


def test_viewers_may_post_only_to_the_routes_listed_here():
    assert {route for route, pattern in ROUTES if viewers_may_post(pattern)} == VIEWER_POST_ROUTES


@pytest.mark.parametrize(("route", "pattern"), ROUTES, ids=IDS)
def test_viewers_are_refused_every_unsafe_method(client, cast, route, pattern):
    client.force_login(cast.viewer)
    for method in ("post", "put", "patch", "delete"):
        response = getattr(client, method)(url_for(route, cast.project.slug))
        if route in VIEWER_POST_ROUTES:
            # Let through, but about an object that isn't in this project (or with a method it doesn't take).
            assert response.status_code == (404 if method == "post" else 405), (method, route)
        else:
            assert response.status_code == 403, (method, route)


@pytest.mark.parametrize(("route", "pattern"), ROUTES, ids=IDS)
def test_soft_deleted_projects_answer_404_even_to_their_owner(client, cast, route, pattern):
    project = cast.other_project
    owner = add_member(project, "owner")
    project.soft_delete()
    client.force_login(owner)
    assert client.get(url_for(route, project.slug)).status_code == 404
