"""Export and import of scenarios (SPEC §9): our document round-trips losing nothing, a real-shaped
Postman Collection v2.1 comes in with its folders, variables, auth, bodies and tests, and clashing names
are renamed, never overwritten."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from projects.access import Actor
from projects.models import ApiKey, AuditEvent
from qa import doors
from qa.models import Scenario
from tests.api.conftest import ApiClient

POSTMAN = json.loads((Path(__file__).parent / "data" / "shop.postman_collection.json").read_text())


@pytest.fixture
def keys(cast) -> dict[str, ApiClient]:
    """A write key for each of the cast's two projects."""
    mine = ApiKey.issue(organization=cast.org, name="mine", scope="write", created_by=cast.owner)[1]
    other_org = cast.other_project.organization
    theirs = ApiKey.issue(organization=other_org, project=cast.other_project, name="theirs", scope="write")[1]
    return {"mine": ApiClient(mine), "theirs": ApiClient(theirs)}


def rich_scenarios(cast) -> list[Scenario]:
    actor = Actor(user=cast.owner)
    checkout = doors.create_scenario(
        actor,
        cast.project,
        {
            "name": "Checkout — déjà vu ✓",
            "description": "Orders and pays.\nSecond line.",
            "status": "active",
            "priority": "critical",
            "tags": ["checkout", "smoke"],
            "steps": [
                {
                    "name": "Log in",
                    "method": "POST",
                    "target": "${API_BASE_URL}/login",
                    "headers": {"Content-Type": "application/json", "X-Trace": "${traceId}"},
                    "body": {"email": "${authEmail}", "nested": {"list": [1, 2.5, None, True, "x"]}},
                    "expected_status": 200,
                    "captures": [
                        {"as": "token", "from": "$.data.token"},
                        {"as": "firstId", "from": "$..items[0].id"},
                    ],
                    "expectations": [
                        {"kind": "jsonpath", "path": "$.data.token", "exists": True},
                        {"kind": "jsonpath", "path": "$.data.role", "equals": "admin"},
                        {"kind": "jsonpath", "path": "$.data.count", "greater_than": 2},
                        {"kind": "jsonpath", "path": "$.data.name", "matches": "^A.*$"},
                        {"kind": "jsonpath", "path": "$.data.missing", "exists": False},
                    ],
                },
                {
                    "name": "Raw text",
                    "method": "PUT",
                    "target": "https://api.shop.test/notes",
                    "body": "plain $${literal}",
                },
                {"method": "DELETE", "target": "${API_BASE_URL}/orders/${orderId}", "security": True},
            ],
        },
    )
    doors.add_script(
        actor, cast.project, checkout, {"name": "Seed", "language": "python", "source": "print('é')\n"}
    )
    doors.add_script(
        actor, cast.project, checkout, {"name": "Cleanup", "language": "shell", "source": "rm -rf /tmp/x"}
    )
    browser = doors.create_scenario(
        actor,
        cast.project,
        {
            "name": "Browser login",
            "type": "ui",
            "tags": ["ui"],
            "steps": [
                {"action": "goto", "url": "${baseUrl}/login"},
                {"name": "Email", "action": "fill", "selector": "#email", "value": "${authEmail}"},
            ],
        },
    )
    empty = doors.create_scenario(actor, cast.project, {"name": "Empty", "priority": "low"})
    return [checkout, browser, empty]


def without_time(document: dict) -> dict:
    return {key: value for key, value in document.items() if key != "exported_at"}


def test_export_then_import_into_another_project_loses_nothing(cast, keys):
    rich_scenarios(cast)
    exported = keys["mine"].get(f"/api/v1/p/{cast.project.slug}/scenarios/export").json()
    assert [s["name"] for s in exported["scenarios"]] == ["Checkout — déjà vu ✓", "Browser login", "Empty"]
    imported = keys["theirs"].post(f"/api/v1/p/{cast.other_project.slug}/scenarios/import", json=exported)
    assert imported.status_code == 201
    assert [item["name"] for item in imported.json()["created"]] == [s["name"] for s in exported["scenarios"]]
    again = keys["theirs"].get(f"/api/v1/p/{cast.other_project.slug}/scenarios/export").json()
    assert without_time(again) == without_time(exported)


