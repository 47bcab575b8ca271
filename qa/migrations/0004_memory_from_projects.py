# Memory arrives from projects/ (projects/migrations/0007_memory_moves_to_qa.py let it go). State only: the
# model keeps its table (`db_table = "projects_memory"`) and every index name, so no SQL runs and no row
# moves. The GIN index exists on PostgreSQL only (projects/migrations/0003_memories.py made it there).

import django.contrib.postgres.indexes
import django.contrib.postgres.search
import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('projects', '0007_memory_moves_to_qa'),
        ('qa', '0003_runner_pace_webhook_secret_callbacks'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='Memory',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('content', models.TextField()),
                        ('metadata', models.JSONField(blank=True, default=dict)),
                        ('created_at', models.DateTimeField(default=django.utils.timezone.now)),
                        ('updated_at', models.DateTimeField(auto_now=True)),
                        ('created_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                        ('organization', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='memories', to='projects.organization')),
                        ('project', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='memories', to='projects.project')),
                    ],
                    options={
                        'verbose_name_plural': 'memories',
                        'db_table': 'projects_memory',
                        'indexes': [
                            models.Index(fields=['project', '-id'], name='memory_project_recent'),
                            models.Index(condition=models.Q(('project__isnull', True)), fields=['organization', '-id'], name='memory_org_wide_recent'),
                            django.contrib.postgres.indexes.GinIndex(django.contrib.postgres.search.SearchVector('content', config='english'), name='memory_content_search'),
                        ],
                    },
                ),
            ],
        ),
    ]
