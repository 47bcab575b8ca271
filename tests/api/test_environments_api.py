"""`/api/v1/p/<slug>/environments` (SPEC §5, §6): secrets go in, and come back only masked."""

from __future__ import annotations

import pytest

from environments.models import Environment
from projects.models import AuditEvent
from tests.api.conftest import ApiClient, error_code, expire_sudo, set_sudo

TOKEN = "tok_live_0123456789abcdef1a2b"


@pytest.fixture
def base(cast):
    return f"/api/v1/p/{cast.project.slug}/environments"


@pytest.fixture
def api(cast, make_key):
    return ApiClient(make_key(project=cast.project))


def create(api, base, **fields):
    payload = {"name": "Staging", "base_url": "https://staging.acme.test", **fields}
    return api.post(base, json=payload)


def test_create_with_secrets_returns_them_masked(cast, api, base):
    response = create(
        api,
        base,
        preset="staging",
        auth_type="static_token",
        auth_token=TOKEN,
        auth_password="hunter2-long-password",
        variables={"tenant": {"value": "acme"}, "apiSecret": {"value": "s3cr3t-value-9z9z", "secret": True}},
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["auth_token"] == "••••1a2b"
    assert body["has_auth_token"] is True
    assert body["auth_password"] == "••••••••"
    assert body["variables"] == {
        "apiSecret": {"value": "••••9z9z", "secret": True},
        "tenant": {"value": "acme", "secret": False},
    }
    assert (body["read_only"], body["max_rps"], body["allow_destructive"]) == (False, 20, True)
    assert TOKEN not in response.content.decode()
    environment = Environment.objects.get(pk=body["id"])
    assert environment.auth_token == TOKEN  # stored, encrypted at rest
    assert environment.project == cast.project
    event = AuditEvent.objects.get(action="environment.created")
    assert TOKEN not in str(event.details)


def test_list_and_get_mask_secrets(api, base):
    create(api, base, auth_token=TOKEN)
    listed = api.get(base)
    assert listed.status_code == 200
    assert [e["auth_token"] for e in listed.json()["items"]] == ["••••1a2b"]
    one = api.get(f"{base}/{listed.json()['items'][0]['id']}")
    assert one.json()["has_auth_token"] is True
    assert TOKEN not in listed.content.decode() + one.content.decode()


def test_patch_leaves_omitted_secrets_alone_and_replaces_given_ones(api, base):
    env_id = create(
        api, base, auth_token=TOKEN, variables={"k": {"value": "keep-me-secret", "secret": True}}
    ).json()["id"]
    response = api.patch(
        f"{base}/{env_id}", json={"base_url": "https://new.acme.test", "variables": {"k": {"secret": True}}}
    )
    assert response.status_code == 200
    environment = Environment.objects.get(pk=env_id)
    assert environment.base_url == "https://new.acme.test"
    assert environment.auth_token == TOKEN
    assert environment.get_variables(reveal=True) == {"k": "keep-me-secret"}
    api.patch(f"{base}/{env_id}", json={"auth_token": "replacement-token-xyz9"})
    assert Environment.objects.get(pk=env_id).auth_token == "replacement-token-xyz9"


def test_validation_names_the_field(api, base):
    response = create(api, base, base_url="not a url")
    assert response.status_code == 422
    assert "base_url" in response.json()["error"]["fields"]
    response = create(api, base, variables={"BASE_URL": {"value": "x"}})
    assert response.status_code == 422


def test_names_are_unique_per_project_case_insensitively(api, base):
    assert create(api, base).status_code == 201
    response = create(api, base, name="staging")
    assert response.status_code in (409, 422)
    assert "error" in response.json()


def test_delete(api, base):
    env_id = create(api, base).json()["id"]
    assert api.delete(f"{base}/{env_id}").status_code == 204
    response = api.get(f"{base}/{env_id}")
    assert (response.status_code, error_code(response)) == (404, "environment_not_found")


def test_environments_of_another_project_are_not_found(cast, api, base, make_key):
    other = ApiClient(make_key(project=cast.other_project, org=cast.other_project.organization))
    theirs = create(other, f"/api/v1/p/{cast.other_project.slug}/environments").json()["id"]
    assert api.get(f"{base}/{theirs}").status_code == 404


def test_viewers_read_members_write(cast, client, base):
    client.force_login(cast.viewer)
    assert client.get(base).status_code == 200
    response = client.post(base, {"name": "x", "base_url": "https://x.test"}, content_type="application/json")
    assert (response.status_code, error_code(response)) == (403, "permission_denied")
    client.force_login(cast.member)
    response = client.post(base, {"name": "x", "base_url": "https://x.test"}, content_type="application/json")
    assert response.status_code == 201


def test_a_session_replacing_a_secret_needs_sudo_mode(cast, client, base):
    client.force_login(cast.member)
    set_sudo(client, True)
    env_id = client.post(
        base,
        {"name": "x", "base_url": "https://x.test", "auth_token": TOKEN},
        content_type="application/json",
    ).json()["id"]
    expire_sudo(client)
    response = client.patch(
        f"{base}/{env_id}", {"auth_token": "new-token-value-1"}, content_type="application/json"
    )
    assert (response.status_code, error_code(response)) == (403, "sudo_required")
    assert Environment.objects.get(pk=env_id).auth_token == TOKEN
    # Changing something else needs no password.
    response = client.patch(f"{base}/{env_id}", {"read_only": True}, content_type="application/json")
    assert response.status_code == 200


# --- variables: RFC 7396 merge (SPEC §6) -----------------------------------------------------------------

SECRET_VALUE = "var-secret-value-5d6e"


def test_patch_merges_variables_keeping_omitted_names_and_removing_null_ones(api, base):
    env_id = create(
        api,
        base,
        variables={
            "tenant": {"value": "acme"},
            "region": {"value": "eu-west-1"},
            "apiSecret": {"value": SECRET_VALUE, "secret": True},
        },
    ).json()["id"]
    response = api.patch(
        f"{base}/{env_id}",
        json={"variables": {"region": None, "tenant": {"value": "globex"}, "userId": {"value": "42"}}},
    )
    assert response.status_code == 200, response.content
    assert response.json()["variables"] == {
        "apiSecret": {"value": "••••5d6e", "secret": True},
        "tenant": {"value": "globex", "secret": False},
        "userId": {"value": "42", "secret": False},
    }
    assert SECRET_VALUE not in response.content.decode()
    environment = Environment.objects.get(pk=env_id)
    assert environment.get_variables(reveal=True) == {
        "apiSecret": SECRET_VALUE,
        "tenant": "globex",
        "userId": "42",
    }
    # Removing a name that doesn't exist, or sending no variables at all, changes nothing.
    assert api.patch(f"{base}/{env_id}", json={"variables": {"nope": None}}).status_code == 200
    assert (
        api.patch(f"{base}/{env_id}", json={"read_only": False}).json()["variables"]
        == response.json()["variables"]
    )


def test_an_omitted_value_or_secrecy_keeps_what_is_stored(api, base):
    env_id = create(
        api,
        base,
        variables={"tenant": {"value": "acme"}, "apiSecret": {"value": SECRET_VALUE, "secret": True}},
    ).json()["id"]
    response = api.patch(
        f"{base}/{env_id}", json={"variables": {"tenant": {"secret": True}, "apiSecret": {"value": None}}}
    )
    assert response.json()["variables"] == {
        "apiSecret": {"value": "••••5d6e", "secret": True},
        "tenant": {"value": "••••", "secret": True},
    }
    response = api.patch(
        f"{base}/{env_id}", json={"variables": {"apiSecret": {"value": "replaced-value-7f8g"}}}
    )
    assert response.json()["variables"]["apiSecret"] == {"value": "••••7f8g", "secret": True}  # still secret


def test_a_secret_variable_turns_plain_only_with_a_new_value(api, base):
    env_id = create(api, base, variables={"apiSecret": {"value": SECRET_VALUE, "secret": True}}).json()["id"]
    response = api.patch(f"{base}/{env_id}", json={"variables": {"apiSecret": {"secret": False}}})
    assert (response.status_code, error_code(response)) == (422, "validation_failed")
    assert (
        "Enter its new value to make it a plain variable"
        in response.json()["error"]["fields"]["variables"][0]
    )
    assert Environment.objects.get(pk=env_id).secret_variable_names == {"apiSecret"}
    response = api.patch(
        f"{base}/{env_id}", json={"variables": {"apiSecret": {"value": "public", "secret": False}}}
    )
    assert response.json()["variables"] == {"apiSecret": {"value": "public", "secret": False}}


def test_a_bad_variable_name_changes_nothing(api, base):
    env_id = create(api, base, variables={"tenant": {"value": "acme"}}).json()["id"]
    response = api.patch(
        f"{base}/{env_id}",
        json={"name": "Renamed", "variables": {"tenant": None, "ok": {"value": "1"}, "2fa": {"value": "x"}}},
    )
    assert (response.status_code, error_code(response)) == (422, "validation_failed")
    assert response.json()["error"]["fields"]["variables"] == [
        "“2fa” is not a valid variable name: use letters, digits and _, not starting with a digit."
    ]
    environment = Environment.objects.get(pk=env_id)
    assert (environment.name, environment.get_variables()) == ("Staging", {"tenant": "acme"})


def test_a_session_overwriting_or_unmasking_a_secret_variable_needs_sudo_mode(cast, client, base, make_key):
    client.force_login(cast.member)
    set_sudo(client, False)
    session = ApiClient(client=client)
    # Creating secrets replaces none: no password needed.
    response = create(session, base, variables={"apiSecret": {"value": SECRET_VALUE, "secret": True}})
    assert response.status_code == 201, response.content
    env_id = response.json()["id"]
    for change in ({"value": "overwritten-1234", "secret": True}, {"value": "now-plain", "secret": False}):
        response = session.patch(f"{base}/{env_id}", json={"variables": {"apiSecret": change}})
        assert (response.status_code, error_code(response)) == (403, "sudo_required"), change
    assert Environment.objects.get(pk=env_id).get_variables(reveal=True) == {"apiSecret": SECRET_VALUE}
    assert not AuditEvent.objects.filter(action="environment.updated").exists()

    # Keeping it, adding another secret and removing one need no password.
    unchanged = {"apiSecret": {"secret": True}, "other": {"value": "other-secret-9999", "secret": True}}
    assert session.patch(f"{base}/{env_id}", json={"variables": unchanged}).status_code == 200
    assert session.patch(f"{base}/{env_id}", json={"variables": {"other": None}}).status_code == 200

    set_sudo(client, True)
    change = {"apiSecret": {"value": "now-plain", "secret": False}}
    assert session.patch(f"{base}/{env_id}", json={"variables": change}).status_code == 200
    assert Environment.objects.get(pk=env_id).get_variables(reveal=True) == {"apiSecret": "now-plain"}

    # Keys are exempt from sudo mode.
    key = ApiClient(make_key(project=cast.project))
    change = {"apiSecret": {"value": "secret-again-4321", "secret": True}}
    assert key.patch(f"{base}/{env_id}", json={"variables": change}).status_code == 200