def test_the_steps_of_the_document_are_exactly_the_stored_ones(cast, keys):
    checkout = rich_scenarios(cast)[0]
    document = keys["mine"].get(f"/api/v1/p/{cast.project.slug}/scenarios/{checkout.pk}/export").json()
    (entry,) = document["scenarios"]
    assert entry["steps"] == Scenario.objects.get(pk=checkout.pk).steps
    assert entry["scripts"] == [
        {"name": "Seed", "language": "python", "source": "print('é')\n"},
        {"name": "Cleanup", "language": "shell", "source": "rm -rf /tmp/x"},
    ]
    assert set(entry) == {"name", "description", "type", "status", "priority", "tags", "steps", "scripts"}


def test_a_page_download_imports_back_through_the_page(cast, login):
    rich_scenarios(cast)
    client = login(cast.member)
    download = client.get(f"/p/{cast.project.slug}/scenarios/export/")
    assert (
        download["Content-Disposition"]
        == f'attachment; filename="{cast.project.slug}-scenarios.qodex-scenarios.json"'
    )
    exported = json.loads(download.content)
    Scenario.objects.filter(project=cast.project).delete()
    response = client.post(
        f"/p/{cast.project.slug}/scenarios/import/", {"document": download.content.decode()}
    )
    assert response.status_code == 302
    again = json.loads(client.get(f"/p/{cast.project.slug}/scenarios/export/").content)
    assert without_time(again) == without_time(exported)


def test_clashing_names_are_renamed_never_overwritten(cast, keys):
    actor = Actor(user=cast.owner)
    original = doors.create_scenario(actor, cast.project, {"name": "Login", "steps": []})
    doors.create_scenario(actor, cast.project, {"name": "Login (2)"})
    document = {
        "format": "qodex.scenarios",
        "version": 1,
        "scenarios": [
            {"name": "login", "tags": ["new"]},
            {"name": "Login"},
            {"name": "Login (2)"},
            {"name": "Fresh"},
        ],
    }
    created = (
        keys["mine"].post(f"/api/v1/p/{cast.project.slug}/scenarios/import", json=document).json()["created"]
    )
    assert [item["name"] for item in created] == ["login (3)", "Login (4)", "Login (5)", "Fresh"]
    assert Scenario.objects.get(pk=original.pk).tags == []  # untouched
    event = AuditEvent.objects.get(action="scenario.imported")
    assert event.target == "4 scenarios"
    assert event.details["renamed"] == {"login": "login (3)", "Login": "Login (4)", "Login (2)": "Login (5)"}


def test_a_long_name_stays_within_the_limit_when_renamed(cast):
    actor = Actor(user=cast.owner)
    doors.create_scenario(actor, cast.project, {"name": "x" * 200})
    (copy,) = doors.import_scenarios(
        actor, cast.project, {"format": "qodex.scenarios", "version": 1, "scenarios": [{"name": "x" * 200}]}
    )
    assert copy.name == "x" * 196 + " (2)"


# --- Postman -----------------------------------------------------------------------------------------------


def imported_postman(cast) -> dict[str, Scenario]:
    created = doors.import_scenarios(Actor(user=cast.owner), cast.project, POSTMAN)
    return {scenario.name: Scenario.objects.get(pk=scenario.pk) for scenario in created}


def test_postman_folders_become_scenarios_and_loose_requests_one_named_after_the_collection(cast):
    scenarios = imported_postman(cast)
    assert list(scenarios) == ["Shop API", "Auth", "Users"]
    assert [step["name"] for step in scenarios["Users"].steps] == [
        "List users",
        "Create user",
        "Admin / Delete user",
        "Admin / Audit report",
    ]
    assert all(s.status == "draft" and s.tags == ["postman"] and s.type == "api" for s in scenarios.values())


def test_postman_requests_keep_method_url_headers_and_raw_json_bodies_with_variables(cast):
    (login,) = imported_postman(cast)["Auth"].steps
    assert login["method"] == "POST"
    assert login["target"] == "${baseUrl}/auth/login"
    assert login["headers"] == {"Content-Type": "application/json"}  # the disabled one is left out
    assert login["body"] == {"email": "${email}", "password": "${password}"}
    assert "Authorization" not in login["headers"]  # the request says noauth


def test_postman_tests_give_the_expected_status_captures_and_expectations(cast):
    scenarios = imported_postman(cast)
    (login,) = scenarios["Auth"].steps
    assert login["expected_status"] == 200
    assert login["captures"] == [{"as": "token", "from": "$.data.token"}]
    assert login["expectations"] == [{"kind": "jsonpath", "path": "$.data.user.role", "equals": "admin"}]
    listing, create, delete, _ = scenarios["Users"].steps
    assert listing["expected_status"] == 200
    assert listing["expectations"] == [{"kind": "jsonpath", "path": "$.data[0].id", "exists": True}]
    assert create["expected_status"] == 201
    assert create["captures"] == [{"as": "userId", "from": "$.id"}]
    assert delete["expected_status"] is None


