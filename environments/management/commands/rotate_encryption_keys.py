"""`manage.py rotate_encryption_keys`: re-encrypt every stored secret under the newest key.

Replacing a key: put the new key first in QODEX_ENCRYPTION_KEYS (keeping the old ones after it), deploy,
run this command, then remove the old keys. It finds every `EncryptedTextField` of every installed model
(environment variables included), so a new model with secrets is covered without touching this file.
"""

from __future__ import annotations

from django.apps import apps
from django.core.management.base import BaseCommand, CommandError
from django.db import models, transaction
from django.db.models.functions import Cast

from qodex import crypto
from qodex.crypto import EncryptedTextField


def rotate_columns(model: type[models.Model]) -> int:
    """Re-encrypt the model's EncryptedTextField columns in place; the number of values rotated."""
    fields = [field for field in model._meta.concrete_fields if isinstance(field, EncryptedTextField)]
    if not fields:
        return 0
    # Read and write the ciphertext through a plain TextField so the field never decrypts or re-encrypts.
    raw = {f"raw_{field.attname}": Cast(field.attname, output_field=models.TextField()) for field in fields}
    rows = model._base_manager.select_for_update().order_by("pk").annotate(**raw).values("pk", *raw)
    count = 0
    for row in rows.iterator(chunk_size=500):
        changes = {}
        for field in fields:
            token = row[f"raw_{field.attname}"]
            if token:
                try:
                    rotated = crypto.rotate(token)
                except crypto.DecryptionError as exc:
                    raise CommandError(f"{model._meta.label} #{row['pk']}, {field.name}: {exc}") from exc
                changes[field.attname] = models.Value(rotated, output_field=models.TextField())
        if changes:
            model._base_manager.filter(pk=row["pk"]).update(**changes)
            count += len(changes)
    return count


class Command(BaseCommand):
    help = "Re-encrypt every stored secret under the newest key in QODEX_ENCRYPTION_KEYS."

    def handle(self, *args, **options) -> None:
        total = 0
        # All or nothing: a secret no key can open stops the rotation before anything is written.
        with transaction.atomic():
            for model in apps.get_models():
                count = rotate_columns(model)
                if count:
                    self.stdout.write(f"{model._meta.label}: {count} secret(s) re-encrypted.")
                total += count
        self.stdout.write(self.style.SUCCESS(f"Done: {total} secret(s) now use the newest key."))
