"""Test runs, findings and the CI webhook over the JSON API (SPEC §5)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from projects.access import Actor
from qa import doors, webhooks
from qa.models import Finding, TestRun, WebhookSecret
from tests.api.conftest import ApiClient, error_code
from tests.factories import make_scenario
from tests.qa.runs.test_runner import LOGIN, create_user

pytestmark = pytest.mark.postgres

HEALTH = {"name": "Health", "method": "GET", "target": "/health", "expected_status": 200}
RUN_KEYS = {
    "id",
    "status",
    "reason",
    "scenario_id",
    "collection_id",
    "environment",
    "trigger",
    "steps_total",
    "steps_done",
    "created_at",
    "started_at",
    "finished_at",
}


@pytest.fixture
def key_api(cast, make_key) -> ApiClient:
    return ApiClient(make_key(project=cast.project, scope="write"))


def runs_url(cast, tail: str = "") -> str:
    return f"/api/v1/p/{cast.project.slug}/test-runs{tail}"


def test_a_key_starts_a_run_by_scenario_id_and_reads_it_back_in_the_documented_shape(
    cast, shop, make_environment, key_api, run_queued
):
    make_environment(cast.project)
    scenario = make_scenario(cast.project, [HEALTH, {"method": "POST", "target": "/users"}])
    response = key_api.post(runs_url(cast), json={"scenario_id": scenario.pk, "environment": "staging"})
    assert response.status_code == 202, response.content
    body = response.json()
    assert body == {"id": body["id"], "status": "queued"}
    run = run_queued(TestRun.objects.get(pk=body["id"]))

    detail = key_api.get(runs_url(cast, f"/{run.pk}")).json()
    assert set(detail) == RUN_KEYS | {"steps"}
    assert detail["status"] == "failed" and detail["trigger"] == "api_key"
    assert (detail["scenario_id"], detail["collection_id"], detail["environment"]) == (
        scenario.pk,
        None,
        "Staging",
    )
    first, second = detail["steps"]
    assert set(first) == {
        "scenario_id",
        "name",
        "status",
        "reason",
        "request",
        "response",
        "started_at",
        "duration_ms",
    }
    assert first["request"] == {"method": "GET", "url": f"{shop.url}/api/health"}
    assert first["response"] == {"status": 200} and first["status"] == "passed"
    assert second["response"] == {"status": 401} and second["status"] == "failed"


def test_a_run_can_name_its_scenario_and_fall_back_to_the_only_environment(
    cast, shop, make_environment, key_api
):
    make_environment(cast.project)
    make_scenario(cast.project, [HEALTH], name="Smoke test")
    response = key_api.post(runs_url(cast), json={"scenario": "smoke TEST"})
    assert response.status_code == 202
    assert TestRun.objects.get().environment_name == "Staging"


def test_bad_starts_are_refused_with_what_to_do_and_queue_nothing(cast, shop, make_environment, key_api):
    scenario = make_scenario(cast.project, [HEALTH])
    response = key_api.post(runs_url(cast), json={"scenario_id": scenario.pk})
    assert response.status_code == 422
    assert "no environments yet" in response.json()["error"]["fields"]["environment"][0]
    make_environment(cast.project)
    make_environment(cast.project, name="Production")
    response = key_api.post(runs_url(cast), json={"scenario_id": scenario.pk})
    assert response.json()["error"]["fields"]["environment"] == [
        "Name the environment to run against: this project has several."
    ]
    response = key_api.post(runs_url(cast), json={"scenario_id": scenario.pk, "environment": "nope"})
    assert "No environment named “nope”" in response.json()["error"]["fields"]["environment"][0]
    response = key_api.post(runs_url(cast), json={"scenario_id": 999999, "environment": "staging"})
    assert (response.status_code, error_code(response)) == (404, "scenario_not_found")
    other = make_scenario(cast.other_project, [HEALTH])
    response = key_api.post(runs_url(cast), json={"scenario_id": other.pk, "environment": "staging"})
    assert (response.status_code, error_code(response)) == (404, "scenario_not_found")
    response = key_api.post(runs_url(cast), json={"environment": "staging"})
    assert response.status_code == 422
    empty = make_scenario(cast.project, [])
    response = key_api.post(runs_url(cast), json={"scenario_id": empty.pk, "environment": "staging"})
    assert response.status_code == 422
    assert not TestRun.objects.exists()


def test_the_run_list_pages_newest_first_in_a_constant_number_of_queries(
    cast, make_environment, key_api, django_assert_num_queries
):
    make_environment(cast.project)
    scenario = make_scenario(cast.project, [HEALTH])
    actor = Actor(user=cast.member)
    doors.start_run(actor, cast.project, scenario=scenario)
    key_api.get(runs_url(cast))  # the key's first use writes last_used_at
    with django_assert_num_queries(3) as one:
        assert len(key_api.get(runs_url(cast)).json()["items"]) == 1
    for _ in range(3):
        doors.start_run(actor, cast.project, scenario=scenario)
    with django_assert_num_queries(len(one.captured_queries)):
        page = key_api.get(runs_url(cast), limit=2).json()
    assert [item["id"] for item in page["items"]] == sorted(
        (item["id"] for item in page["items"]), reverse=True
    )
    assert page["next_cursor"]
    assert set(page["items"][0]) == RUN_KEYS


def test_cancel_over_the_api_then_409_once_it_ended(cast, make_environment, key_api):
    make_environment(cast.project)
    run = doors.start_run(
        Actor(user=cast.member), cast.project, scenario=make_scenario(cast.project, [HEALTH])
    )
    response = key_api.post(runs_url(cast, f"/{run.pk}/cancel"))
    assert response.status_code == 202
    assert (response.json()["status"], response.json()["reason"]) == ("error", "cancelled")
    again = key_api.post(runs_url(cast, f"/{run.pk}/cancel"))
    assert (again.status_code, error_code(again)) == (409, "run_finished")
    assert key_api.get(runs_url(cast, "/424242")).status_code == 404


def test_findings_list_filters_and_triage(
    cast, shop, make_environment, key_api, run_queued, django_assert_num_queries
):
    make_environment(cast.project)
    actor = Actor(user=cast.member)
    for steps, priority in (
        ([LOGIN, create_user("admin")], "high"),
        ([{"method": "GET", "target": "/boom"}], "low"),
    ):
        run_queued(
            doors.start_run(
                actor, cast.project, scenario=make_scenario(cast.project, steps, priority=priority)
            )
        )
    url = f"/api/v1/p/{cast.project.slug}/findings"
    key_api.get(url)
    with django_assert_num_queries(3):
        items = key_api.get(url).json()["items"]
    assert len(items) == 2
    assert set(items[0]) == {
        "id",
        "title",
        "severity",
        "category",
        "status",
        "fingerprint",
        "occurrences",
        "first_seen_at",
        "last_seen_at",
        "test_run_id",
        "scenario_id",
    }
    assert [i["category"] for i in key_api.get(url, severity="high").json()["items"]] == [
        "api_error",
        "functional",
    ]
    functional = Finding.objects.get(category="functional")
    response = key_api.patch(f"{url}/{functional.pk}", json={"status": "false_positive"})
    assert response.status_code == 200 and response.json()["status"] == "false_positive"
    assert [i["id"] for i in key_api.get(url, status="open").json()["items"]] == [
        Finding.objects.get(category="api_error").pk
    ]
    response = key_api.patch(f"{url}/{functional.pk}", json={"status": "gone"})
    assert response.status_code == 422
    assert key_api.get(f"{url}/{functional.pk}").json()["evidence"]["expectation"]["path"] == "$.role"
    assert key_api.get(url, status="nope").status_code == 422


class Receiver:
    """A callback endpoint on 127.0.0.1: fails the first `fail_first` deliveries with 500, keeps all."""

    def __init__(self, fail_first: int = 0):
        self.received: list[tuple[dict, bytes]] = []
        self.fail_first = fail_first
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.received.append((dict(self.headers), body))
                status = 500 if len(outer.received) <= outer.fail_first else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks/qodex"


def test_the_webhook_runs_tagged_active_scenarios_and_posts_a_signed_summary_retrying_on_failure(
    cast, shop, make_environment, key_api, run_queued, settings
):
    settings.QODEX_WEBHOOK_RETRY_DELAYS = [0, 0]
    make_environment(cast.project)
    make_environment(cast.project, name="Production", read_only=True)
    smoke = make_scenario(cast.project, [HEALTH], name="Smoke", tags=["smoke"])
    make_scenario(cast.project, [HEALTH], name="Draft smoke", tags=["smoke"], status="draft")
    make_scenario(cast.project, [HEALTH], name="Nightly", tags=["nightly"])
    receiver = Receiver(fail_first=1)
    response = key_api.post(
        f"/api/v1/p/{cast.project.slug}/webhooks/trigger",
        json={"environment": "Staging", "tags": ["SMOKE"], "callback_url": receiver.url},
    )
    assert response.status_code == 202, response.content
    body = response.json()
    assert body == {"test_run_id": body["test_run_id"], "status": "queued", "scenarios_total": 1}
    run = run_queued(TestRun.objects.get(pk=body["test_run_id"]))
    assert (run.trigger, run.scenario_ids, run.status) == ("webhook", [smoke.pk], "passed")

    assert len(receiver.received) == 2  # the first delivery got a 500 and was retried
    run.refresh_from_db()
    assert run.callback_attempts == 2 and run.callback_delivered_at is not None
    headers, raw = receiver.received[-1]
    secret = WebhookSecret.objects.get(project=cast.project).secret
    assert webhooks.verify(secret, raw, headers["X-Qodex-Signature"])
    assert not webhooks.verify(secret, raw + b" ", headers["X-Qodex-Signature"])
    assert not webhooks.verify("whsec_other", raw, headers["X-Qodex-Signature"])
    summary = json.loads(raw)
    assert summary["test_run_id"] == run.pk and summary["status"] == "passed"
    assert summary["steps"]["passed"] == 1 and summary["scenarios_total"] == 1
    assert summary["environment"] == "Staging"


def test_the_webhook_without_tags_or_ids_runs_every_active_scenario(cast, shop, make_environment, key_api):
    make_environment(cast.project)
    first = make_scenario(cast.project, [HEALTH], name="A")
    second = make_scenario(cast.project, [HEALTH], name="B")
    make_scenario(cast.project, [HEALTH], name="C", status="draft")
    response = key_api.post(f"/api/v1/p/{cast.project.slug}/webhooks/trigger", json={})
    assert response.json()["scenarios_total"] == 2
    assert TestRun.objects.get().scenario_ids == [first.pk, second.pk]


def test_the_webhook_refuses_unknown_ids_bad_callbacks_and_read_keys(
    cast, make_environment, key_api, make_key
):
    make_environment(cast.project)
    draft = make_scenario(cast.project, [HEALTH], status="draft")
    make_scenario(cast.project, [HEALTH])
    url = f"/api/v1/p/{cast.project.slug}/webhooks/trigger"
    response = key_api.post(url, json={"scenario_ids": [draft.pk]})
    assert (
        response.status_code == 422
        and "drafts don't run from webhooks" in response.json()["error"]["message"]
    )
    response = key_api.post(url, json={"callback_url": "ftp://example.com/x"})
    assert response.status_code == 422 and "callback_url" in response.json()["error"]["fields"]
    response = ApiClient(make_key(project=cast.project, scope="read")).post(url, json={})
    assert (response.status_code, error_code(response)) == (403, "insufficient_scope")
    assert not TestRun.objects.exists()


def test_a_callback_that_keeps_failing_gives_up_after_the_last_delay(
    cast, shop, make_environment, key_api, run_queued, settings
):
    settings.QODEX_WEBHOOK_RETRY_DELAYS = [0, 0]
    make_environment(cast.project)
    make_scenario(cast.project, [HEALTH])
    receiver = Receiver(fail_first=99)
    body = key_api.post(
        f"/api/v1/p/{cast.project.slug}/webhooks/trigger", json={"callback_url": receiver.url}
    ).json()
    run = run_queued(TestRun.objects.get(pk=body["test_run_id"]))
    assert len(receiver.received) == 3
    assert (run.callback_attempts, run.callback_delivered_at) == (3, None)
    assert run.callback_error == "The callback URL answered HTTP 500."


def test_a_person_runs_against_their_active_environment_when_none_is_named(cast, make_environment, login):
    from projects.models import ProjectMember

    make_environment(cast.project)
    production = make_environment(cast.project, name="Production", read_only=True)
    ProjectMember.objects.filter(project=cast.project, user=cast.member).update(active_environment=production)
    scenario = make_scenario(cast.project, [HEALTH])
    client = ApiClient(client=login(cast.member))
    response = client.post(runs_url(cast), json={"scenario_id": scenario.pk})
    assert response.status_code == 202
    assert TestRun.objects.get().environment_name == "Production"


def test_a_callback_to_a_refused_address_is_not_sent_and_says_why(
    cast, shop, make_environment, key_api, run_queued, settings
):
    settings.QODEX_WEBHOOK_RETRY_DELAYS = []
    make_environment(cast.project)
    make_scenario(cast.project, [HEALTH])
    receiver = Receiver()
    body = key_api.post(
        f"/api/v1/p/{cast.project.slug}/webhooks/trigger", json={"callback_url": receiver.url}
    ).json()
    settings.QODEX_ALLOW_PRIVATE_TARGETS = False  # the run's own step is blocked too; the callback matters
    run = run_queued(TestRun.objects.get(pk=body["test_run_id"]))
    assert receiver.received == []
    assert run.callback_attempts == 1 and run.callback_delivered_at is None
    assert "loopback address" in run.callback_error
