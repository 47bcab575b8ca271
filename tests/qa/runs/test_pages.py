"""The test-run and finding pages (SPEC §4, §9): list, start, live progress, cancel, re-run, triage."""

from __future__ import annotations

import pytest

from projects.access import Actor
from qa import doors
from qa.models import Finding, TestRun
from tests.factories import make_scenario
from tests.qa.runs.test_runner import LOGIN, create_user

pytestmark = pytest.mark.postgres

HEALTH = {"name": "Health", "method": "GET", "target": "/health", "expected_status": 200}


def url(cast, tail: str = "") -> str:
    return f"/p/{cast.project.slug}/{tail}"


def test_the_list_shows_runs_in_a_constant_number_of_queries(
    cast, login, make_environment, django_assert_max_num_queries
):
    make_environment(cast.project)
    client = login(cast.member)
    response = client.get(url(cast, "test-runs/"))
    assert b"No test runs yet." in response.content
    scenario = make_scenario(cast.project, [HEALTH], name="Health check")
    doors.start_run(Actor(user=cast.member), cast.project, scenario=scenario)
    client.get(url(cast, "test-runs/"))
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as one:
        client.get(url(cast, "test-runs/"))
    for _ in range(4):
        doors.start_run(Actor(user=cast.member), cast.project, scenario=scenario)
    with django_assert_max_num_queries(len(one.captured_queries)):
        response = client.get(url(cast, "test-runs/"))
    assert response.content.count(b"data-run=") == 5
    assert b"Health check" in response.content and b"Queued" in response.content


def test_a_member_starts_a_run_from_the_page_and_lands_on_it(cast, login, make_environment, run_queued, shop):
    make_environment(cast.project)
    make_environment(cast.project, name="Production", read_only=True)
    scenario = make_scenario(cast.project, [HEALTH])
    client = login(cast.member)
    response = client.post(
        url(cast, "test-runs/start"), {"scenario_id": scenario.pk, "environment": "Production"}
    )
    run = TestRun.objects.get()
    assert response.status_code == 302 and response["Location"] == url(cast, f"test-runs/{run.pk}/")
    assert (run.environment_name, run.trigger, run.triggered_by) == ("Production", "user", cast.member)

    page = client.get(response["Location"]).content.decode()
    assert "Waiting for a worker…" in page
    partial = client.get(url(cast, f"test-runs/{run.pk}/?part=progress"), headers={"HX-Request": "true"})
    assert partial.status_code == 200 and "Cancel run" in partial.content.decode()
    assert 'hx-trigger="every 1s"' in page  # it polls while the run is not finished
    assert "Cancel run" in page

    run_queued(run)
    partial = client.get(url(cast, f"test-runs/{run.pk}/?part=progress"), headers={"HX-Request": "true"})
    body = partial.content.decode()
    assert body.lstrip().startswith('<div id="run"') and "<html" not in body
    assert "hx-trigger" not in body  # finished: polling stops
    assert 'data-step-status="passed"' in body and "Every step passed." in body


def test_bad_starts_say_why_and_queue_nothing(cast, login, make_environment):
    client = login(cast.member)
    scenario = make_scenario(cast.project, [HEALTH])
    response = client.post(url(cast, "test-runs/start"), {"scenario_id": scenario.pk}, follow=True)
    assert "no environments yet" in response.content.decode()
    assert client.post(url(cast, "test-runs/start"), {"scenario_id": "99999"}).status_code == 404
    assert client.get(url(cast, "test-runs/start")).status_code == 405
    assert (
        login(cast.viewer).post(url(cast, "test-runs/start"), {"scenario_id": scenario.pk}).status_code == 403
    )
    assert not TestRun.objects.exists()


def test_cancel_and_rerun_failed_from_the_run_page(cast, login, make_environment, run_queued, shop):
    make_environment(cast.project)
    failing = make_scenario(cast.project, [LOGIN, create_user("admin")], name="Admins")
    passing = make_scenario(cast.project, [HEALTH], name="Health")
    from qa.models import Collection, CollectionScenario

    collection = Collection.objects.create(project=cast.project, name="All")
    CollectionScenario.objects.create(collection=collection, scenario=failing, position=0)
    CollectionScenario.objects.create(collection=collection, scenario=passing, position=1)
    client = login(cast.member)
    client.post(url(cast, "test-runs/start"), {"collection_id": collection.pk})
    queued = TestRun.objects.get()
    response = client.post(url(cast, f"test-runs/{queued.pk}/"), {"action": "cancel"}, follow=True)
    assert "Cancelling the run" in response.content.decode()
    queued.refresh_from_db()
    assert (queued.status, queued.reason) == ("error", "cancelled")

    run = run_queued(doors.start_run(Actor(user=cast.member), cast.project, collection=collection))
    assert run.status == "failed"
    page = client.get(url(cast, f"test-runs/{run.pk}/")).content.decode()
    assert "Re-run failed" in page and "Admins › Create admin" in page
    response = client.post(url(cast, f"test-runs/{run.pk}/"), {"action": "rerun"})
    again = TestRun.objects.latest("pk")
    assert response["Location"] == url(cast, f"test-runs/{again.pk}/")
    assert again.scenario_ids == [failing.pk]  # only what failed
    response = client.post(url(cast, f"test-runs/{again.pk}/"), {"action": "rerun"}, follow=True)
    assert "hasn&#x27;t ended yet" in response.content.decode()


