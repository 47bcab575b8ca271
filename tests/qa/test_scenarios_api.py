"""Scenarios, scripts and collections over the API mirror (SPEC §5 "Work objects over the API")."""

from __future__ import annotations

import pytest

from projects.models import ApiKey, AuditEvent
from qa.models import Collection, Scenario, Script
from tests.api.conftest import ApiClient, error_code

STEP = {
    "name": "Create a user",
    "method": "POST",
    "target": "${API_BASE_URL}/users",
    "headers": {"Content-Type": "application/json"},
    "body": {"email": "new@shop.test"},
    "expected_status": 201,
    "captures": [{"as": "userId", "from": "$.id"}],
    "expectations": [{"kind": "jsonpath", "path": "$.id", "exists": True}],
    "destructive": False,
    "security": False,
}


@pytest.fixture
def api(cast) -> ApiClient:
    key = ApiKey.issue(organization=cast.org, name="CI", scope="write", created_by=cast.owner)[1]
    return ApiClient(key)


def url(cast, tail: str = "") -> str:
    return f"/api/v1/p/{cast.project.slug}/scenarios{tail}"


def create(api, cast, **fields):
    body = {"name": "Sign up", "steps": [STEP], **fields}
    response = api.post(url(cast), json=body)
    assert response.status_code == 201, response.content
    return response.json()


def test_create_answers_201_with_the_same_fields_and_an_id(api, cast):
    body = {
        "name": "Sign up",
        "type": "api",
        "status": "active",
        "priority": "high",
        "tags": ["smoke", "Users"],
        "steps": [STEP],
    }
    created = api.post(url(cast), json=body)
    assert created.status_code == 201
    data = created.json()
    assert isinstance(data["id"], int)
    assert {key: data[key] for key in body} == {**body, "tags": ["smoke", "users"]}
    assert data["scripts"] == [] and data["description"] == ""
    assert list(data["steps"][0]) == list(STEP)  # the documented key order, whatever jsonb keeps
    event = AuditEvent.objects.get(action="scenario.created")
    assert (event.target, event.actor_label) == (
        "Sign up",
        "API key CI (" + event.actor_api_key.prefix + "…)",
    )


def test_a_bad_step_is_422_with_a_message_naming_the_step_and_nothing_is_written(api, cast):
    response = api.post(url(cast), json={"name": "Bad", "steps": [STEP, {**STEP, "method": "FETCH"}]})
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "validation_failed"
    assert error["fields"]["steps"] == [
        "Step 2: method must be one of GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS (got “FETCH”)."
    ]
    assert not Scenario.objects.exists()


def test_every_bad_field_is_reported_at_once(api, cast):
    response = api.post(
        url(cast), json={"name": " ", "status": "live", "priority": "urgent", "tags": ["a b c", "!"]}
    )
    assert response.status_code == 422
    assert set(response.json()["error"]["fields"]) == {"name", "status", "priority", "tags"}


def test_names_are_unique_per_project_whatever_their_case(api, cast):
    create(api, cast, name="Sign up")
    response = api.post(url(cast), json={"name": "SIGN UP"})
    assert (response.status_code, error_code(response)) == (409, "scenario_name_taken")
    assert response.json()["error"]["fields"] == {
        "name": ["This project already has a scenario named “SIGN UP”."]
    }
    other_org = cast.other_project.organization
    other = ApiKey.issue(organization=other_org, project=cast.other_project, name="o", scope="write")[1]
    response = ApiClient(other).post(
        f"/api/v1/p/{cast.other_project.slug}/scenarios", json={"name": "Sign up"}
    )
    assert response.status_code == 201  # another project may use the name


def test_get_patch_and_delete(api, cast):
    scenario = create(api, cast)
    one = api.get(url(cast, f"/{scenario['id']}"))
    assert one.json() == scenario
    patched = api.patch(url(cast, f"/{scenario['id']}"), json={"status": "active", "steps": []})
    assert patched.status_code == 200
    assert (patched.json()["status"], patched.json()["steps"], patched.json()["name"]) == (
        "active",
        [],
        "Sign up",
    )
    assert AuditEvent.objects.get(action="scenario.updated").details == {"fields": ["status", "steps"]}
    unchanged = api.patch(url(cast, f"/{scenario['id']}"), json={"status": "active"})
    assert unchanged.status_code == 200 and AuditEvent.objects.filter(action="scenario.updated").count() == 1
    assert api.delete(url(cast, f"/{scenario['id']}")).status_code == 204
    assert api.get(url(cast, f"/{scenario['id']}")).status_code == 404
    assert error_code(api.delete(url(cast, f"/{scenario['id']}"))) == "scenario_not_found"


def test_a_scenario_of_another_project_is_not_found(api, cast):
    other = Scenario.objects.create(project=cast.other_project, name="Theirs")
    for response in (
        api.get(url(cast, f"/{other.pk}")),
        api.patch(url(cast, f"/{other.pk}"), json={"name": "Mine"}),
        api.delete(url(cast, f"/{other.pk}")),
        api.get(url(cast, f"/{other.pk}/export")),
        api.post(url(cast, f"/{other.pk}/duplicate")),
    ):
        assert (response.status_code, error_code(response)) == (404, "scenario_not_found")
    assert Scenario.objects.get(pk=other.pk).name == "Theirs"


