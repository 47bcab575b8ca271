"""The scenario pages (/p/<slug>/scenarios/, SPEC §4, §9): the list and its filters, the steps editor
(rows added, moved and removed; problems shown on their step; a save that loses nothing), duplicate,
delete, scripts, export and import, collections, and constant query counts."""

from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext

from environments.models import Environment
from projects.access import Actor
from projects.models import AuditEvent
from qa import doors
from qa.models import Collection, Scenario, Script
from tests.qa.html_forms import posted_form

HTMX = {"HTTP_HX_REQUEST": "true"}
STEPS = [
    {
        "name": "Log in",
        "method": "POST",
        "target": "${API_BASE_URL}/login",
        "headers": {"Content-Type": "application/json", "X-Trace": "a: b"},
        "body": {"email": "${authEmail}", "list": [1, 2]},
        "expected_status": 200,
        "captures": [{"as": "token", "from": "$.data.token"}],
        "expectations": [
            {"kind": "jsonpath", "path": "$.data.token", "exists": True},
            {"kind": "jsonpath", "path": "$.data.role", "equals": "admin"},
            {"kind": "jsonpath", "path": "$.data.count", "equals": "42"},
            {"kind": "jsonpath", "path": "$.data.name", "matches": "^A b$"},
            {"kind": "jsonpath", "path": "$.gone", "exists": False},
        ],
    },
    {"name": "Text body", "method": "PUT", "target": "https://api.test/n", "body": "42"},
    {"name": "Plain text", "method": "PATCH", "target": "https://api.test/p", "body": "hello"},
    {"name": "Remove", "method": "DELETE", "target": "${API_BASE_URL}/users/${token}", "security": True},
]


def base(cast) -> str:
    return f"/p/{cast.project.slug}/scenarios/"


def a_scenario(cast, name="Login flow", **fields) -> Scenario:
    return doors.create_scenario(
        Actor(user=cast.owner), cast.project, {"name": name, "steps": STEPS, **fields}
    )


# --- the list -----------------------------------------------------------------------------------------


def test_an_empty_list_offers_new_generate_and_import_to_members_only(cast, login):
    page = login(cast.member).get(base(cast)).content.decode()
    assert "No scenarios yet." in page and "New scenario" in page and "Generate with AI" in page
    page = login(cast.viewer).get(base(cast)).content.decode()
    assert "No scenarios yet." in page and "New scenario" not in page
    assert "Members of the project can add them." in page


def test_the_list_filters_by_tag_status_and_priority(cast, login):
    a_scenario(cast, "Smoke login", tags=["smoke", "auth"], status="active", priority="critical")
    a_scenario(cast, "Nightly export", tags=["nightly"], status="draft", priority="low")
    a_scenario(cast, "Smoke search", tags=["smoke"], status="draft", priority="high")
    client = login(cast.viewer)

    def listed(query: str) -> list[str]:
        page = client.get(base(cast) + query).content.decode()
        return sorted(
            name for name in ("Smoke login", "Nightly export", "Smoke search") if f">{name}</a>" in page
        )

    assert listed("") == ["Nightly export", "Smoke login", "Smoke search"]
    assert listed("?tag=smoke") == ["Smoke login", "Smoke search"]
    assert listed("?tag=smoke&status=draft") == ["Smoke search"]
    assert listed("?priority=low") == ["Nightly export"]
    assert listed("?q=search") == ["Smoke search"]
    assert listed("?status=bogus") == ["Nightly export", "Smoke login", "Smoke search"]  # ignored
    page = client.get(base(cast) + "?tag=none").content.decode()
    assert "No scenario matches these filters." in page


def queries(client, url) -> int:
    client.get(url)  # the session's first touch costs its own queries
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured)


@pytest.mark.parametrize("query", ["", "?tag=smoke&status=active&priority=high&q=s"])
def test_the_list_costs_the_same_queries_for_2_or_30_scenarios(cast, login, query):
    client = login(cast.member)
    for number in range(2):
        a_scenario(cast, f"Scenario {number}", tags=["smoke"], status="active", priority="high")
    few = queries(client, base(cast) + query)
    for number in range(2, 30):
        a_scenario(cast, f"Scenario {number}", tags=["smoke", f"t{number}"], status="active", priority="high")
    assert queries(client, base(cast) + query) == few


