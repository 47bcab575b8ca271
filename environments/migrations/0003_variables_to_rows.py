# Copies every variable of the old JSON column into a Variable row. Secret values were stored there as
# {"secret": true, "ciphertext": …}: they are decrypted with qodex.crypto and stored again through the
# row's EncryptedTextField (as are plain values, which were stored as they are). Reversible: going back
# writes the rows into the JSON column in its old shape.

from django.db import migrations

from qodex import crypto

BATCH = 500
NAME_MAX_LENGTH = 100


def _plaintext(entry):
    if not isinstance(entry, dict):
        return "" if entry is None else str(entry)
    if entry.get("secret") and "value" not in entry:
        return crypto.decrypt(entry["ciphertext"]) if entry.get("ciphertext") else ""
    value = entry.get("value", "")
    return "" if value is None else str(value)


def json_to_rows(apps, schema_editor):
    Environment = apps.get_model("environments", "Environment")
    Variable = apps.get_model("environments", "Variable")
    rows = []
    environments = Environment.objects.order_by("pk").values_list("pk", "name", "legacy_variables")
    for environment_id, environment_name, variables in environments.iterator(chunk_size=BATCH):
        for name, entry in (variables if isinstance(variables, dict) else {}).items():
            if len(name) > NAME_MAX_LENGTH:
                raise ValueError(
                    f"Environment #{environment_id} ({environment_name}) has a variable whose name is over "
                    f"{NAME_MAX_LENGTH} characters ({name[:20]}…); shorten it before migrating."
                )
            secret = isinstance(entry, dict) and bool(entry.get("secret"))
            rows.append(Variable(environment_id=environment_id, name=name, value=_plaintext(entry), secret=secret))
        if len(rows) >= BATCH:
            Variable.objects.bulk_create(rows)
            rows = []
    Variable.objects.bulk_create(rows)


def rows_to_json(apps, schema_editor):
    Environment = apps.get_model("environments", "Environment")
    Variable = apps.get_model("environments", "Variable")
    by_environment = {}
    for row in Variable.objects.order_by("environment_id", "name").iterator(chunk_size=BATCH):
        if row.secret:
            entry = {"secret": True, "ciphertext": crypto.encrypt(row.value) if row.value else ""}
        else:
            entry = {"value": row.value, "secret": False}
        by_environment.setdefault(row.environment_id, {})[row.name] = entry
    for environment_id, variables in by_environment.items():
        Environment.objects.filter(pk=environment_id).update(legacy_variables=variables)


class Migration(migrations.Migration):

    dependencies = [
        ("environments", "0002_variable"),
    ]

    operations = [
        migrations.RunPython(json_to_rows, rows_to_json),
    ]