def test_the_list_pages_with_a_cursor_and_filters(api, cast):
    for number in range(5):
        create(
            api,
            cast,
            name=f"Scenario {number}",
            tags=["smoke"] if number % 2 else ["nightly"],
            status="active" if number < 2 else "draft",
            priority="critical" if number == 4 else "medium",
        )
    first = api.get(url(cast), limit=2).json()
    assert [item["name"] for item in first["items"]] == ["Scenario 4", "Scenario 3"]
    second = api.get(url(cast), limit=2, cursor=first["next_cursor"]).json()
    assert [item["name"] for item in second["items"]] == ["Scenario 2", "Scenario 1"]

    def names(**filters):
        return sorted(item["name"] for item in api.get(url(cast), **filters).json()["items"])

    assert names(tag="smoke") == ["Scenario 1", "Scenario 3"]
    assert names(tag="SMOKE", status="active") == ["Scenario 1"]
    assert names(priority="critical") == ["Scenario 4"]
    assert names(q="ario 2") == ["Scenario 2"]
    response = api.get(url(cast), status="live")
    assert (response.status_code, error_code(response)) == (422, "validation_failed")


def test_duplicate_copies_steps_and_scripts_as_a_draft(api, cast):
    scenario = create(api, cast, status="active")
    api.post(
        url(cast, f"/{scenario['id']}/scripts"),
        json={"name": "Seed", "language": "shell", "source": "echo hi"},
    )
    copy = api.post(url(cast, f"/{scenario['id']}/duplicate"))
    assert copy.status_code == 201
    data = copy.json()
    assert (data["name"], data["status"], data["steps"]) == ("Sign up (copy)", "draft", scenario["steps"])
    assert [(s["name"], s["source"]) for s in data["scripts"]] == [("Seed", "echo hi")]
    again = api.post(url(cast, f"/{scenario['id']}/duplicate")).json()
    assert again["name"] == "Sign up (copy) (2)"


def test_scripts_are_added_changed_and_removed(api, cast):
    scenario = create(api, cast)
    added = api.post(url(cast, f"/{scenario['id']}/scripts"), json={"name": "Seed", "source": "print(1)"})
    assert added.status_code == 201
    script = added.json()
    assert (script["language"], script["source"]) == ("python", "print(1)")
    bad = api.post(url(cast, f"/{scenario['id']}/scripts"), json={"name": "X", "language": "cobol"})
    assert bad.status_code == 422 and "language" in bad.json()["error"]["fields"]
    patched = api.patch(
        url(cast, f"/{scenario['id']}/scripts/{script['id']}"), json={"language": "javascript"}
    )
    assert patched.json()["language"] == "javascript"
    assert api.get(url(cast, f"/{scenario['id']}")).json()["scripts"][0]["language"] == "javascript"
    assert api.delete(url(cast, f"/{scenario['id']}/scripts/{script['id']}")).status_code == 204
    assert not Script.objects.exists()
    actions = list(AuditEvent.objects.filter(action__startswith="script.").values_list("action", flat=True))
    assert sorted(actions) == ["script.created", "script.deleted", "script.updated"]


def test_a_script_is_reached_only_through_its_scenario(api, cast):
    first, second = create(api, cast, name="One"), create(api, cast, name="Two")
    script = api.post(url(cast, f"/{first['id']}/scripts"), json={"name": "Seed"}).json()
    response = api.delete(url(cast, f"/{second['id']}/scripts/{script['id']}"))
    assert (response.status_code, error_code(response)) == (404, "script_not_found")


def test_collections_keep_their_scenarios_in_order(api, cast):
    one, two, three = (create(api, cast, name=name) for name in ("One", "Two", "Three"))
    collections = f"/api/v1/p/{cast.project.slug}/collections"
    created = api.post(collections, json={"name": "Smoke", "scenario_ids": [three["id"], one["id"]]})
    assert created.status_code == 201
    collection = created.json()
    assert collection["scenario_ids"] == [three["id"], one["id"]]
    patched = api.patch(
        f"{collections}/{collection['id']}", json={"scenario_ids": [one["id"], two["id"], three["id"]]}
    )
    assert patched.json()["scenario_ids"] == [one["id"], two["id"], three["id"]]
    assert api.get(collections).json()["items"][0]["scenario_ids"] == [one["id"], two["id"], three["id"]]
    taken = api.post(collections, json={"name": "smoke"})
    assert (taken.status_code, error_code(taken)) == (409, "collection_name_taken")
    foreign = Scenario.objects.create(project=cast.other_project, name="Theirs")
    refused = api.patch(f"{collections}/{collection['id']}", json={"scenario_ids": [one["id"], foreign.pk]})
    assert refused.status_code == 422
    assert refused.json()["error"]["fields"]["scenario_ids"] == [
        f"No scenario with id {foreign.pk} in this project."
    ]
    repeated = api.patch(f"{collections}/{collection['id']}", json={"scenario_ids": [one["id"], one["id"]]})
    assert repeated.status_code == 422
    api.delete(url(cast, f"/{two['id']}"))  # a deleted scenario leaves the collection
    assert api.get(f"{collections}/{collection['id']}").json()["scenario_ids"] == [one["id"], three["id"]]
    assert api.delete(f"{collections}/{collection['id']}").status_code == 204
    assert not Collection.objects.exists() and Scenario.objects.filter(project=cast.project).count() == 2