def test_the_scenario_page_costs_the_same_queries_for_2_or_40_steps_and_scripts(cast, login):
    scenario = a_scenario(cast)
    client = login(cast.member)
    url = f"{base(cast)}{scenario.pk}/"
    few = queries(client, url)
    doors.update_scenario(Actor(user=cast.owner), cast.project, scenario, {"steps": STEPS * 10})
    for number in range(10):
        doors.add_script(Actor(user=cast.owner), cast.project, scenario, {"name": f"S{number}"})
    assert queries(client, url) == few


def test_the_collections_list_costs_the_same_queries_for_2_or_20(cast, login):
    scenario = a_scenario(cast)
    client = login(cast.member)
    for number in range(2):
        doors.create_collection(
            Actor(user=cast.owner), cast.project, {"name": f"C{number}", "scenario_ids": [scenario.pk]}
        )
    few = queries(client, f"{base(cast)}collections/")
    for number in range(2, 20):
        doors.create_collection(
            Actor(user=cast.owner), cast.project, {"name": f"C{number}", "scenario_ids": [scenario.pk]}
        )
    assert queries(client, f"{base(cast)}collections/") == few


# --- create and edit -----------------------------------------------------------------------------------


def new_form(**changes) -> dict[str, str]:
    data = {
        "name": "Sign up",
        "tags": "Smoke, sign up",
        "status": "draft",
        "priority": "high",
        "description": "",
        "type": "api",
        "steps-TOTAL": "2",
        "steps-0-name": "Create",
        "steps-0-method": "POST",
        "steps-0-target": "${API_BASE_URL}/users",
        "steps-0-expected_status": "201",
        "steps-0-headers": "Content-Type: application/json\nX-Api-Version: 2",
        "steps-0-body": '{"email": "${authEmail}"}',
        "steps-0-captures": "userId = $.id",
        "steps-0-expectations": '$.id exists\n$.role equals "member"\n$.email matches ^a.+@',
        "steps-1-method": "DELETE",
        "steps-1-target": "${API_BASE_URL}/users/${userId}",
        "steps-1-destructive": "on",
    }
    data.update(changes)
    return data


def test_a_member_creates_a_scenario_with_its_steps(cast, login):
    response = login(cast.member).post(f"{base(cast)}new/", new_form())
    scenario = Scenario.objects.get(project=cast.project)
    assert response.status_code == 302 and response["Location"] == f"{base(cast)}{scenario.pk}/"
    assert (scenario.tags, scenario.priority, scenario.created_by) == (
        ["smoke", "sign-up"],
        "high",
        cast.member,
    )
    create, delete = scenario.steps
    assert create["headers"] == {"Content-Type": "application/json", "X-Api-Version": "2"}
    assert create["body"] == {"email": "${authEmail}"}
    assert create["captures"] == [{"as": "userId", "from": "$.id"}]
    assert create["expectations"] == [
        {"kind": "jsonpath", "path": "$.id", "exists": True},
        {"kind": "jsonpath", "path": "$.role", "equals": "member"},
        {"kind": "jsonpath", "path": "$.email", "matches": "^a.+@"},
    ]
    assert (delete["name"], delete["destructive"], delete["expected_status"]) == (
        "DELETE ${API_BASE_URL}/users/${userId}",
        True,
        None,
    )
    assert AuditEvent.objects.filter(action="scenario.created", target="Sign up").count() == 1


def test_problems_show_on_their_step_and_nothing_is_saved(cast, login):
    form = new_form(**{"steps-1-method": "FETCH", "steps-0-body": '{"email": ', "steps-0-captures": "userId"})
    response = login(cast.member).post(f"{base(cast)}new/", form)
    assert response.status_code == 400
    page = response.content.decode()
    assert "Body is not valid JSON (line 1, column 11)." in page
    assert "Capture line 1 must look like userId = $.id." in page
    assert 'id="step-1"' in page and "step-invalid" in page
    assert "3 problems in the steps: see the steps marked below." in page
    second = page[page.index('id="step-2"') :]
    assert "Method must be one of GET, POST" in second
    assert not Scenario.objects.exists()
    # The person's text stays in the form.
    assert "${API_BASE_URL}/users/${userId}" in page and "X-Api-Version: 2" in page


