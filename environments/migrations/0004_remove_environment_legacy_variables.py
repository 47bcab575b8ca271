from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ("environments", "0003_variables_to_rows"),
    ]

    operations = [
        migrations.RemoveField(
            model_name="environment",
            name="legacy_variables",
        ),
    ]