def test_a_read_key_reads_but_does_not_write(cast, api):
    scenario = create(api, cast)
    reader = ApiClient(ApiKey.issue(organization=cast.org, name="r", scope="read", created_by=cast.owner)[1])
    assert reader.get(url(cast, f"/{scenario['id']}")).status_code == 200
    assert reader.get(url(cast, f"/{scenario['id']}/export")).status_code == 200
    response = reader.post(url(cast), json={"name": "No"})
    assert (response.status_code, error_code(response)) == (403, "insufficient_scope")
    response = reader.post(
        url(cast, "/import"), json={"format": "qodex.scenarios", "version": 1, "scenarios": []}
    )
    assert response.status_code == 403


def test_export_of_several_by_id_keeps_their_order_and_names_missing_ones(api, cast):
    one, two = create(api, cast, name="One"), create(api, cast, name="Two")
    document = api.get(url(cast, "/export"), ids=f"{two['id']},{one['id']}").json()
    assert document["format"] == "qodex.scenarios" and document["version"] == 1
    assert [s["name"] for s in document["scenarios"]] == ["Two", "One"]
    assert [s["name"] for s in api.get(url(cast, "/export")).json()["scenarios"]] == ["One", "Two"]
    missing = api.get(url(cast, "/export"), ids=f"{one['id']},999999")
    assert (missing.status_code, error_code(missing)) == (404, "scenario_not_found")
    assert "999999" in missing.json()["error"]["message"]
    bad = api.get(url(cast, "/export"), ids="one,two")
    assert (bad.status_code, error_code(bad)) == (422, "validation_failed")


def test_a_postman_export_of_ui_scenarios_only_says_there_is_nothing_to_export(api, cast):
    ui = create(api, cast, name="Browser", type="ui", steps=[{"action": "goto", "url": "${baseUrl}/"}])
    response = api.get(url(cast, f"/{ui['id']}/export"), format="postman")
    assert (response.status_code, error_code(response)) == (422, "nothing_to_export")


def test_import_answers_201_with_what_it_created(api, cast):
    create(api, cast, name="Sign up")
    document = {
        "format": "qodex.scenarios",
        "version": 1,
        "scenarios": [{"name": "Sign up", "steps": [STEP]}, {"name": "Browse", "steps": []}],
    }
    response = api.post(url(cast, "/import"), json=document)
    assert response.status_code == 201
    created = response.json()["created"]
    assert [item["name"] for item in created] == ["Sign up (2)", "Browse"]
    assert all(Scenario.objects.filter(pk=item["id"], project=cast.project).exists() for item in created)


def test_a_bad_import_is_422_and_creates_nothing(api, cast):
    document = {
        "format": "qodex.scenarios",
        "version": 1,
        "scenarios": [{"name": "Fine", "steps": [STEP]}, {"name": "Broken", "steps": [{"method": "GET"}]}],
    }
    response = api.post(url(cast, "/import"), json=document)
    assert response.status_code == 422
    assert response.json()["error"]["fields"]["document"] == [
        "Scenario 2 (“Broken”): Step 1: target is required: the URL to call, e.g. ${API_BASE_URL}/users."
    ]
    assert not Scenario.objects.exists()
    for body, message in (
        ({"format": "qodex.scenarios", "version": 2, "scenarios": []}, "This document is version 2"),
        ({"hello": "world"}, "This is neither a Qodex scenarios export"),
        ({"format": "qodex.scenarios", "version": 1, "scenarios": []}, "This document holds no scenarios"),
    ):
        response = api.post(url(cast, "/import"), json=body)
        assert response.status_code == 422
        assert response.json()["error"]["message"].startswith(message), response.json()


def test_the_type_changes_only_with_steps_of_the_new_type(api, cast):
    scenario = create(api, cast)
    response = api.patch(url(cast, f"/{scenario['id']}"), json={"type": "ui"})
    assert response.status_code == 422
    assert response.json()["error"]["fields"] == {
        "type": ["Remove the steps before changing the type: API and UI steps differ."]
    }
    browser = [{"action": "goto", "url": "${baseUrl}/"}]
    changed = api.patch(url(cast, f"/{scenario['id']}"), json={"type": "ui", "steps": browser})
    assert changed.status_code == 200 and changed.json()["type"] == "ui"
