"""The environment pages (SPEC §4, §6): list, create from a preset, edit, delete, export, import, preview."""

from __future__ import annotations

import json
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from environments.models import Environment
from projects.models import AuditEvent, ProjectMember
from tests.environments.pages import API_KEY, PASSWORD, TOKEN, form_data, set_sudo, urls, with_secrets


def checked(html: str, name: str) -> bool:
    tag = re.search(rf'<input type="checkbox" name="{name}"[^>]*>', html).group(0)
    return " checked" in tag


def events(action: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action).order_by("pk"))


# --- list -------------------------------------------------------------------------------------------------


def test_the_list_shows_each_environment_with_its_constraints_and_who_updated_it(
    cast, login, make_environment
):
    production = make_environment(name="Production", base_url="https://acme.test", updated_by=cast.member)
    make_environment(name="Local", base_url="http://localhost:3000", read_only=False, max_rps=None)
    body = login(cast.viewer).get(urls(production)["list"]).content.decode()
    row = body[body.index('data-environment="Production"') :]
    row = row[: row.index("</tr>")]
    assert "https://acme.test" in row
    assert "READ-ONLY" in row and "5 rps" in row and "destructive off" in row and "security off" in row
    assert "by member" in row
    assert "no rps limit" in body
    assert body.index('data-environment="Local"') < body.index('data-environment="Production"')


def test_the_empty_list_offers_the_first_environment_to_members_only(cast, login):
    url = f"/p/{cast.project.slug}/settings/environments/"
    assert "New environment" in login(cast.member).get(url).content.decode()
    body = login(cast.viewer).get(url).content.decode()
    assert "No environments yet." in body
    assert "New environment" not in body


def test_the_list_and_an_environment_page_run_a_constant_number_of_queries(cast, login, make_environment):
    client = login(cast.owner)
    first = make_environment(name="Env 0", updated_by=cast.member, variables={"a": ("1", False)})
    pages = [urls(first)["list"], urls(first)["detail"]]
    client.get(pages[0])

    def count() -> list[int]:
        counts = []
        for url in pages:
            with CaptureQueriesContext(connection) as queries:
                assert client.get(url).status_code == 200
            counts.append(len(queries))
        return counts

    make_environment(name="Env 1", updated_by=cast.member)
    small = count()
    for i in range(2, 30):
        make_environment(name=f"Env {i}", updated_by=cast.admin, auth_type="ui_login", ui_login_steps=[])
    for i in range(30):
        first.set_variable(f"v{i}", str(i), secret=i % 2 == 0)
    first.save()
    assert count() == small


# --- create -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("preset", "read_only", "max_rps", "destructive"),
    [("production", True, 5, False), ("staging", False, 20, True), ("local", False, 50, True)],
)
def test_the_new_page_fills_in_a_presets_constraints(cast, login, preset, read_only, max_rps, destructive):
    body = login(cast.member).get(f"/p/{cast.project.slug}/settings/environments/new/?preset={preset}")
    html = body.content.decode()
    assert f'name="max_rps" value="{max_rps}"' in html
    assert checked(html, "read_only") is read_only
    assert checked(html, "allow_destructive") is destructive
    assert checked(html, "allow_security_testing") is False
    assert re.search(f'data-preset="{preset}"[^>]* aria-current="true"', html)


def test_creating_from_the_staging_preset_saves_it_and_records_who(cast, login):
    client = login(cast.member)
    data = form_data(
        name="Staging",
        base_url="https://staging.acme.test/",
        preset="staging",
        read_only=None,
        max_rps="20",
        allow_destructive="on",
        auth_type="api_login",
        auth_email="qa@acme.test",
        auth_password=PASSWORD,
        api_login_config=json.dumps(
            {"method": "POST", "url": "${apiBaseUrl}/login", "token_path": "$.token"}
        ),
        **{"var-0-name": "apiKey", "var-0-value": API_KEY, "var-0-secret": "on"},
        **{"var-1-name": "tenant", "var-1-value": "acme"},
    )
    response = client.post(f"/p/{cast.project.slug}/settings/environments/new/", data)

    environment = Environment.objects.get(project=cast.project)
    assert response.status_code == 302
    assert response["Location"] == f"/p/{cast.project.slug}/settings/environments/{environment.pk}/"
    assert environment.base_url == "https://staging.acme.test"
    assert (environment.read_only, environment.max_rps, environment.allow_destructive) == (False, 20, True)
    assert environment.allow_security_testing is False
    assert environment.auth_password == PASSWORD
    assert environment.get_variables(reveal=True) == {"apiKey": API_KEY, "tenant": "acme"}
    assert environment.secret_variable_names == {"apiKey"}
    assert environment.updated_by == cast.member
    assert environment.ui_login_steps == []  # the untouched example of another auth type isn't kept
    (event,) = events("environment.created")
    assert (event.target, event.actor, event.details["preset"]) == ("Staging", cast.member, "staging")
    assert PASSWORD not in json.dumps(event.details) and API_KEY not in json.dumps(event.details)


