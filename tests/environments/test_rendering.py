"""The one renderer: ${name} from the environment, its variables and run-time extras (SPEC §6)."""

import pytest

from environments.models import Environment, cache_token
from environments.rendering import UnknownVariables, preview, render, render_value


@pytest.fixture
def environment(make_environment):
    return make_environment(
        base_url="https://acme.test",
        api_base_url="https://api.acme.test/v2",
        auth_email="qa@acme.test",
        auth_password="hunter2-correct-horse",
        auth_type=Environment.AuthType.STATIC_TOKEN,
        auth_token="tok-live-1a2b3c4d",
        variables={"tenant": ("acme", False), "API_KEY": ("key-abc-7a7b", True)},
    )


def test_built_ins_render_in_both_spellings(environment):
    template = "${baseUrl} ${apiBaseUrl} ${authEmail} ${authPassword} ${authToken}"
    expected = (
        "https://acme.test https://api.acme.test/v2 qa@acme.test hunter2-correct-horse tok-live-1a2b3c4d"
    )
    assert render(template, environment) == expected
    screaming = "${BASE_URL} ${API_BASE_URL} ${AUTH_EMAIL} ${AUTH_PASSWORD} ${AUTH_TOKEN}"
    assert render(screaming, environment) == expected


def test_the_api_base_url_defaults_to_the_base_url(make_environment):
    environment = make_environment(name="Plain", base_url="https://acme.test")
    assert render("${API_BASE_URL}/users", environment) == "https://acme.test/users"


def test_environment_variables_and_extras_render_and_extras_win(environment):
    assert render("${apiBaseUrl}/t/${tenant}?k=${API_KEY}", environment) == (
        "https://api.acme.test/v2/t/acme?k=key-abc-7a7b"
    )
    extra = {"userId": 42, "tenant": "globex", "active": True}
    assert render("/t/${tenant}/u/${userId}?a=${active}", environment, extra) == "/t/globex/u/42?a=true"


def test_a_doubled_dollar_is_a_literal_placeholder(environment):
    assert render("$${baseUrl} is ${baseUrl}; $${nope} stays", environment) == (
        "${baseUrl} is https://acme.test; ${nope} stays"
    )


def test_text_without_placeholders_is_unchanged(environment):
    assert render("costs $5 {not a var} $ {x}", environment) == "costs $5 {not a var} $ {x}"


def test_every_unknown_name_is_reported_at_once_sorted(environment):
    with pytest.raises(UnknownVariables) as caught:
        render("${zeta}/${baseUrl}/${alpha}/${zeta}/${BaseUrl}", environment)
    assert caught.value.names == ["BaseUrl", "alpha", "zeta"]
    assert str(caught.value) == (
        "Unknown variables ${BaseUrl}, ${alpha}, ${zeta}: define them in the environment's variables."
    )


def test_without_an_environment_only_extras_are_known():
    assert render("${x}", None, {"x": "1"}) == "1"
    with pytest.raises(UnknownVariables) as caught:
        render("${baseUrl}", None)
    assert caught.value.names == ["baseUrl"]


def test_render_value_renders_strings_inside_dicts_and_lists(environment):
    config = {
        "url": "${apiBaseUrl}/login",
        "headers": {"X-Tenant": "${tenant}"},
        "body": {"user": {"email": "${authEmail}"}, "scopes": ["read:${tenant}", 3, None, True]},
        "retries": 2,
    }
    assert render_value(config, environment) == {
        "url": "https://api.acme.test/v2/login",
        "headers": {"X-Tenant": "acme"},
        "body": {"user": {"email": "qa@acme.test"}, "scopes": ["read:acme", 3, None, True]},
        "retries": 2,
    }


def test_render_value_reports_unknowns_from_the_whole_structure(environment):
    with pytest.raises(UnknownVariables) as caught:
        render_value({"a": "${one}", "b": ["${two}", {"c": "${one}"}]}, environment)
    assert caught.value.names == ["one", "two"]


def test_preview_masks_every_secret(environment):
    shown = preview("${authEmail}:${authPassword} ${AUTH_TOKEN} ${API_KEY} ${tenant}", environment)
    assert shown == "qa@acme.test:•••••••• ••••3c4d •••• acme"  # passwords and short secrets: dots only
    with pytest.raises(UnknownVariables):
        preview("${missing}", environment)


def test_auth_token_comes_from_the_cached_api_login_when_there_is_no_static_token(make_environment):
    environment = make_environment(name="Api", auth_type=Environment.AuthType.API_LOGIN)
    assert render("[${authToken}]", environment) == "[]"
    cache_token(environment, "tok-from-login-99")
    assert render("${authToken}", environment) == "tok-from-login-99"