def test_the_second_steps_problem_is_on_the_second_step(cast, login):
    response = login(cast.member).post(f"{base(cast)}new/", new_form(**{"steps-1-method": "FETCH"}))
    page = response.content.decode()
    second = page[page.index('id="step-2"') :]
    assert "Method must be one of GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS (got “FETCH”)." in second
    assert "Method must be one of" not in page[page.index('id="step-1"') : page.index('id="step-2"')]


def test_a_taken_name_is_an_error_under_the_name(cast, login):
    a_scenario(cast, "Sign up")
    response = login(cast.member).post(f"{base(cast)}new/", new_form(name="SIGN UP"))
    assert response.status_code == 400
    assert "This project already has a scenario named “SIGN UP”." in response.content.decode()
    assert Scenario.objects.count() == 1


def test_saving_the_page_as_it_is_changes_nothing(cast, login):
    scenario = a_scenario(cast)
    client = login(cast.member)
    data = posted_form(client.get(f"{base(cast)}{scenario.pk}/").content.decode())
    assert data["steps-TOTAL"] == "4" and data["steps-0-expectations"].startswith("$.data.token exists")
    response = client.post(f"{base(cast)}{scenario.pk}/", data)
    assert response.status_code == 302, response.content.decode()[:2000]
    assert Scenario.objects.get(pk=scenario.pk).steps == scenario.steps
    assert not AuditEvent.objects.filter(action="scenario.updated").exists()  # nothing changed


def test_editing_a_step_saves_the_change(cast, login):
    scenario = a_scenario(cast)
    client = login(cast.member)
    data = posted_form(client.get(f"{base(cast)}{scenario.pk}/").content.decode())
    data.update({"steps-1-expected_status": "204", "status": "active", "steps-3-security": ""})
    del data["steps-3-security"]
    client.post(f"{base(cast)}{scenario.pk}/", data)
    scenario.refresh_from_db()
    assert scenario.status == "active" and scenario.steps[1]["expected_status"] == 204
    assert scenario.steps[3]["security"] is False
    assert AuditEvent.objects.get(action="scenario.updated").details == {"fields": ["status", "steps"]}


def test_add_move_and_remove_rows_come_back_in_place_under_htmx_and_save_nothing(cast, login):
    scenario = a_scenario(cast)
    client = login(cast.member)
    url = f"{base(cast)}{scenario.pk}/"
    data = posted_form(client.get(url).content.decode())
    added = client.post(url, {**data, "op": "add"}, **HTMX)
    assert added.status_code == 200
    fragment = added.content.decode()
    assert fragment.lstrip().startswith('<div id="steps-editor"') and "<html" not in fragment
    assert 'name="steps-TOTAL" value="5"' in fragment and "Unsaved changes" in fragment
    moved = posted_form(
        f'<form id="f">{client.post(url, {**data, "op": "down-0"}, **HTMX).content.decode()}</form>', "f"
    )
    assert (moved["steps-0-name"], moved["steps-1-name"]) == ("Text body", "Log in")
    assert moved["steps-1-expectations"] == data["steps-0-expectations"]
    removed = posted_form(
        f'<form id="f">{client.post(url, {**data, "op": "remove-1"}, **HTMX).content.decode()}</form>', "f"
    )
    assert removed["steps-TOTAL"] == "3" and removed["steps-1-name"] == "Plain text"
    assert Scenario.objects.get(pk=scenario.pk).steps == scenario.steps


