"""Secrets at rest: qodex.crypto, EncryptedTextField and key rotation (SPEC §6)."""

import io

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from environments.models import Environment
from qodex import crypto
from qodex.crypto import EncryptedTextField


def raw_row(environment: Environment) -> dict:
    """The columns exactly as PostgreSQL (or SQLite) holds them, bypassing the ORM's decryption;
    `variables` maps each variable's name to its raw `value` column."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT auth_token, auth_password, ui_storage_state FROM environments WHERE id = %s",
            [environment.pk],
        )
        auth_token, auth_password, ui_storage_state = cursor.fetchone()
        cursor.execute(
            "SELECT name, value FROM environment_variables WHERE environment_id = %s", [environment.pk]
        )
        variables = dict(cursor.fetchall())
    return {
        "auth_token": auth_token,
        "auth_password": auth_password,
        "ui_storage_state": ui_storage_state,
        "variables": variables,
    }


def test_encrypt_and_decrypt_round_trip_with_fresh_ciphertext_each_time():
    first, second = crypto.encrypt("päss-wörd 🔑"), crypto.encrypt("päss-wörd 🔑")
    assert first != second
    assert "päss" not in first
    assert crypto.decrypt(first) == crypto.decrypt(second) == "päss-wörd 🔑"


def test_mask_shows_only_the_last_four_characters_and_nothing_of_short_secrets():
    assert crypto.mask("sk-live-abcdef1a2b") == "••••1a2b"
    assert crypto.mask("sk-live-abcdef1a2b", visible=2) == "••••2b"
    assert crypto.mask("short") == "••••"
    assert crypto.mask("") == ""
    assert crypto.mask(None) == ""


def test_decrypting_with_a_key_that_was_removed_says_what_went_wrong(settings):
    old = Fernet.generate_key().decode()
    settings.QODEX_ENCRYPTION_KEYS = [old]
    token = crypto.encrypt("secret")
    settings.QODEX_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    with pytest.raises(crypto.DecryptionError, match="rotate_encryption_keys"):
        crypto.decrypt(token)


def test_a_malformed_key_is_refused_with_its_position(settings):
    from django.core.exceptions import ImproperlyConfigured

    settings.QODEX_ENCRYPTION_KEYS = [Fernet.generate_key().decode(), "not-a-key"]
    with pytest.raises(ImproperlyConfigured, match="key #2"):
        crypto.encrypt("x")


def test_the_field_keeps_none_and_empty_as_they_are():
    field = EncryptedTextField()
    assert field.get_prep_value(None) is None
    assert field.get_prep_value("") == ""
    assert field.from_db_value(None, None, connection) is None
    assert field.from_db_value("", None, connection) == ""


def test_secrets_are_stored_encrypted_and_read_back_as_plaintext(make_environment):
    environment = make_environment(
        auth_type=Environment.AuthType.STATIC_TOKEN,
        auth_token="tok-live-1a2b3c4d",
        auth_password="hunter2-correct-horse",
        ui_storage_state='{"cookies": [{"name": "sessionid", "value": "cookie-value-9z"}]}',
        variables={"API_KEY": ("key-abc-777", True), "TENANT": ("acme", False)},
    )

    raw = raw_row(environment)
    columns = [raw["auth_token"], raw["auth_password"], raw["ui_storage_state"], *raw["variables"].values()]
    for plaintext in ("tok-live-1a2b3c4d", "hunter2-correct-horse", "cookie-value-9z", "key-abc-777", "acme"):
        assert all(plaintext not in column for column in columns), plaintext
    assert raw["auth_token"].startswith("gAAAA")
    # One encrypted field for every variable value: plain ones are encrypted at rest too.
    assert raw["variables"]["API_KEY"].startswith("gAAAA") and raw["variables"]["TENANT"].startswith("gAAAA")

    fresh = Environment.objects.get(pk=environment.pk)
    assert fresh.auth_token == "tok-live-1a2b3c4d"
    assert fresh.auth_password == "hunter2-correct-horse"
    assert "cookie-value-9z" in fresh.ui_storage_state
    assert fresh.get_variables(reveal=True) == {"API_KEY": "key-abc-777", "TENANT": "acme"}


def test_an_empty_secret_is_stored_as_an_empty_string(make_environment):
    environment = make_environment()
    assert raw_row(environment)["auth_token"] == ""
    assert Environment.objects.get(pk=environment.pk).auth_token == ""


def test_rotation_re_encrypts_every_secret_under_the_newest_key(settings, make_environment):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.QODEX_ENCRYPTION_KEYS = [old]
    environment = make_environment(
        auth_token="tok-live-1a2b3c4d",
        auth_password="hunter2-correct-horse",
        variables={"API_KEY": ("key-abc-777", True), "TENANT": ("acme", False)},
    )
    updated_at = environment.updated_at

    settings.QODEX_ENCRYPTION_KEYS = [new, old]
    call_command("rotate_encryption_keys", stdout=io.StringIO())

    # Only the new key remains: everything must still open, and the raw columns open with it alone.
    settings.QODEX_ENCRYPTION_KEYS = [new]
    fresh = Environment.objects.get(pk=environment.pk)
    assert fresh.auth_token == "tok-live-1a2b3c4d"
    assert fresh.auth_password == "hunter2-correct-horse"
    assert fresh.get_variables(reveal=True) == {"API_KEY": "key-abc-777", "TENANT": "acme"}
    raw = raw_row(environment)
    assert Fernet(new).decrypt(raw["auth_token"].encode()) == b"tok-live-1a2b3c4d"
    assert Fernet(new).decrypt(raw["variables"]["API_KEY"].encode()) == b"key-abc-777"
    assert Fernet(new).decrypt(raw["variables"]["TENANT"].encode()) == b"acme"
    assert fresh.updated_at == updated_at  # rotation is not an edit


def test_rotation_stops_without_writing_when_a_secret_cannot_be_opened(settings, make_environment):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.QODEX_ENCRYPTION_KEYS = [old]
    first = make_environment(name="First", auth_token="first-token-aaaa")
    make_environment(name="Second", auth_token="second-token-bbbb")
    before = raw_row(first)["auth_token"]

    settings.QODEX_ENCRYPTION_KEYS = [new]  # the old key was dropped too early
    with pytest.raises(CommandError, match="environments.Environment"):
        call_command("rotate_encryption_keys", stdout=io.StringIO())
    assert raw_row(first)["auth_token"] == before
