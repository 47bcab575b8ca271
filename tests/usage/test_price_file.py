"""The price file in the repo, `manage.py load_prices` and the migration that seeds ModelPrice."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from usage.models import ModelPrice
from usage.prices import PRICE_FILE, read_price_file
from usage.pricing import cost_for, price_for


def load_prices(*args) -> str:
    out = StringIO()
    call_command("load_prices", *args, stdout=out)
    return out.getvalue()


def write_price_file(tmp_path, prices, version=7):
    path = tmp_path / "prices.json"
    path.write_text(json.dumps({"version": version, "note": "test", "prices": prices}))
    return str(path)


def entry(model="m", **fields):
    return {
        "provider": "fileprov",
        "model": model,
        "input_per_mtok": "1.50",
        "cached_input_per_mtok": "0.75",
        "output_per_mtok": "6.00",
        "effective_from": "2025-01-01T00:00:00Z",
        **fields,
    }


def snapshot():
    return sorted(
        ModelPrice.objects.values_list(
            "provider",
            "model",
            "effective_from",
            "input_per_mtok",
            "cached_input_per_mtok",
            "output_per_mtok",
        )
    )


# The file in the repo.


def test_the_repo_price_file_is_valid_and_prices_each_provider():
    version, rows = read_price_file()
    assert version
    assert {row["provider"] for row in rows} >= {"openai", "anthropic", "google", "standin"}
    note = json.loads(PRICE_FILE.read_text())["note"]
    assert "list prices" in note and "must be checked" in note


def test_the_repo_price_file_prices_a_stand_in_model_and_deliberately_not_standin_unpriced():
    _, rows = read_price_file()
    models = {(row["provider"], row["model"]) for row in rows}
    assert ("standin", "standin-mini") in models
    assert not any(row["provider"] == "standin" and row["model"].endswith("*") for row in rows)
    assert ("standin", "standin-unpriced") not in models


def test_loaded_file_prices_cover_dated_snapshots_and_leave_standin_unpriced(db):
    load_prices()
    assert price_for("openai", "gpt-4o-mini-2024-07-18").model == "gpt-4o-mini*"
    assert price_for("openai", "gpt-4.1-mini-2025-04-14").model == "gpt-4.1-mini*"
    assert price_for("anthropic", "claude-opus-4-5-20251101").input_per_mtok == Decimal("5")
    assert price_for("google", "gemini-2.0-flash-lite-001").model == "gemini-2.0-flash-lite*"
    # standin-mini: 1.00 input, 0.50 cached, 2.00 output
    assert cost_for(
        "standin", "standin-mini", input_tokens=1000, cached_tokens=200, output_tokens=500
    ) == Decimal("0.00190000")
    assert (
        cost_for("standin", "standin-unpriced", input_tokens=1000, cached_tokens=0, output_tokens=500) is None
    )


def test_the_file_carries_a_price_change_over_time(db):
    load_prices()
    launch = price_for("openai", "o3", at=datetime(2025, 5, 1, tzinfo=UTC))
    cut = price_for("openai", "o3")
    assert (launch.input_per_mtok, cut.input_per_mtok) == (Decimal("10"), Decimal("2"))


# load_prices.


def test_load_prices_twice_creates_nothing_the_second_time(db):
    load_prices()
    before = snapshot()
    out = load_prices()
    assert snapshot() == before
    _, rows = read_price_file()
    assert f"0 created, 0 updated, {len(rows)} unchanged" in out


def test_load_prices_from_a_file_creates_then_updates_changed_figures_and_deletes_nothing(db, tmp_path):
    staff_row = ModelPrice.objects.create(
        provider="fileprov",
        model="staff-added",
        input_per_mtok=Decimal("9"),
        output_per_mtok=Decimal("9"),
        effective_from=datetime(2025, 1, 1, tzinfo=UTC),
    )
    out = load_prices("--file", write_price_file(tmp_path, [entry("m"), entry("n*")]))
    assert "version 7: 2 created, 0 updated, 0 unchanged" in out
    price = ModelPrice.objects.get(provider="fileprov", model="m")
    assert (price.input_per_mtok, price.cached_input_per_mtok, price.output_per_mtok) == (
        Decimal("1.5"),
        Decimal("0.75"),
        Decimal("6"),
    )

    changed = [entry("m", input_per_mtok="1.25", cached_input_per_mtok=None, note="cut"), entry("n*")]
    out = load_prices("--file", write_price_file(tmp_path, changed))
    assert "0 created, 1 updated, 1 unchanged" in out
    price.refresh_from_db()
    assert (price.input_per_mtok, price.cached_input_per_mtok, price.note) == (Decimal("1.25"), None, "cut")
    assert ModelPrice.objects.filter(pk=staff_row.pk).exists()

    load_prices("--file", write_price_file(tmp_path, []))
    assert ModelPrice.objects.filter(provider="fileprov").count() == 3


def test_rates_written_as_json_numbers_are_read_as_exact_decimals(db, tmp_path):
    path = tmp_path / "prices.json"
    path.write_text(
        '{"version": 1, "prices": [{"provider": "fileprov", "model": "m", "input_per_mtok": 0.1, '
        '"output_per_mtok": 0.3, "effective_from": "2025-01-01T00:00:00+00:00"}]}'
    )
    load_prices("--file", str(path))
    price = ModelPrice.objects.get(provider="fileprov")
    assert (price.input_per_mtok, price.output_per_mtok) == (Decimal("0.1"), Decimal("0.3"))


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"input_per_mtok": "cheap"}, "prices[1].input_per_mtok: “cheap” is not a number"),
        ({"input_per_mtok": "-1"}, "prices[1].input_per_mtok: use a rate from 0"),
        ({"output_per_mtok": "0.0000001"}, "at most 6 decimal places"),
        ({"effective_from": "2025-01-01"}, "prices[1].effective_from: use an ISO 8601 time with its zone"),
        ({"effective_from": "yesterday"}, "prices[1].effective_from"),
        ({"model": "gpt*4o"}, "use * only at the end"),
        ({"model": ""}, "prices[1].model"),
        ({"provider": "p" * 21}, "prices[1].provider"),
        ({"inptu_per_mtok": "1"}, "unknown field inptu_per_mtok"),
        ({"model": "first"}, "fileprov/first from 2025-01-01T00:00:00Z twice"),
    ],
)
def test_a_bad_entry_is_named_and_nothing_is_loaded(db, tmp_path, bad, message):
    path = write_price_file(tmp_path, [entry("first"), {**entry("second"), **bad}])
    with pytest.raises(CommandError) as refused:
        load_prices("--file", path)
    assert message in str(refused.value)
    assert "No price was changed." in str(refused.value)
    assert not ModelPrice.objects.filter(provider="fileprov").exists()


def test_a_missing_entry_field_is_named(db, tmp_path):
    incomplete = entry()
    del incomplete["output_per_mtok"]
    with pytest.raises(CommandError, match=r"prices\[0\]: missing output_per_mtok"):
        load_prices("--file", write_price_file(tmp_path, [incomplete]))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "is not valid JSON"),
        ('{"prices": []}', 'needs a "version"'),
        ('{"version": 1}', 'needs a "version" and a "prices" list'),
        ('{"version": 1, "prices": ["x"]}', "prices[0]: each price is an object"),
    ],
)
def test_a_malformed_file_is_refused_with_a_clear_message(db, tmp_path, content, message):
    path = tmp_path / "prices.json"
    path.write_text(content)
    with pytest.raises(CommandError) as refused:
        load_prices("--file", str(path))
    assert message in str(refused.value)


def test_a_missing_file_is_refused_with_a_clear_message(db, tmp_path):
    with pytest.raises(CommandError, match="Can't read the price file .*nowhere.json"):
        load_prices("--file", str(tmp_path / "nowhere.json"))


# The migration.


def test_the_test_database_was_seeded_with_the_file_by_the_migration(db):
    mini = ModelPrice.objects.get(provider="standin", model="standin-mini")
    assert (mini.input_per_mtok, mini.cached_input_per_mtok, mini.output_per_mtok) == (
        Decimal("1"),
        Decimal("0.5"),
        Decimal("2"),
    )


@pytest.mark.django_db(transaction=True)
def test_the_migration_loads_the_price_file():
    ModelPrice.objects.all().delete()
    executor = MigrationExecutor(connection)
    latest = executor.loader.graph.leaf_nodes()
    executor.migrate([("usage", "0001_initial")])
    assert not ModelPrice.objects.exists()

    MigrationExecutor(connection).migrate(latest)

    _, rows = read_price_file()
    assert ModelPrice.objects.count() == len(rows)
    assert ModelPrice.objects.filter(provider="standin", model="standin-mini", input_per_mtok=1).exists()