def test_postman_auth_is_inherited_and_a_literal_credential_is_never_copied(cast):
    scenarios = imported_postman(cast)
    listing, create, delete, audit = scenarios["Users"].steps
    assert listing["headers"] == {"Accept": "application/json", "Authorization": "Bearer ${token}"}
    assert listing["target"] == "${baseUrl}/users?page=1&per_page=${pageSize}"
    assert delete["target"] == "${baseUrl}/users/${userId}" and delete["destructive"] is True
    assert audit["headers"] == {"X-Api-Key": "${apiKey}"}
    stored = json.dumps([s.steps for s in scenarios.values()]) + json.dumps(
        [s.description for s in scenarios.values()]
    )
    assert "live-secret-key-123" not in stored
    assert "A credential written into the collection was not copied: ${apiKey} stands in for it." in (
        scenarios["Users"].description
    )


def test_postman_url_encoded_bodies_and_dynamic_variables(cast):
    users = imported_postman(cast)["Users"]
    create = users.steps[1]
    assert create["headers"]["Content-Type"] == "application/x-www-form-urlencoded"
    assert create["body"] == "name=Ada&email=ada%2B${$timestamp}%40shop.test"
    assert "Postman’s dynamic variables have no Qodex equivalent: $timestamp." in users.description


def test_postman_descriptions_name_the_variables_to_define_and_scripts_are_kept(cast):
    scenarios = imported_postman(cast)
    users = scenarios["Users"]
    assert users.description.startswith("User management.\nImported from the Postman collection “Shop API”.")
    assert "Define these variables on your environments: apiKey, pageSize, token." in users.description
    # baseUrl is a built-in; the collection's bearer auth uses token.
    assert scenarios["Shop API"].description.endswith("Define these variables on your environments: token.")
    # userId is captured by an earlier step of the scenario, so it is not asked for.
    (script,) = users.scripts.all()
    assert (script.name, script.language) == ("Postman scripts", "javascript")
    assert "// Collection: prerequest\nconsole.log('running', pm.info.requestName);" in script.source
    assert "pm.collectionVariables.set('userId', pm.response.json().id);" in script.source


def test_our_postman_export_imports_back_with_its_requests_and_checks(cast, keys):
    checkout = rich_scenarios(cast)[0]
    collection = (
        keys["mine"]
        .get(f"/api/v1/p/{cast.project.slug}/scenarios/{checkout.pk}/export", format="postman")
        .json()
    )
    assert collection["info"]["schema"].endswith("/v2.1.0/collection.json")
    (folder,) = collection["item"]
    assert folder["item"][0]["request"]["url"] == {"raw": "{{API_BASE_URL}}/login"}
    assert folder["item"][1]["request"]["body"] == {"mode": "raw", "raw": "plain ${literal}"}
    assert {"key": "traceId", "value": ""} in collection["variable"]
    response = keys["theirs"].post(f"/api/v1/p/{cast.other_project.slug}/scenarios/import", json=collection)
    assert response.status_code == 201
    (back,) = Scenario.objects.filter(project=cast.other_project)
    original = Scenario.objects.get(pk=checkout.pk).steps
    for mine, theirs in zip(original, back.steps, strict=True):
        for key in ("name", "method", "target", "headers", "body", "expected_status"):
            assert theirs[key] == mine[key], key
    assert back.steps[0]["captures"] == [{"as": "token", "from": "$.data.token"}]  # $..items has no JS line
    assert back.steps[0]["expectations"] == [
        {"kind": "jsonpath", "path": "$.data.role", "equals": "admin"},
        {"kind": "jsonpath", "path": "$.data.token", "exists": True},
    ]


def test_a_postman_v1_collection_or_garbage_is_refused_with_a_sentence(cast):
    actor = Actor(user=cast.owner)
    for document, message in (
        (
            {"info": {"schema": "https://schema.getpostman.com/json/collection/v1.0.0/"}, "item": []},
            "Postman v1",
        ),
        ({"info": {"name": "x"}, "item": "nope"}, "A Postman collection’s “item” must be a list"),
        ([1, 2], "This is neither a Qodex scenarios export"),
        ({"info": {"name": "Empty"}, "item": []}, "This document holds no scenarios to import."),
    ):
        with pytest.raises(doors.Invalid) as refused:
            doors.import_scenarios(actor, cast.project, document)
        assert refused.value.message.startswith(message)
    assert not Scenario.objects.exists()
