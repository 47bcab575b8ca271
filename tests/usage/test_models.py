"""usage.models.LlmUsageLog: the table, its indexes, and spend history that outlives what it points at."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection
from django.db.models import ProtectedError

from projects.models import ApiKey
from tests.factories import make_org, make_user
from usage.models import LlmUsageLog


def log_row(project, **fields) -> LlmUsageLog:
    defaults = {
        "source": LlmUsageLog.Source.CHAT,
        "funding": LlmUsageLog.Funding.PLATFORM,
        "provider": "standin",
        "model": "standin-mini",
        "outcome": LlmUsageLog.Outcome.OK,
    }
    return LlmUsageLog.objects.record(
        project=project, organization=project.organization, **{**defaults, **fields}
    )


def test_the_log_lives_in_the_llm_usage_log_table():
    assert LlmUsageLog._meta.db_table == "llm_usage_log"


def test_the_log_declares_its_project_time_and_time_indexes():
    declared = {index.name: index.fields for index in LlmUsageLog._meta.indexes}
    assert declared == {
        "llm_usage_project_time": ["project", "created_at"],
        "llm_usage_time": ["created_at"],
    }


def test_the_indexes_exist_in_the_database_and_project_has_no_redundant_one(db):
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, "llm_usage_log")
    indexes = {tuple(c["columns"]) for c in constraints.values() if c["index"] and not c["primary_key"]}
    assert ("project_id", "created_at") in indexes
    assert ("created_at",) in indexes
    # The composite index leads with project_id; a second index on it alone would only slow writes.
    assert ("project_id",) not in indexes


def test_the_choices_are_those_of_the_spec():
    assert set(LlmUsageLog.Source.values) == {
        "chat",
        "playground",
        "scenario_generation",
        "test_run",
        "memory",
        "key_check",
        "api",
    }
    assert set(LlmUsageLog.Funding.values) == {"platform", "byok", "codex_pool"}
    assert set(LlmUsageLog.Outcome.values) == {
        "ok",
        "error",
        "timeout",
        "rate_limited",
        "auth_failed",
        "cap_exceeded",
        "invalid_request",
    }


def test_a_row_keeps_cost_to_8_places_and_unpriced_as_null(db):
    project = make_org("Acme").default_project
    priced = log_row(project, cost_usd=Decimal("0.00000007"), input_tokens=1)
    unpriced = log_row(project, model="standin-unpriced", cost_usd=None)
    priced.refresh_from_db()
    unpriced.refresh_from_db()
    assert priced.cost_usd == Decimal("0.00000007")
    assert unpriced.cost_usd is None
    assert (unpriced.input_tokens, unpriced.output_tokens, unpriced.cached_tokens, unpriced.latency_ms) == (
        0,
        0,
        0,
        0,
    )


def test_a_project_with_spend_history_cannot_be_deleted_outright(db):
    project = make_org("Acme").default_project
    log_row(project)
    with pytest.raises(ProtectedError):
        project.delete()


def test_deleting_the_user_or_api_key_keeps_the_row(db):
    user = make_user("ann@acme.test")
    project = make_org("Acme", owner=user).default_project
    key = ApiKey.objects.create(
        organization=project.organization, project=project, name="CI", prefix="qdx_abcdefgh"
    )
    row = log_row(project, user=user, api_key=key, source=LlmUsageLog.Source.API)
    key.delete()
    user.delete()
    row.refresh_from_db()
    assert (row.user_id, row.api_key_id, row.project_id) == (None, None, project.pk)
