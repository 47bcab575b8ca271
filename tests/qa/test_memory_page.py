"""The page `/p/<slug>/memory/`: list and search; members add, edit and delete; memory_count follows."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from qa.models import Memory
from tests.factories import make_project


@pytest.fixture
def page(cast):
    return f"/p/{cast.project.slug}/memory/"


def count(project) -> int:
    project.refresh_from_db()
    return project.memory_count


def test_members_add_edit_and_delete(cast, login, page):
    client = login(cast.member)
    assert client.post(page, {"action": "add", "content": "Staging resets nightly"}).status_code == 302
    item = Memory.objects.get()
    assert (item.project, item.created_by, count(cast.project)) == (cast.project, cast.member, 1)
    assert b"Staging resets nightly" in client.get(page).content

    assert (
        client.post(page, {"action": "edit", "memory_id": item.pk, "content": "Resets at 02:00"}).status_code
        == 302
    )
    item.refresh_from_db()
    assert item.content == "Resets at 02:00"

    assert client.post(page, {"action": "delete", "memory_id": item.pk}).status_code == 302
    assert not Memory.objects.exists()
    assert count(cast.project) == 0


def test_an_empty_memory_is_refused_inline(cast, login, page):
    response = login(cast.member).post(page, {"action": "add", "content": "  "})
    assert response.status_code == 400
    assert b"field-error" in response.content
    assert not Memory.objects.exists()


def test_search_finds_by_content(cast, login, page):
    Memory.objects.add(project=cast.project, content="The login page uses SSO")
    Memory.objects.add(project=cast.project, content="Payments run in sandbox mode")
    html = login(cast.viewer).get(page, {"q": "payments"}).content.decode()
    assert "sandbox mode" in html
    assert "SSO" not in html


def test_viewers_read_but_cannot_change(cast, login, page):
    item = Memory.objects.add(project=cast.project, content="x")
    client = login(cast.viewer)
    response = client.get(page)
    assert response.status_code == 200
    assert b"Add a memory" not in response.content
    assert client.post(page, {"action": "add", "content": "y"}).status_code == 403
    assert client.post(page, {"action": "delete", "memory_id": item.pk}).status_code == 403
    assert Memory.objects.count() == 1


def test_memories_of_other_projects_cannot_be_touched(cast, login, page):
    theirs = Memory.objects.add(project=make_project(cast.org, "Other"), content="theirs")
    client = login(cast.member)
    assert client.post(page, {"action": "delete", "memory_id": theirs.pk}).status_code == 404
    assert client.post(page, {"action": "edit", "memory_id": "nope", "content": "x"}).status_code == 404
    assert Memory.objects.filter(pk=theirs.pk).exists()


def test_the_page_runs_the_same_queries_with_2_and_100_memories(cast, login, page):
    client = login(cast.member)
    for n in range(2):
        Memory.objects.add(project=cast.project, content=f"note {n}", created_by=cast.member)
    client.get(page)
    with CaptureQueriesContext(connection) as few:
        client.get(page)
    for n in range(98):
        Memory.objects.add(project=cast.project, content=f"note {n}", created_by=cast.member)
    with CaptureQueriesContext(connection) as many:
        client.get(page)
    assert len(few) == len(many)


def test_a_nul_in_the_search_is_ignored(cast, login, page):
    Memory.objects.add(project=cast.project, content="Payments run in sandbox mode")
    response = login(cast.viewer).get(page, {"q": "pay\x00ments"})
    assert response.status_code == 200