def test_without_javascript_a_row_button_brings_the_whole_page_back(cast, login):
    scenario = a_scenario(cast)
    client = login(cast.member)
    url = f"{base(cast)}{scenario.pk}/"
    data = posted_form(client.get(url).content.decode())
    page = client.post(url, {**data, "op": "up-3"}).content.decode()
    assert "<html" in page and "Unsaved changes: press <strong>Save</strong> to keep them." in page
    data = posted_form(page)
    assert data["steps-0-name"] == "Log in" and data["steps-2-name"] == "Remove"
    client.post(url, data)
    assert [step["name"] for step in Scenario.objects.get(pk=scenario.pk).steps] == [
        "Log in",
        "Text body",
        "Remove",
        "Plain text",
    ]


def test_changing_the_type_of_a_scenario_with_steps_is_refused(cast, login):
    scenario = a_scenario(cast)
    client = login(cast.member)
    data = posted_form(client.get(f"{base(cast)}{scenario.pk}/").content.decode())
    response = client.post(f"{base(cast)}{scenario.pk}/", {**data, "type": "ui"})
    assert response.status_code == 400
    assert "Remove the steps before changing the type" in response.content.decode()
    assert Scenario.objects.get(pk=scenario.pk).type == "api"


def test_a_ui_scenario_is_edited_as_json(cast, login):
    client = login(cast.member)
    response = client.post(
        f"{base(cast)}new/?type=ui",
        {
            "name": "Browser",
            "status": "draft",
            "priority": "medium",
            "type": "ui",
            "steps_json": '[{"action": "click"}]',
        },
    )
    assert response.status_code == 400 and "Step 1: click needs a selector." in response.content.decode()
    steps = '[{"action": "goto", "url": "${baseUrl}/"}]'
    client.post(
        f"{base(cast)}new/?type=ui",
        {"name": "Browser", "status": "draft", "priority": "medium", "type": "ui", "steps_json": steps},
    )
    scenario = Scenario.objects.get(name="Browser")
    assert scenario.type == "ui" and scenario.steps == [
        {"name": "goto ${baseUrl}/", "action": "goto", "url": "${baseUrl}/"}
    ]


def test_viewers_read_the_steps_but_get_no_form(cast, login):
    scenario = a_scenario(cast)
    page = login(cast.viewer).get(f"{base(cast)}{scenario.pk}/").content.decode()
    assert 'id="scenario-form"' not in page and "Duplicate" not in page
    assert "${API_BASE_URL}/users/${token}" in page and "$.data.role equals &quot;admin&quot;" in page
    response = login(cast.viewer).post(f"{base(cast)}{scenario.pk}/", {"action": "duplicate"})
    assert response.status_code == 403 and Scenario.objects.count() == 1


def test_run_now_needs_an_environment_to_run_against(cast, login):
    scenario = a_scenario(cast)
    page = login(cast.member).get(f"{base(cast)}{scenario.pk}/").content.decode()
    assert 'name="scenario_id"' not in page and "add an environment" in page
    Environment.objects.create(project=cast.project, name="Staging", base_url="https://staging.example.com")
    page = login(cast.member).get(f"{base(cast)}{scenario.pk}/").content.decode()
    assert f'action="/p/{cast.project.slug}/test-runs/start"' in page
    assert f'name="scenario_id" value="{scenario.pk}"' in page and "Run now" in page


# --- duplicate, delete, scripts ----------------------------------------------------------------------


def test_duplicate_lands_on_the_draft_copy(cast, login):
    scenario = a_scenario(cast, status="active")
    response = login(cast.member).post(f"{base(cast)}{scenario.pk}/", {"action": "duplicate"})
    copy = Scenario.objects.get(name="Login flow (copy)")
    assert response["Location"] == f"{base(cast)}{copy.pk}/"
    assert copy.status == "draft" and copy.steps == scenario.steps


def test_delete_asks_first_then_removes(cast, login):
    scenario = a_scenario(cast)
    collection = doors.create_collection(
        Actor(user=cast.owner), cast.project, {"name": "Smoke", "scenario_ids": [scenario.pk]}
    )
    client = login(cast.member)
    page = client.get(f"{base(cast)}{scenario.pk}/delete/").content.decode()
    assert "Delete Login flow?" in page and "It leaves the collection Smoke." in page
    assert Scenario.objects.filter(pk=scenario.pk).exists()
    response = client.post(f"{base(cast)}{scenario.pk}/delete/")
    assert response["Location"] == base(cast)
    assert not Scenario.objects.filter(pk=scenario.pk).exists()
    assert Collection.objects.get(pk=collection.pk).entries.count() == 0


