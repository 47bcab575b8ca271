# Seeds ModelPrice from the price file in the repo (usage/prices/prices.json) through the one loader, the
# one `manage.py load_prices` uses. It reads the file as it is when this runs; later versions of the file
# reach existing databases through `load_prices`. Going back leaves the prices (staff may have edited them).

from django.db import migrations

from usage.prices import load_price_file


def load_prices(apps, schema_editor):
    load_price_file(apps.get_model("usage", "ModelPrice"))


class Migration(migrations.Migration):

    dependencies = [
        ("usage", "0001_initial"),
    ]

    operations = [
        migrations.RunPython(load_prices, migrations.RunPython.noop),
    ]
