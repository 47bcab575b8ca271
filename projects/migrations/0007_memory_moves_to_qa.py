# Memory moves to qa/ (qa/migrations/0004_memory_from_projects.py takes it over). State only: the table
# `projects_memory`, its rows, indexes and constraints stay exactly as they are.

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('projects', '0006_llm_settings'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.DeleteModel(
                    name='Memory',
                ),
            ],
        ),
    ]
