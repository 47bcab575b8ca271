"""Environment: fields, defaults, validation messages, variables, export/import, token cache (SPEC §6)."""

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from environments.models import (
    PRESETS,
    Environment,
    Variable,
    VariableChange,
    cache_token,
    cached_token,
)
from tests.factories import make_user


def errors_of(environment: Environment) -> dict[str, list[str]]:
    with pytest.raises(ValidationError) as caught:
        environment.full_clean()
    return caught.value.message_dict


def api_login(**overrides) -> dict:
    config = {
        "method": "POST",
        "url": "${apiBaseUrl}/login",
        "body": {"email": "${authEmail}", "password": "${authPassword}"},
        "token_path": "$.data.token",
    }
    config.update(overrides)
    return {key: value for key, value in config.items() if value is not None}


def test_a_new_environment_has_the_production_safe_defaults(cast):
    environment = Environment(project=cast.project, name="Prod", base_url="https://acme.test")
    assert environment.read_only is True
    assert environment.max_rps == 5
    assert environment.allow_destructive is False
    assert environment.allow_security_testing is False
    assert environment.auth_type == Environment.AuthType.NONE
    assert (environment.auth_header_name, environment.auth_header_prefix) == ("Authorization", "Bearer ")


def test_presets_set_the_constraints_the_spec_suggests(cast):
    environment = Environment(project=cast.project, name="Local", base_url="http://localhost:3000")
    environment.apply_preset("local")
    assert (environment.read_only, environment.max_rps, environment.allow_destructive) == (False, 50, True)
    environment.apply_preset("staging")
    assert (environment.read_only, environment.max_rps, environment.allow_destructive) == (False, 20, True)
    assert PRESETS["production"] == {
        "read_only": True,
        "max_rps": 5,
        "allow_destructive": False,
        "allow_security_testing": False,
    }


def test_the_api_base_url_falls_back_to_the_base_url_and_trailing_slashes_go(make_environment):
    environment = make_environment(base_url="https://acme.test/")
    assert environment.base_url == "https://acme.test"
    assert environment.effective_api_base_url == "https://acme.test"
    environment.api_base_url = "https://api.acme.test/v1/"
    environment.save()
    assert environment.effective_api_base_url == "https://api.acme.test/v1"


def test_names_are_unique_per_project_ignoring_case(cast, make_environment):
    make_environment(name="Staging")
    assert errors_of(Environment(project=cast.project, name="STAGING", base_url="https://x.test"))[
        "name"
    ] == ["This project already has an environment named “STAGING”."]
    with transaction.atomic(), pytest.raises(IntegrityError):
        Environment.objects.create(project=cast.project, name="staging", base_url="https://x.test")
    # Another project may use the same name.
    Environment(project=cast.other_project, name="Staging", base_url="https://x.test").full_clean()


def test_for_project_returns_only_that_projects_environments(cast, make_environment):
    mine = make_environment(name="Mine")
    make_environment(name="Theirs", project=cast.other_project)
    assert list(Environment.objects.for_project(cast.project)) == [mine]


@pytest.mark.parametrize("url", ["staging.acme.test", "ftp://acme.test", "https://", "http://acme.test:abc"])
def test_urls_must_be_absolute_http_urls(cast, url):
    environment = Environment(project=cast.project, name="Bad", base_url=url, api_base_url=url)
    errors = errors_of(environment)
    assert "http:// or https://" in errors["base_url"][0] or "port" in errors["base_url"][0]
    assert "api_base_url" in errors


def test_internal_host_names_and_ports_are_fine(cast):
    Environment(project=cast.project, name="Compose", base_url="http://api:8000").full_clean()


def test_max_rps_needs_at_least_one_request_per_second(cast):
    environment = Environment(project=cast.project, name="Zero", base_url="https://x.test", max_rps=0)
    assert "leave it blank for unlimited" in errors_of(environment)["max_rps"][0]


def test_an_api_login_config_needs_method_url_and_a_valid_token_path(cast):
    environment = Environment(
        project=cast.project,
        name="Api",
        base_url="https://x.test",
        auth_type=Environment.AuthType.API_LOGIN,
        api_login_config=api_login(method="FETCH", url=None, token_path="$.[["),
    )
    messages = errors_of(environment)["api_login_config"]
    assert "“url” is required." in messages
    assert "“method” must be one of GET, POST, PUT, PATCH, not “FETCH”." in messages
    assert any(message.startswith("“token_path” $.[[ is not a valid JSONPath") for message in messages)