def test_scripts_are_added_edited_and_deleted_on_the_page(cast, login):
    scenario = a_scenario(cast)
    client = login(cast.member)
    url = f"{base(cast)}{scenario.pk}/"
    client.post(url, {"action": "add_script", "name": "Seed", "language": "shell", "source": "echo 1"})
    script = Script.objects.get(scenario=scenario)
    assert (script.name, script.language, script.source) == ("Seed", "shell", "echo 1")
    client.post(
        url,
        {
            "action": "update_script",
            "script_id": script.pk,
            "name": "Seed",
            "language": "shell",
            "source": "echo 2",
        },
    )
    assert Script.objects.get(pk=script.pk).source == "echo 2"
    response = client.post(url, {"action": "add_script", "name": "", "language": "shell"})
    assert response.status_code == 400 and "This field is required." in response.content.decode()
    client.post(url, {"action": "delete_script", "script_id": script.pk})
    assert not Script.objects.exists()


def test_a_script_of_another_scenario_is_not_found(cast, login):
    one, two = a_scenario(cast, "One"), a_scenario(cast, "Two")
    script = doors.add_script(Actor(user=cast.owner), cast.project, one, {"name": "Seed"})
    response = login(cast.member).post(
        f"{base(cast)}{two.pk}/", {"action": "delete_script", "script_id": script.pk}
    )
    assert response.status_code == 404 and Script.objects.filter(pk=script.pk).exists()


# --- export and import ---------------------------------------------------------------------------------


def test_viewers_download_both_export_formats(cast, login):
    scenario = a_scenario(cast, "Login flow")
    client = login(cast.viewer)
    ours = client.get(f"{base(cast)}{scenario.pk}/export/")
    assert (
        ours["Content-Disposition"]
        == f'attachment; filename="{cast.project.slug}-login-flow.qodex-scenarios.json"'
    )
    assert json.loads(ours.content)["scenarios"][0]["steps"] == scenario.steps
    postman = client.get(f"{base(cast)}{scenario.pk}/export/?format=postman")
    assert postman["Content-Disposition"].endswith('.postman_collection.json"')
    assert json.loads(postman.content)["item"][0]["name"] == "Login flow"


def test_exporting_the_list_takes_its_filters(cast, login):
    a_scenario(cast, "One", tags=["smoke"])
    a_scenario(cast, "Two")
    document = json.loads(login(cast.viewer).get(f"{base(cast)}export/?tag=smoke").content)
    assert [s["name"] for s in document["scenarios"]] == ["One"]


def test_a_postman_export_of_a_ui_scenario_says_why_not(cast, login):
    scenario = doors.create_scenario(Actor(user=cast.owner), cast.project, {"name": "B", "type": "ui"})
    response = login(cast.member).get(f"{base(cast)}{scenario.pk}/export/?format=postman", follow=True)
    assert "Postman collections hold API requests" in response.content.decode()


def test_import_by_upload_renames_a_clash_and_lands_on_the_scenario(cast, login):
    a_scenario(cast, "Login flow")
    document = json.dumps(
        {"format": "qodex.scenarios", "version": 1, "scenarios": [{"name": "Login flow", "steps": STEPS}]}
    )
    upload = SimpleUploadedFile("export.json", document.encode(), content_type="application/json")
    response = login(cast.member).post(f"{base(cast)}import/", {"file": upload}, follow=True)
    copy = Scenario.objects.get(name="Login flow (2)")
    assert response.redirect_chain[-1][0] == f"{base(cast)}{copy.pk}/"
    assert "Imported 1 scenario: Login flow (2)." in response.content.decode()


