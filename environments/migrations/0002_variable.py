# Environment variables move from the JSON column `environments.variables` into rows of
# `environment_variables` in three steps: this one makes the table (renaming the JSON column out of the
# way of the new `variables` relation), 0003 copies the data, 0004 drops the old column.

import django.db.models.deletion
import django.utils.timezone
import environments.models
import qodex.crypto
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("environments", "0001_initial"),
    ]

    operations = [
        migrations.RenameField(
            model_name="environment",
            old_name="variables",
            new_name="legacy_variables",
        ),
        migrations.CreateModel(
            name="Variable",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("name", models.CharField(max_length=100, validators=[environments.models.validate_variable_name])),
                ("value", qodex.crypto.EncryptedTextField(blank=True, default="")),
                ("secret", models.BooleanField(default=False)),
                ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                ("updated_at", models.DateTimeField(auto_now=True)),
                (
                    "environment",
                    models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="variables",
                        to="environments.environment",
                    ),
                ),
            ],
            options={
                "db_table": "environment_variables",
                "ordering": ["name"],
                "constraints": [
                    models.UniqueConstraint(
                        fields=("environment", "name"),
                        name="variable_name_unique_per_environment",
                        violation_error_message="This environment already has a variable with this name.",
                    )
                ],
            },
        ),
    ]