def test_an_api_login_config_rejects_unknown_keys_and_non_text_headers(cast):
    environment = Environment(
        project=cast.project,
        name="Api",
        base_url="https://x.test",
        auth_type=Environment.AuthType.API_LOGIN,
        api_login_config=api_login(tokenpath="$.x", headers={"X-Retry": 3}),
    )
    messages = errors_of(environment)["api_login_config"]
    assert messages[0].startswith("Unknown key tokenpath;")
    assert "“headers” must be an object of header names to text values." in messages


def test_api_login_needs_a_config(cast):
    environment = Environment(
        project=cast.project, name="Api", base_url="https://x.test", auth_type=Environment.AuthType.API_LOGIN
    )
    assert errors_of(environment)["api_login_config"] == [
        "Describe the login request: method, url and token_path."
    ]


def test_a_valid_api_login_config_passes(cast):
    Environment(
        project=cast.project,
        name="Api",
        base_url="https://x.test",
        auth_type=Environment.AuthType.API_LOGIN,
        api_login_config=api_login(headers={"X-Client": "qodex"}, header_prefix=""),
    ).full_clean()


def test_ui_login_steps_name_the_step_and_what_it_needs(cast):
    environment = Environment(
        project=cast.project,
        name="Ui",
        base_url="https://x.test",
        auth_type=Environment.AuthType.UI_LOGIN,
        ui_login_steps=[
            {"action": "goto", "url": "${baseUrl}/login"},
            {"action": "fill", "selector": "#email"},
            {"action": "hover", "selector": "#menu"},
            {"action": "click", "selector": "", "url": ""},
            {"action": "wait_for_selector", "selector": ".ok", "selecter": ".typo"},
            "click #submit",
        ],
    )
    assert errors_of(environment)["ui_login_steps"] == [
        "Step 2 (fill) needs a “value”.",
        "Step 3 has action “hover”; use one of goto, fill, click, press, wait_for_url, wait_for_selector.",
        "Step 4 (click) needs a “selector”.",
        "Step 5 (wait_for_selector) has unknown key selecter.",
        "Step 6 must be an object with an action.",
    ]


def test_ui_login_needs_at_least_one_step(cast):
    environment = Environment(
        project=cast.project, name="Ui", base_url="https://x.test", auth_type=Environment.AuthType.UI_LOGIN
    )
    assert "Add at least one step" in errors_of(environment)["ui_login_steps"][0]


def test_valid_ui_login_steps_pass(cast):
    Environment(
        project=cast.project,
        name="Ui",
        base_url="https://x.test",
        auth_type=Environment.AuthType.UI_LOGIN,
        ui_login_steps=[
            {"action": "goto", "url": "${baseUrl}/login"},
            {"action": "fill", "selector": "#email", "value": "${authEmail}"},
            {"action": "fill", "selector": "#coupon", "value": ""},
            {"action": "press", "value": "Enter"},
            {"action": "wait_for_url", "url": "**/dashboard"},
        ],
    ).full_clean()


def test_variable_names_must_be_identifiers_not_built_ins_nor_too_long(cast):
    environment = Environment(project=cast.project, name="Vars", base_url="https://x.test")
    refusals = {
        "user-id": "“user-id” is not a valid variable name: use letters, digits and _, "
        "not starting with a digit.",
        "tenant\n": "“tenant\n” is not a valid variable name: use letters, digits and _, "
        "not starting with a digit.",
        "baseUrl": "“baseUrl” is a built-in variable; pick another name.",
        "n" * 101: f"“{'n' * 20}…” is too long for a variable name: at most 100 characters.",
    }
    for name, message in refusals.items():
        with pytest.raises(ValidationError) as caught:
            environment.set_variable(name, "1")
        assert caught.value.messages == [message]
    assert environment.get_variables() == {}
    # The row validates its name the same way (the page's formset relies on it).
    with pytest.raises(ValidationError, match="not a valid variable name"):
        Variable(name="2fa").clean_fields(exclude={"environment"})


def test_secret_variables_are_masked_unless_revealed(make_environment):
    environment = make_environment(variables={"API_KEY": ("key-abc-7a7b", True), "TENANT": ("acme", False)})
    assert environment.get_variables() == {"API_KEY": "••••", "TENANT": "acme"}  # short: dots only
    assert environment.get_variables(reveal=True) == {"API_KEY": "key-abc-7a7b", "TENANT": "acme"}
    assert environment.secret_variable_names == {"API_KEY"}
    assert environment.masked_variables == {
        "API_KEY": {"value": "••••", "secret": True},
        "TENANT": {"value": "acme", "secret": False},
    }
    assert sorted(Variable.objects.filter(environment=environment).values_list("name", "secret")) == [
        ("API_KEY", True),
        ("TENANT", False),
    ]


