"""Cap reservations live for the length of one LLM call: on PostgreSQL their table is UNLOGGED, so taking
one costs no WAL flush (≈0.2 ms of every platform call; docs/PERFORMANCE.md). After a database crash
the table comes back empty, which only forgets calls that were in flight."""

from django.db import migrations


def set_logging(logged: bool):
    def apply(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            table = schema_editor.quote_name(apps.get_model("byok", "CapReservation")._meta.db_table)
            schema_editor.execute(f"ALTER TABLE {table} SET {'LOGGED' if logged else 'UNLOGGED'}")

    return apply


class Migration(migrations.Migration):
    dependencies = [("byok", "0001_initial")]

    operations = [migrations.RunPython(set_logging(False), set_logging(True))]