def test_bad_input_shows_every_problem_by_its_field_and_creates_nothing(cast, login, make_environment):
    make_environment(name="Staging")
    response = login(cast.member).post(
        f"/p/{cast.project.slug}/settings/environments/new/",
        form_data(
            name="STAGING",
            base_url="ftp://files.acme.test",
            auth_type="api_login",
            api_login_config='{"method": "POST", "url": "x",}',
            ui_login_steps=json.dumps([{"action": "teleport"}]),
            max_rps="0",
            **{"var-0-name": "1bad", "var-0-value": "x", "var-1-name": "baseUrl", "var-1-value": "y"},
        ),
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert "already has an environment named “STAGING”" in html
    assert "is not a full http:// or https:// URL" in html
    assert "This is not valid JSON: Expecting property name enclosed in double quotes (line 1" in html
    assert "Step 1 has action “teleport”" in html
    assert "At least 1 request per second" in html
    assert "is not a valid variable name" in html
    assert "“baseUrl” is a built-in variable" in html
    assert Environment.objects.count() == 1


def test_an_invalid_json_path_is_named(cast, login):
    response = login(cast.member).post(
        f"/p/{cast.project.slug}/settings/environments/new/",
        form_data(
            name="Api",
            base_url="https://acme.test",
            auth_type="api_login",
            api_login_config=json.dumps(
                {"method": "POST", "url": "${apiBaseUrl}/login", "token_path": "$.[["}
            ),
        ),
    )
    assert response.status_code == 400
    assert "is not a valid JSONPath" in response.content.decode()
    assert not Environment.objects.exists()


def test_fields_validate_in_place_over_htmx_without_saving(cast, login, make_environment):
    make_environment(name="Staging")
    client = login(cast.member)
    url = f"/p/{cast.project.slug}/settings/environments/new/"
    response = client.post(
        url, form_data(name="staging", base_url="nope", validate="name"), HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith('<div class="field has-error">')
    assert "already has an environment named “staging”" in html
    assert "not a full http" not in html  # only the field that changed comes back
    response = client.post(url, form_data(name="Other", validate="name"), HTTP_HX_REQUEST="true")
    assert "has-error" not in response.content.decode()
    assert Environment.objects.count() == 1


# --- edit -------------------------------------------------------------------------------------------------


def test_editing_with_blank_secret_fields_leaves_every_secret_unchanged(cast, login, make_environment):
    environment = with_secrets(make_environment)
    client = login(cast.member)
    set_sudo(client, True)  # even in sudo mode, blank means "keep"
    response = client.post(
        urls(environment)["detail"], form_data(environment, base_url="https://new.acme.test", max_rps="9")
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    environment.refresh_from_db()
    assert environment.base_url == "https://new.acme.test"
    assert environment.max_rps == 9
    assert (environment.auth_token, environment.auth_password) == (TOKEN, PASSWORD)
    assert environment.get_variables(reveal=True) == {"apiKey": API_KEY, "tenant": "acme"}
    assert environment.updated_by == cast.member
    (event,) = events("environment.updated")
    assert sorted(event.details["fields"]) == ["base_url", "max_rps"]
    # The base URL decides where the stored secrets go (SPEC §6): audited as such, by name only.
    (moved,) = events("environment.secret_replaced")
    assert moved.details == {"secrets": [], "destinations": ["base_url"]}


def test_the_edit_page_shows_masks_and_never_a_secret(cast, login, make_environment):
    environment = with_secrets(make_environment)
    client = login(cast.member)
    for sudo_on in (False, True):
        set_sudo(client, sudo_on)
        html = client.get(urls(environment)["detail"]).content.decode()
        assert "••••2c3d" in html and "••••••••" in html and "••••0e1f" in html
        for secret in (TOKEN, PASSWORD, API_KEY):
            assert secret not in html
    assert "Replace…" not in html  # sudo on: the inputs are there, behind "Replace"
    set_sudo(client, False)
    html = client.get(urls(environment)["detail"]).content.decode()
    assert "Replace…" in html and "/accounts/confirm-password/?next=" in html


def test_replacing_a_secret_needs_sudo_mode(cast, login, make_environment):
    environment = with_secrets(make_environment)
    client = login(cast.member)
    set_sudo(client, False)
    data = form_data(environment, auth_token="tok-replacement-9999", name="Renamed")

    response = client.post(urls(environment)["detail"], data)

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/confirm-password/?next=")
    assert "settings%2Fenvironments%2F" in response["Location"]
    environment.refresh_from_db()
    assert (environment.auth_token, environment.name) == (TOKEN, "Staging")  # nothing changed
    assert not AuditEvent.objects.filter(action__startswith="environment.").exists()

    set_sudo(client, True)
    response = client.post(urls(environment)["detail"], data)
    assert response.status_code == 302
    environment.refresh_from_db()
    assert (environment.auth_token, environment.name) == ("tok-replacement-9999", "Renamed")
    assert environment.auth_password == PASSWORD
    (event,) = events("environment.secret_replaced")
    assert event.details == {"secrets": ["auth_token"]}
    assert "tok-replacement" not in json.dumps([e.details for e in AuditEvent.objects.all()])
    assert events("environment.updated")[0].details == {"fields": ["name"]}


def test_removing_a_stored_secret_is_a_replacement_too(cast, login, make_environment):
    environment = with_secrets(make_environment)
    client = login(cast.member)
    data = form_data(environment, clear_auth_password="on")
    set_sudo(client, False)
    assert client.post(urls(environment)["detail"], data)["Location"].startswith(
        "/accounts/confirm-password/"
    )
    set_sudo(client, True)
    client.post(urls(environment)["detail"], data)
    environment.refresh_from_db()
    assert environment.auth_password == ""
    assert environment.auth_token == TOKEN


def test_a_secret_variable_is_replaced_only_in_sudo_mode_and_renamed_with_its_value(
    cast, login, make_environment
):
    environment = with_secrets(make_environment)
    client = login(cast.member)
    replace = form_data(environment, **{"var-0-value": "var-secret-new-value-7777"})
    set_sudo(client, False)
    assert client.post(urls(environment)["detail"], replace).status_code == 302
    assert (
        environment.__class__.objects.get(pk=environment.pk).get_variables(reveal=True)["apiKey"] == API_KEY
    )

    # Renaming a secret variable without a new value keeps the value, and needs no sudo.
    response = client.post(urls(environment)["detail"], form_data(environment, **{"var-0-name": "apiToken"}))
    assert response.status_code == 302
    environment.refresh_from_db()
    assert environment.get_variables(reveal=True) == {"apiToken": API_KEY, "tenant": "acme"}
    assert environment.secret_variable_names == {"apiToken"}

    set_sudo(client, True)
    client.post(urls(environment)["detail"], form_data(environment, **{"var-0-value": "var-secret-new-7777"}))
    environment.refresh_from_db()
    assert environment.get_variables(reveal=True)["apiToken"] == "var-secret-new-7777"
    assert events("environment.secret_replaced")[-1].details == {"secrets": ["variables.apiToken"]}


def test_a_secret_variable_turns_plain_only_with_a_new_value(cast, login, make_environment):
    environment = with_secrets(make_environment)
    client = login(cast.member)
    set_sudo(client, True)
    data = form_data(environment)
    del data["var-0-secret"]
    response = client.post(urls(environment)["detail"], data)
    assert response.status_code == 400
    assert "Enter its new value to make it a plain variable" in response.content.decode()
    environment.refresh_from_db()
    assert environment.secret_variable_names == {"apiKey"}


def test_variables_are_added_and_removed(cast, login, make_environment):
    environment = with_secrets(make_environment)
    client = login(cast.member)
    data = form_data(
        environment, **{"var-1-DELETE": "on", "var-2-name": "region", "var-2-value": "eu-west-1"}
    )
    assert client.post(urls(environment)["detail"], data).status_code == 302
    environment.refresh_from_db()
    assert environment.get_variables(reveal=True) == {"apiKey": API_KEY, "region": "eu-west-1"}


def test_each_variable_needs_its_own_name_and_nothing_is_saved_otherwise(cast, login, make_environment):
    environment = with_secrets(make_environment)
    client = login(cast.member)
    for rows in (
        {"var-2-name": "region", "var-2-value": "a", "var-3-name": "region", "var-3-value": "b"},
        {"var-2-name": "apiKey", "var-2-value": "sneaky-overwrite"},  # a new row can't take a stored name
        {"var-1-name": "apiKey"},  # nor a renamed one
    ):
        response = client.post(urls(environment)["detail"], form_data(environment, **rows))
        assert response.status_code == 400, rows
        assert "is used twice; each variable needs its own name." in response.content.decode()
    environment.refresh_from_db()
    assert environment.get_variables(reveal=True) == {"apiKey": API_KEY, "tenant": "acme"}


def test_one_save_may_swap_names_or_give_a_removed_name_to_another_row(cast, login, make_environment):
    environment = with_secrets(make_environment)
    client = login(cast.member)
    # Rows are in name order: 0 is apiKey (secret), 1 is tenant.
    swap = form_data(environment, **{"var-0-name": "tenant", "var-1-name": "apiKey"})
    assert client.post(urls(environment)["detail"], swap).status_code == 302
    environment.refresh_from_db()
    assert environment.get_variables(reveal=True) == {"apiKey": "acme", "tenant": API_KEY}
    assert environment.secret_variable_names == {"tenant"}

    take = form_data(environment, **{"var-0-DELETE": "on", "var-1-name": "apiKey"})
    assert client.post(urls(environment)["detail"], take).status_code == 302
    environment.refresh_from_db()
    assert environment.get_variables(reveal=True) == {"apiKey": API_KEY}
    assert environment.secret_variable_names == {"apiKey"}


def test_adding_a_secret_variable_needs_no_sudo_and_a_typed_secret_comes_back_only_to_its_typist(
    cast, login, make_environment
):
    environment = with_secrets(make_environment)
    client = login(cast.member)
    set_sudo(client, False)
    row = {"var-2-name": "webhookKey", "var-2-value": "typed-secret-value-3c4d", "var-2-secret": "on"}
    response = client.post(urls(environment)["detail"], form_data(environment, base_url="nope", **row))
    assert response.status_code == 400
    # Kept in a password input of this response, so it needn't be typed again; nothing was saved.
    assert 'type="password" name="var-2-value" value="typed-secret-value-3c4d"' in response.content.decode()
    environment.refresh_from_db()
    assert "webhookKey" not in environment.get_variables()

    response = client.post(urls(environment)["detail"], form_data(environment, **row))
    assert response.status_code == 302
    environment.refresh_from_db()
    assert environment.get_variables(reveal=True)["webhookKey"] == "typed-secret-value-3c4d"
    assert environment.secret_variable_names == {"apiKey", "webhookKey"}
    html = client.get(urls(environment)["detail"]).content.decode()
    assert "typed-secret-value-3c4d" not in html and "••••3c4d" in html
    assert events("environment.updated")[-1].details == {"fields": ["variables"]}
    assert not events("environment.secret_replaced")


def test_a_row_whose_variable_was_removed_meanwhile_says_to_reload(cast, login, make_environment):
    environment = with_secrets(make_environment)
    data = form_data(environment, **{"var-1-value": "globex"})
    environment.delete_variable("tenant")
    environment.save()
    response = login(cast.member).post(urls(environment)["detail"], data)
    assert response.status_code == 400
    assert "This variable was removed meanwhile; reload the page." in response.content.decode()
    assert Environment.objects.get(pk=environment.pk).get_variables(reveal=True) == {"apiKey": API_KEY}


def test_a_failed_edit_changes_nothing_and_keeps_the_stored_name_in_the_heading(
    cast, login, make_environment
):
    environment = with_secrets(make_environment)
    response = login(cast.member).post(
        urls(environment)["detail"], form_data(environment, name="New name", base_url="not a url")
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert "<h1>Staging</h1>" in html
    assert 'value="New name"' in html
    environment.refresh_from_db()
    assert (environment.name, environment.base_url) == ("Staging", "https://staging.acme.test")


def test_a_tampered_formset_never_deletes_by_omission_nor_500s(cast, login, make_environment):
    environment = with_secrets(make_environment)
    client = login(cast.member)
    data = form_data(environment, **{"var-TOTAL_FORMS": "0", "var-INITIAL_FORMS": "0"})
    assert client.post(urls(environment)["detail"], data).status_code == 302
    environment.refresh_from_db()
    assert set(environment.get_variables()) == {"apiKey", "tenant"}
    for junk in ({"var-TOTAL_FORMS": "x"}, {"var-0-id": "nope"}, {"auth_type": "magic"}, {}):
        response = client.post(
            urls(environment)["detail"], {**form_data(environment), **junk} if junk else {}
        )
        assert response.status_code == 400, junk


# --- delete -----------------------------------------------------------------------------------------------


def test_delete_asks_first_then_deletes_and_clears_active_selections(cast, login, make_environment):
    environment = make_environment()
    ProjectMember.objects.filter(project=cast.project).update(active_environment=environment)
    client = login(cast.member)
    page = client.get(urls(environment)["delete"])
    assert page.status_code == 200
    html = page.content.decode()
    assert "Delete Staging?" in html and "4 members use it as the active environment" in html
    assert Environment.objects.filter(pk=environment.pk).exists()

    response = client.post(urls(environment)["delete"])
    assert response["Location"] == urls(environment)["list"]
    assert not Environment.objects.filter(pk=environment.pk).exists()
    assert not ProjectMember.objects.filter(active_environment__isnull=False).exists()
    (event,) = events("environment.deleted")
    assert event.target == "Staging"


# --- export / import --------------------------------------------------------------------------------------


def test_export_downloads_json_without_any_secret(cast, login, make_environment):
    environment = with_secrets(make_environment)
    response = login(cast.viewer).get(urls(environment)["export"])
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response["Content-Disposition"] == f'attachment; filename="{cast.project.slug}-staging.json"'
    body = response.content.decode()
    for secret in (TOKEN, PASSWORD, API_KEY):
        assert secret not in body
    document = json.loads(body)
    assert document["secrets_left_out"] == ["auth_token", "auth_password", "variables.apiKey"]
    assert document["variables"] == {"apiKey": {"secret": True}, "tenant": {"value": "acme", "secret": False}}


def test_import_round_trip_asks_for_the_secrets_the_export_left_out(cast, login, make_environment):
    environment = with_secrets(make_environment, read_only=False, max_rps=20)
    client = login(cast.member)
    exported = client.get(urls(environment)["export"]).content.decode()

    checked = client.post(urls(environment)["import"], {"action": "check", "document": exported})
    assert checked.status_code == 200
    html = checked.content.decode()
    assert "Staging (2)" in html and "The name Staging is taken" in html
    for label in ("Token", "Login password", "Variable ${apiKey}"):
        assert label in html
    for secret in (TOKEN, PASSWORD, API_KEY):
        assert secret not in html
    assert not Environment.objects.filter(name="Staging (2)").exists()  # nothing yet

    response = client.post(
        urls(environment)["import"],
        {
            "action": "import",
            "document": exported,
            "auth_token": "tok-imported-aaaa1111",
            "auth_password": "",
            "variable__apiKey": "imported-key-bbbb2222",
        },
    )
    copy = Environment.objects.get(name="Staging (2)")
    assert response["Location"] == urls(copy)["detail"]
    assert copy.auth_token == "tok-imported-aaaa1111"
    assert copy.auth_password == ""
    assert copy.get_variables(reveal=True) == {"apiKey": "imported-key-bbbb2222", "tenant": "acme"}
    assert (copy.read_only, copy.max_rps, copy.base_url) == (False, 20, environment.base_url)
    assert copy.updated_by == cast.member
    (event,) = events("environment.imported")
    assert event.details == {
        "secrets_given": ["auth_token", "variables.apiKey"],
        "secrets_missing": ["auth_password"],
    }
    follow = client.get(response["Location"])
    assert "Still without a value: auth_password" in follow.content.decode()


def test_an_uploaded_export_works_like_a_pasted_one(cast, login, make_environment):
    from django.core.files.uploadedfile import SimpleUploadedFile

    environment = make_environment(name="Local", base_url="http://localhost:3000")
    client = login(cast.member)
    exported = client.get(urls(environment)["export"]).content
    environment.delete()
    upload = SimpleUploadedFile("local.json", exported, content_type="application/json")
    response = client.post(
        f"/p/{cast.project.slug}/settings/environments/import/", {"action": "check", "file": upload}
    )
    assert response.status_code == 200
    assert "This environment needs no secrets." in response.content.decode()


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("", "Upload the .json file or paste its contents."),
        ("{nope", "This is not valid JSON: Expecting property name"),
        ('{"name": "x"}', "This is not a Qodex environment export"),
        (
            '{"qodex_environment": 1, "name": "X", "base_url": "gopher://x"}',
            "base_url: “gopher://x” is not a full",
        ),
        ("[1, 2]", "This is not a Qodex environment export"),
    ],
)
def test_a_bad_import_says_why_and_creates_nothing(cast, login, document, message):
    response = login(cast.member).post(
        f"/p/{cast.project.slug}/settings/environments/import/", {"action": "check", "document": document}
    )
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not Environment.objects.exists()


# --- preview ----------------------------------------------------------------------------------------------


def test_the_preview_masks_secrets_and_names_unknown_variables(cast, login, make_environment):
    environment = with_secrets(make_environment)
    client = login(cast.viewer)  # a POST that only reads: viewers may use it
    template = "${baseUrl}/x?t=${authToken}&p=${AUTH_PASSWORD}&k=${apiKey}&tenant=${tenant}&lit=$${raw}"

    response = client.post(urls(environment)["preview"], {"template": template}, HTTP_HX_REQUEST="true")

    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<div id="preview-result"')
    assert (
        "https://staging.acme.test/x?t=••••2c3d&amp;p=••••••••&amp;k=••••0e1f&amp;tenant=acme&amp;lit=${raw}"
        in html
    )
    for secret in (TOKEN, PASSWORD, API_KEY):
        assert secret not in html

    response = client.post(
        urls(environment)["preview"], {"template": "${nope} ${apiKey} ${missing}"}, HTTP_HX_REQUEST="true"
    )
    assert "Unknown variables ${missing}, ${nope}" in response.content.decode()

    # Without htmx the same form answers with the whole page, the result in place.
    response = client.post(urls(environment)["preview"], {"template": "${tenant}"})
    assert response.status_code == 200
    assert "<h1>Staging</h1>" in response.content.decode()
    assert '<pre class="code-block preview-output" data-result="ok">acme</pre>' in response.content.decode()


# --- other projects, viewers ------------------------------------------------------------------------------


def test_an_environment_of_another_project_is_a_404_on_every_route(cast, login, make_environment):
    foreign = make_environment(project=cast.other_project, name="Theirs")
    mine = urls(make_environment(name="Mine"))
    client = login(cast.owner)
    set_sudo(client, True)
    for name, url in urls(foreign).items():
        if name in ("list", "new", "import"):
            continue
        url = url.replace(cast.other_project.slug, cast.project.slug, 1)
        assert url.startswith(mine["list"])
        assert client.get(url).status_code in (404, 405), name
        assert client.post(url, {"template": "x"}).status_code in (404, 405), name
    assert Environment.objects.filter(pk=foreign.pk).exists()


def test_viewers_read_masked_values_and_get_no_forms(cast, login, make_environment):
    environment = with_secrets(make_environment)
    client = login(cast.viewer)
    html = client.get(urls(environment)["detail"]).content.decode()
    assert "••••2c3d" in html and "••••••••" in html and "••••0e1f" in html
    assert "Save changes" not in html and 'name="auth_token"' not in html and "Delete" not in html
    assert "acme" in html  # plain variables are plain
    for page in ("new", "import", "delete"):
        assert client.get(urls(environment)[page]).status_code == 403, page