def test_variable_changes_are_staged_until_save_which_writes_them_with_the_environment_or_not_at_all(
    make_environment,
):
    make_environment(name="Taken")
    environment = make_environment(variables={"A": ("1", False), "B": ("2", True)})
    environment.set_variable("C", "3")
    environment.delete_variable("A")
    environment.set_variable("B", "two-changed", secret=True)
    assert environment.get_variables(reveal=True) == {"B": "two-changed", "C": "3"}  # reads see them
    assert Environment.objects.get(pk=environment.pk).get_variables(reveal=True) == {"A": "1", "B": "2"}

    environment.name = "taken"  # the save fails: no variable may be written either
    with pytest.raises(IntegrityError), transaction.atomic():
        environment.save()
    assert Environment.objects.get(pk=environment.pk).get_variables(reveal=True) == {"A": "1", "B": "2"}

    environment.name = "Staging"
    environment.save()
    assert Environment.objects.get(pk=environment.pk).get_variables(reveal=True) == {
        "B": "two-changed",
        "C": "3",
    }
    assert environment.get_variables(reveal=True) == {"B": "two-changed", "C": "3"}
    environment.delete_variable("C")  # a removal alone is written and seen too
    environment.save()
    assert environment.get_variables(reveal=True) == {"B": "two-changed"}
    assert Environment.objects.get(pk=environment.pk).get_variables(reveal=True) == {"B": "two-changed"}


def test_two_variables_can_swap_names_in_one_save(make_environment):
    environment = make_environment(variables={"A": ("first", False), "B": ("second", True)})
    environment.delete_variable("A")
    environment.delete_variable("B")
    environment.set_variable("A", "second", secret=True)
    environment.set_variable("B", "first", secret=False)
    environment.save()
    assert Environment.objects.get(pk=environment.pk).get_variables(reveal=True) == {
        "A": "second",
        "B": "first",
    }


def test_a_name_another_request_added_meanwhile_is_overwritten_rather_than_an_error(make_environment):
    environment = make_environment()
    assert environment.get_variables() == {}  # read before the other request writes
    Variable.objects.create(environment=environment, name="A", value="theirs")
    environment.set_variable("A", "mine")
    environment.save()
    assert Environment.objects.get(pk=environment.pk).get_variables(reveal=True) == {"A": "mine"}


def test_a_name_is_unique_per_environment_in_the_database(make_environment):
    environment = make_environment(variables={"A": ("1", False)})
    with pytest.raises(IntegrityError), transaction.atomic():
        Variable.objects.create(environment=environment, name="A", value="2")
    Variable.objects.create(environment=make_environment(name="Other"), name="A", value="2")


def test_leaving_a_secret_blank_keeps_it_and_variables_can_be_removed(make_environment):
    environment = make_environment(variables={"API_KEY": ("key-abc-7a7b", True), "TENANT": ("acme", False)})
    environment.set_variable("API_KEY", None, secret=True)
    environment.set_variable("TENANT", None, secret=True)  # now a secret, same value
    environment.save()
    environment.refresh_from_db()
    assert environment.get_variables(reveal=True) == {"API_KEY": "key-abc-7a7b", "TENANT": "acme"}
    assert environment.secret_variable_names == {"API_KEY", "TENANT"}
    environment.delete_variable("TENANT")
    assert environment.get_variables(reveal=True) == {"API_KEY": "key-abc-7a7b"}


def test_a_secret_turns_plain_only_with_a_new_value(make_environment):
    environment = make_environment(variables={"API_KEY": ("key-abc-7a7b", True)})
    with pytest.raises(ValidationError, match="Enter its new value to make it a plain variable"):
        environment.set_variable("API_KEY", None, secret=False)
    environment.set_variable("API_KEY", None)  # secret=None keeps it secret
    assert environment.secret_variable_names == {"API_KEY"}
    environment.set_variable("API_KEY", "now-plain", secret=False)
    assert environment.get_variables() == {"API_KEY": "now-plain"}


def test_replacing_a_secret_variable_means_overwriting_its_value_or_turning_it_plain(make_environment):
    environment = make_environment(variables={"API_KEY": ("key-abc-7a7b", True), "TENANT": ("acme", False)})
    keep = VariableChange(None, True)
    assert environment.replaced_secret_variables({"API_KEY": keep, "TENANT": VariableChange("x", True)}) == []
    assert environment.replaced_secret_variables({"API_KEY": VariableChange(None, None)}) == []
    assert environment.replaced_secret_variables({"API_KEY": None}) == []  # removing reveals nothing
    assert environment.replaced_secret_variables({"NEW": VariableChange("x", True)}) == []
    assert environment.replaced_secret_variables({"API_KEY": VariableChange("new-value", True)}) == [
        "API_KEY"
    ]
    assert environment.replaced_secret_variables({"API_KEY": VariableChange("", None)}) == ["API_KEY"]
    assert environment.replaced_secret_variables({"API_KEY": VariableChange(None, False)}) == ["API_KEY"]


