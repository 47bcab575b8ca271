"""On PostgreSQL a statement the connection runs repeatedly is prepared once (qodex/settings.py)."""

import pytest
from django.db import connection

from projects.models import ApiKey
from tests.factories import make_org

pytestmark = pytest.mark.postgres


def test_the_api_key_lookup_is_planned_once_per_connection(db):
    _, raw = ApiKey.issue(organization=make_org("Acme"), name="ci")
    for _ in range(6):
        assert ApiKey.find(raw) is not None
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        prepared = [row[0] for row in cursor.fetchall()]
    assert any('FROM "project_api_keys"' in statement for statement in prepared), prepared
