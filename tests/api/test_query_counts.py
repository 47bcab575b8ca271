"""SPEC §12: every API list runs a constant number of queries, with 2 rows as with 100."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from environments.models import Environment
from projects.models import ApiKey
from projects.roles import Role
from qa.models import Collection, CollectionScenario, Conversation, Memory, Message, Scenario, Script
from tests.api.conftest import ApiClient
from tests.factories import add_member, make_project


def add_projects(cast, n):
    for _ in range(n):
        make_project(cast.org)


def add_keys(cast, n):
    for i in range(n):
        ApiKey.issue(organization=cast.org, project=cast.project if i % 2 else None, name=f"k{i}")


def add_memories(cast, n):
    for i in range(n):
        Memory.objects.add(project=cast.project, content=f"note {i}")


def add_org_memories(cast, n):
    for i in range(n):
        Memory.objects.add(organization=cast.org, content=f"org note {i}")


def add_members(cast, n):
    for _ in range(n):
        add_member(cast.project, Role.MEMBER)


def add_usage(cast, n):
    from datetime import timedelta

    from django.utils import timezone

    from tests.usage.calls import call

    now = timezone.now()
    for i in range(n):
        call(
            cast.project,
            now - timedelta(days=i % 20),
            source=("chat", "api", "memory")[i % 3],
            model=f"m{i % 4}",
        )


def add_environments(cast, n):
    start = Environment.objects.count()
    for i in range(start, start + n):
        environment = Environment(
            project=cast.project, name=f"env {i}", base_url="https://x.test", auth_token="t" * 12
        )
        environment.set_variable("tenant", f"tenant-{i}")
        environment.set_variable("apiKey", f"secret-key-{i:04d}", secret=True)
        environment.save()


def add_conversations(cast, n):
    for i in range(n):
        chat = Conversation.objects.create(project=cast.project, title=f"chat {i}", created_by=cast.member)
        Message.objects.create(conversation=chat, role="user", content="hello")


def add_scenarios(cast, n):
    start = Scenario.objects.count()
    for i in range(start, start + n):
        scenario = Scenario.objects.create(project=cast.project, name=f"scenario {i}", tags=["smoke"])
        Script.objects.create(project=cast.project, scenario=scenario, name="seed")


def add_collections(cast, n):
    scenario = Scenario.objects.create(
        project=cast.project, name=f"in collections {Scenario.objects.count()}"
    )
    start = Collection.objects.count()
    for i in range(start, start + n):
        collection = Collection.objects.create(project=cast.project, name=f"collection {i}")
        CollectionScenario.objects.create(collection=collection, scenario=scenario)


def add_test_runs(cast, n):
    from qa.models import TestRun

    TestRun.objects.bulk_create(
        TestRun(project=cast.project, environment_name="Staging", scenario_ids=[1]) for _ in range(n)
    )


def add_findings(cast, n):
    from qa.models import Finding

    start = Finding.objects.count()
    Finding.objects.bulk_create(
        Finding(project=cast.project, title=f"finding {i}", fingerprint=f"{i:064x}")
        for i in range(start, start + n)
    )


LISTS: list[tuple[str, Callable]] = [
    ("/api/v1/org/projects", add_projects),
    ("/api/v1/org/api-keys", add_keys),
    ("/api/v1/memories", add_memories),
    ("/api/v1/memories?scope=org", add_org_memories),
    ("/api/v1/p/{slug}/memories", add_memories),
    ("/api/v1/p/{slug}/members", add_members),
    ("/api/v1/p/{slug}/environments", add_environments),
    ("/api/v1/p/{slug}/chats", add_conversations),
    ("/api/v1/p/{slug}/usage", add_usage),
    ("/api/v1/p/{slug}/scenarios", add_scenarios),
    ("/api/v1/p/{slug}/scenarios?tag=smoke&status=draft", add_scenarios),
    ("/api/v1/p/{slug}/collections", add_collections),
    ("/api/v1/p/{slug}/test-runs", add_test_runs),
    ("/api/v1/p/{slug}/findings", add_findings),
]


def queries_for(api: ApiClient, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = api.client.get(url, headers=api.headers)
    assert response.status_code == 200, response.content
    return len(captured)


@pytest.mark.parametrize(("path", "fill"), LISTS, ids=[path for path, _ in LISTS])
def test_list_queries_do_not_grow_with_rows(cast, make_key, path, fill):
    url = path.format(slug=cast.project.slug)
    api = ApiClient(make_key())
    fill(cast, 2)
    api.client.get(url, headers=api.headers)  # first use writes last_used_at once; not part of the list
    with_two = queries_for(api, url)
    fill(cast, 98)
    with_hundred = queries_for(api, url)
    assert with_two == with_hundred, f"{url}: {with_two} queries with 2 rows, {with_hundred} with 100"


def test_a_session_list_is_constant_too(cast, client):
    client.force_login(cast.owner)
    api = ApiClient(client=client)
    url = f"/api/v1/p/{cast.project.slug}/members"
    with_few = queries_for(api, url)
    add_members(cast, 60)
    assert queries_for(api, url) == with_few