def test_the_list_prefetch_serves_every_variable_read_without_another_query(
    make_environment, django_assert_num_queries
):
    make_environment(name="One", variables={"A": ("1", False), "B": ("2", True)})
    make_environment(name="Two", variables={"C": ("3", False)})
    with django_assert_num_queries(2):
        environments = list(Environment.objects.order_by("name").prefetch_related("variables"))
        shown = [
            (e.masked_variables, e.secret_variable_names, e.get_variables(reveal=True)) for e in environments
        ]
    assert shown[0] == (
        {"A": {"value": "1", "secret": False}, "B": {"value": "••••", "secret": True}},
        {"B"},
        {"A": "1", "B": "2"},
    )
    assert shown[1][2] == {"C": "3"}


def test_the_auth_header_follows_the_auth_type(make_environment):
    environment = make_environment(auth_type=Environment.AuthType.STATIC_TOKEN, auth_token="t0k")
    assert environment.auth_header("t0k") == {"Authorization": "Bearer t0k"}
    environment.auth_header_name, environment.auth_header_prefix = "X-Api-Key", ""
    assert environment.auth_header("t0k") == {"X-Api-Key": "t0k"}
    environment.auth_type = Environment.AuthType.API_LOGIN
    environment.api_login_config = api_login(header_name="X-Session", header_prefix="Token ")
    assert environment.auth_header("t0k") == {"X-Session": "Token t0k"}


def test_export_leaves_every_secret_out(make_environment):
    environment = make_environment(
        auth_type=Environment.AuthType.API_LOGIN,
        api_login_config=api_login(),
        auth_email="qa@acme.test",
        auth_password="hunter2-correct-horse",
        auth_token="tok-live-1a2b3c4d",
        ui_storage_state='{"cookies": []}',
        variables={"API_KEY": ("key-abc-7a7b", True), "TENANT": ("acme", False)},
    )
    exported = environment.to_export()
    text = str(exported)
    for secret in ("hunter2-correct-horse", "tok-live-1a2b3c4d", "key-abc-7a7b", "gAAAA", "cookies"):
        assert secret not in text
    assert exported["qodex_environment"] == 1
    assert exported["auth_email"] == "qa@acme.test"
    assert exported["variables"] == {
        "API_KEY": {"secret": True},
        "TENANT": {"value": "acme", "secret": False},
    }
    assert exported["secrets_left_out"] == ["auth_token", "auth_password", "variables.API_KEY"]
    assert exported["read_only"] is True and exported["max_rps"] == 5


def test_import_builds_an_unsaved_environment_with_empty_secrets_and_a_free_name(cast, make_environment):
    source = make_environment(
        name="Staging",
        auth_type=Environment.AuthType.API_LOGIN,
        api_login_config=api_login(),
        auth_password="hunter2-correct-horse",
        variables={"API_KEY": ("key-abc-7a7b", True), "TENANT": ("acme", False)},
    )
    user = make_user()
    imported = Environment.from_import(cast.project, source.to_export(), user=user)
    assert imported.pk is None
    assert imported.name == "Staging (2)"
    assert imported.api_login_config == source.api_login_config
    assert imported.auth_password == ""
    assert imported.get_variables(reveal=True) == {"API_KEY": "", "TENANT": "acme"}
    assert imported.updated_by == user
    imported.save()
    assert Environment.from_import(cast.project, source.to_export()).name == "Staging (3)"
    assert Environment.from_import(cast.other_project, source.to_export()).name == "Staging"


def test_import_refuses_what_is_not_an_environment_export(cast):
    with pytest.raises(ValidationError, match="not a Qodex environment export"):
        Environment.from_import(cast.project, {"name": "x"})
    document = {"qodex_environment": 1, "name": "Bad", "base_url": "not a url"}
    with pytest.raises(ValidationError) as caught:
        Environment.from_import(cast.project, document)
    assert "base_url" in caught.value.message_dict


def test_saving_the_environment_forgets_its_cached_login_token(make_environment):
    environment = make_environment(auth_type=Environment.AuthType.API_LOGIN, api_login_config=api_login())
    cache_token(environment, "tok-123456789")
    assert cached_token(environment) == "tok-123456789"
    same_row = Environment.objects.get(pk=environment.pk)
    assert cached_token(same_row) == "tok-123456789"

    same_row.base_url = "https://new.acme.test"
    same_row.save()
    assert cached_token(same_row) is None
    assert cached_token(environment) is None
