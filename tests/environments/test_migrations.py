"""Migrations 0002–0004: environment variables move from a JSON column into Variable rows (SPEC §6)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from environments.models import Environment, Variable
from qodex import crypto

JSON_STATE = [("environments", "0001_initial")]


@pytest.fixture
def migrate(transactional_db):
    """`migrate(targets)` moves the schema there and returns the models of that state; the test ends on
    the latest migrations whatever happens (DDL after inserts needs a real transaction: transactional_db)."""
    latest = MigrationExecutor(connection).loader.graph.leaf_nodes()

    def _migrate(targets):
        executor = MigrationExecutor(connection)
        executor.migrate(targets)
        return executor.loader.project_state(targets).apps

    yield _migrate
    _migrate(latest)


def raw_values(environment_id: int) -> dict[str, str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT name, value FROM environment_variables WHERE environment_id = %s", [environment_id]
        )
        return dict(cursor.fetchall())


def test_json_variables_become_rows_with_secrets_decrypted_and_stored_through_the_field(cast, migrate):
    old = migrate(JSON_STATE).get_model("environments", "Environment")
    staging = old.objects.create(
        project_id=cast.project.pk,
        name="Staging",
        base_url="https://staging.acme.test",
        variables={
            "tenant": {"value": "acme", "secret": False},
            "apiKey": {"secret": True, "ciphertext": crypto.encrypt("key-abc-7a7b")},
            "unsetKey": {"secret": True, "ciphertext": ""},
        },
    )
    empty = old.objects.create(project_id=cast.project.pk, name="Local", base_url="http://localhost:3000")

    migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())

    environment = Environment.objects.get(pk=staging.pk)
    assert environment.get_variables(reveal=True) == {
        "apiKey": "key-abc-7a7b",
        "tenant": "acme",
        "unsetKey": "",
    }
    assert environment.secret_variable_names == {"apiKey", "unsetKey"}
    raw = raw_values(staging.pk)
    assert crypto.decrypt(raw["apiKey"]) == "key-abc-7a7b"
    assert crypto.decrypt(raw["tenant"]) == "acme"  # plain values are encrypted at rest too now
    assert raw["unsetKey"] == ""
    assert not Variable.objects.filter(environment_id=empty.pk).exists()
    assert not any(field.name == "legacy_variables" for field in Environment._meta.get_fields())


def test_migrating_back_writes_the_rows_into_the_json_column_in_its_old_shape(make_environment, migrate):
    environment = make_environment(variables={"apiKey": ("key-abc-7a7b", True), "tenant": ("acme", False)})

    old = migrate(JSON_STATE).get_model("environments", "Environment")

    variables = old.objects.get(pk=environment.pk).variables
    assert variables["tenant"] == {"value": "acme", "secret": False}
    assert variables["apiKey"]["secret"] is True
    assert "key-abc-7a7b" not in str(variables)
    assert crypto.decrypt(variables["apiKey"]["ciphertext"]) == "key-abc-7a7b"