def test_findings_list_filters_and_a_finding_is_triaged_from_its_page(
    cast, login, make_environment, run_queued, shop
):
    make_environment(cast.project)
    scenario = make_scenario(cast.project, [LOGIN, create_user("admin")], name="Admins", priority="high")
    run = run_queued(doors.start_run(Actor(user=cast.member), cast.project, scenario=scenario))
    finding = Finding.objects.get()
    client = login(cast.viewer)
    listed = client.get(url(cast, "findings/")).content.decode()
    assert "Admins › Create admin" in listed and f'data-finding="{finding.pk}"' in listed
    assert 'data-finding="' not in client.get(url(cast, "findings/?severity=low")).content.decode()
    assert 'data-finding="' not in client.get(url(cast, "findings/?status=fixed")).content.decode()

    page = client.get(url(cast, f"findings/{finding.pk}/")).content.decode()
    assert "$.role should equal &quot;admin&quot;, but it is &quot;user&quot;." in page
    assert f"test-runs/{run.pk}/" in page and "Mark fixed" not in page  # viewers read, don't triage
    assert client.post(url(cast, f"findings/{finding.pk}/"), {"status": "fixed"}).status_code == 403

    client = login(cast.member)
    assert "Mark fixed" in client.get(url(cast, f"findings/{finding.pk}/")).content.decode()
    client.post(url(cast, f"findings/{finding.pk}/"), {"status": "fixed"})
    finding.refresh_from_db()
    assert finding.status == "fixed"
    assert f'data-finding="{finding.pk}"' in client.get(url(cast, "findings/?status=fixed")).content.decode()
    response = client.post(url(cast, f"findings/{finding.pk}/"), {"status": "bogus"}, follow=True)
    assert "is not a finding status" in response.content.decode()


def test_the_findings_list_runs_a_constant_number_of_queries(
    cast, login, make_environment, run_queued, shop, django_assert_max_num_queries
):
    make_environment(cast.project)
    client = login(cast.member)
    actor = Actor(user=cast.member)
    run_queued(
        doors.start_run(
            actor, cast.project, scenario=make_scenario(cast.project, [{"method": "GET", "target": "/boom"}])
        )
    )
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.get(url(cast, "findings/"))
    with CaptureQueriesContext(connection) as one:
        client.get(url(cast, "findings/"))
    for n in range(3):
        steps = [{"name": f"Boom {n}", "method": "GET", "target": "/boom"}]
        run_queued(doors.start_run(actor, cast.project, scenario=make_scenario(cast.project, steps)))
    with django_assert_max_num_queries(len(one.captured_queries)):
        response = client.get(url(cast, "findings/"))
    assert response.content.count(b"data-finding=") == 4


def test_step_names_and_bodies_from_the_target_are_escaped(cast, login, make_environment, run_queued, shop):
    make_environment(cast.project)
    steps = [{"name": "<script>alert(1)</script>", "method": "GET", "target": "/health"}]
    run = run_queued(
        doors.start_run(Actor(user=cast.member), cast.project, scenario=make_scenario(cast.project, steps))
    )
    page = login(cast.member).get(url(cast, f"test-runs/{run.pk}/")).content.decode()
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_admins_in_sudo_mode_see_and_rotate_the_webhook_signing_secret(cast, login):
    from qa.models import WebhookSecret
    from tests.api.conftest import set_sudo

    page = login(cast.member).get(url(cast, "settings/api-keys/")).content.decode()
    assert "Admins and owners of the project see the signing secret here." in page
    assert "whsec_" not in page
    client = login(cast.admin)
    set_sudo(client, False)
    page = client.get(url(cast, "settings/api-keys/")).content.decode()
    assert "Confirm your password to see the signing secret" in page and "whsec_" not in page
    set_sudo(client, True)
    page = client.get(url(cast, "settings/api-keys/")).content.decode()
    secret = WebhookSecret.objects.get(project=cast.project).secret
    assert secret.startswith("whsec_") and secret in page
    assert f"/api/v1/p/{cast.project.slug}/webhooks/trigger" in page
    client.post(url(cast, "settings/api-keys/"), {"action": "rotate_webhook_secret"})
    assert WebhookSecret.objects.get(project=cast.project).secret != secret
