"""`manage.py load_prices [--file PATH]`: upsert the price file into ModelPrice (see usage/prices)."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from usage.models import ModelPrice
from usage.prices import PRICE_FILE, PriceFileError, load_price_file


class Command(BaseCommand):
    help = (
        "Load LLM model prices from the price file: create missing (provider, model, effective_from) rows, "
        "set changed ones to the file's figures, delete nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument("--file", default=str(PRICE_FILE), help="A price file (default: %(default)s).")

    def handle(self, *args, file: str, **options):
        try:
            result = load_price_file(ModelPrice, file)
        except PriceFileError as error:
            raise CommandError(f"{error} No price was changed.") from None
        self.stdout.write(
            f"Price file version {result.version}: {result.created} created, {result.updated} updated, "
            f"{result.unchanged} unchanged."
        )
