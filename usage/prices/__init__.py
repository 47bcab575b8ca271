"""The versioned price file (prices.json, next to this module) and its one loader.

Used by the data migration that seeds ModelPrice and by `manage.py load_prices`: an upsert on
(provider, model, effective_from) that never deletes a row, so prices staff added in the admin stay.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path

from django.db import transaction

PRICE_FILE = Path(__file__).with_name("prices.json")
RATE_FIELDS = ("input_per_mtok", "cached_input_per_mtok", "output_per_mtok")
REQUIRED = ("provider", "model", "input_per_mtok", "output_per_mtok", "effective_from")
ALLOWED = {*REQUIRED, "cached_input_per_mtok", "note"}
# ModelPrice's limits, repeated here because the migration hands us its historical model.
MAX_PROVIDER, MAX_MODEL, MAX_NOTE = 20, 200, 200
RATE_MAX = Decimal("999999.999999")  # max_digits=12, decimal_places=6


class PriceFileError(ValueError):
    """The price file is unreadable or an entry is invalid; nothing was written."""


@dataclass(frozen=True)
class LoadResult:
    version: object
    created: int
    updated: int
    unchanged: int


def _rate(value, where: str, *, nullable: bool = False) -> Decimal | None:
    if value is None and nullable:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        raise PriceFileError(f'{where}: write the rate as a string of USD per 1M tokens, e.g. "2.50".')
    try:
        rate = Decimal(value)
    except InvalidOperation:
        raise PriceFileError(f"{where}: “{value}” is not a number.") from None
    if not rate.is_finite() or rate < 0 or rate > RATE_MAX or rate != rate.quantize(Decimal("0.000001")):
        raise PriceFileError(f"{where}: use a rate from 0 to {RATE_MAX} with at most 6 decimal places.")
    return rate


def _text(value, where: str, max_length: int, *, blank: bool = False) -> str:
    if not isinstance(value, str) or (not blank and not value.strip()) or len(value) > max_length:
        raise PriceFileError(f"{where}: give a text of {'0' if blank else '1'} to {max_length} characters.")
    return value


def _moment(value, where: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise PriceFileError(f'{where}: use an ISO 8601 time with its zone, e.g. "2025-06-10T00:00:00Z".')
    return moment


def read_price_file(path: Path | str = PRICE_FILE) -> tuple[object, list[dict]]:
    """The file's version and its entries as ModelPrice field values; raises PriceFileError."""
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"), parse_float=Decimal)
    except OSError as error:
        raise PriceFileError(f"Can't read the price file {path}: {error.strerror}.") from None
    except ValueError as error:  # also UnicodeDecodeError
        raise PriceFileError(f"The price file {path} is not valid JSON: {error}.") from None
    if not isinstance(document, dict) or not isinstance(document.get("prices"), list):
        raise PriceFileError(f'The price file {path} needs a "version" and a "prices" list.')
    if "version" not in document:
        raise PriceFileError(f'The price file {path} needs a "version".')
    rows, seen = [], set()
    for index, entry in enumerate(document["prices"]):
        where = f"prices[{index}]"
        if not isinstance(entry, dict):
            raise PriceFileError(f"{where}: each price is an object.")
        if missing := [name for name in REQUIRED if name not in entry]:
            raise PriceFileError(f"{where}: missing {', '.join(missing)}.")
        if unknown := sorted(set(entry) - ALLOWED):
            raise PriceFileError(f"{where}: unknown field {', '.join(unknown)}.")
        model = _text(entry["model"], f"{where}.model", MAX_MODEL)
        if "*" in model[:-1]:
            raise PriceFileError(f"{where}.model: use * only at the end of a pattern (“{model}”).")
        row = {
            "provider": _text(entry["provider"], f"{where}.provider", MAX_PROVIDER),
            "model": model,
            "input_per_mtok": _rate(entry["input_per_mtok"], f"{where}.input_per_mtok"),
            "cached_input_per_mtok": _rate(
                entry.get("cached_input_per_mtok"), f"{where}.cached_input_per_mtok", nullable=True
            ),
            "output_per_mtok": _rate(entry["output_per_mtok"], f"{where}.output_per_mtok"),
            "effective_from": _moment(entry["effective_from"], f"{where}.effective_from"),
            "note": _text(entry.get("note", ""), f"{where}.note", MAX_NOTE, blank=True),
        }
        key = (row["provider"], row["model"], row["effective_from"])
        if key in seen:
            raise PriceFileError(f"{where}: {row['provider']}/{model} from {entry['effective_from']} twice.")
        seen.add(key)
        rows.append(row)
    return document["version"], rows


def load_price_file(model_price, path: Path | str = PRICE_FILE) -> LoadResult:
    """Upsert the file's prices into `model_price` (the ModelPrice class, or the migration's historical
    one) in one transaction: new keys are created, rows whose figures differ from the file are updated
    to the file's, and no row is ever deleted. Raises PriceFileError before writing anything."""
    version, rows = read_price_file(path)
    created = updated = 0
    with transaction.atomic():
        existing = {
            (price.provider, price.model, price.effective_from): price
            for price in model_price.objects.select_for_update()
        }
        for row in rows:
            price = existing.get((row["provider"], row["model"], row["effective_from"]))
            if price is None:
                model_price.objects.create(**row)
                created += 1
            elif any(getattr(price, name) != row[name] for name in (*RATE_FIELDS, "note")):
                for name in (*RATE_FIELDS, "note"):
                    setattr(price, name, row[name])
                price.save(update_fields=[*RATE_FIELDS, "note"])
                updated += 1
    return LoadResult(
        version=version, created=created, updated=updated, unchanged=len(rows) - created - updated
    )