def test_import_of_bad_json_keeps_the_text_and_says_where(cast, login):
    response = login(cast.member).post(
        f"{base(cast)}import/", {"document": '{"format": "qodex.scenarios",\n  oops}'}
    )
    assert response.status_code == 400
    page = response.content.decode()
    assert "This is not valid JSON (line 2, column 3)." in page and "oops}" in page


def test_import_problems_are_listed_and_nothing_is_created(cast, login):
    document = {
        "format": "qodex.scenarios",
        "version": 1,
        "scenarios": [{"name": "X", "steps": [{"method": "GET"}]}],
    }
    response = login(cast.member).post(f"{base(cast)}import/", {"document": json.dumps(document)})
    assert "Scenario 1 (“X”): Step 1: target is required" in response.content.decode()
    assert not Scenario.objects.exists()


# --- collections ---------------------------------------------------------------------------------------


def test_a_collection_is_created_then_ordered_on_its_page(cast, login):
    one, two, three = a_scenario(cast, "A one"), a_scenario(cast, "B two"), a_scenario(cast, "C three")
    client = login(cast.member)
    response = client.post(
        f"{base(cast)}collections/new/", {"name": "Smoke", "scenario_ids": [three.pk, one.pk]}
    )
    collection = Collection.objects.get(project=cast.project)
    assert response["Location"] == f"{base(cast)}collections/{collection.pk}/"
    url = response["Location"]

    def order() -> list[int]:
        return list(collection.entries.order_by("position").values_list("scenario_id", flat=True))

    assert order() == [one.pk, three.pk]  # in the order they are listed
    client.post(url, {"action": "add", "scenario_id": two.pk})
    assert order() == [one.pk, three.pk, two.pk]
    client.post(url, {"action": "up", "position": 2})
    assert order() == [one.pk, two.pk, three.pk]
    client.post(url, {"action": "down", "position": 0})
    assert order() == [two.pk, one.pk, three.pk]
    client.post(url, {"action": "remove", "position": 1})
    assert order() == [two.pk, three.pk]
    client.post(url, {"action": "save", "name": "Smoke suite", "description": "Before each release"})
    collection.refresh_from_db()
    assert (collection.name, collection.description) == ("Smoke suite", "Before each release")
    assert client.post(url, {"action": "up", "position": 9}).status_code == 404
    page = client.get(url).content.decode()
    assert page.index("B two") < page.index("C three")


def test_a_collection_name_clash_is_shown_on_the_form(cast, login):
    doors.create_collection(Actor(user=cast.owner), cast.project, {"name": "Smoke"})
    response = login(cast.member).post(f"{base(cast)}collections/new/", {"name": "smoke"})
    assert response.status_code == 400
    assert "This project already has a collection named “smoke”." in response.content.decode()


def test_deleting_a_collection_keeps_its_scenarios(cast, login):
    scenario = a_scenario(cast)
    collection = doors.create_collection(
        Actor(user=cast.owner), cast.project, {"name": "Smoke", "scenario_ids": [scenario.pk]}
    )
    client = login(cast.member)
    assert "Delete Smoke?" in client.get(f"{base(cast)}collections/{collection.pk}/delete/").content.decode()
    client.post(f"{base(cast)}collections/{collection.pk}/delete/")
    assert not Collection.objects.exists() and Scenario.objects.filter(pk=scenario.pk).exists()


def test_another_projects_scenarios_and_collections_are_404_here(cast, login):
    theirs = Scenario.objects.create(project=cast.other_project, name="Theirs")
    their_collection = Collection.objects.create(project=cast.other_project, name="Theirs")
    client = login(cast.owner)
    for url in (
        f"{theirs.pk}/",
        f"{theirs.pk}/export/",
        f"{theirs.pk}/delete/",
        f"collections/{their_collection.pk}/",
    ):
        assert client.get(base(cast) + url).status_code == 404, url
    mine = doors.create_collection(Actor(user=cast.owner), cast.project, {"name": "Mine"})
    response = client.post(
        f"{base(cast)}collections/{mine.pk}/", {"action": "add", "scenario_id": theirs.pk}, follow=True
    )
    assert f"No scenario with id {theirs.pk} in this project." in response.content.decode()
    assert mine.entries.count() == 0
