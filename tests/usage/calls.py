"""Usage rows for the console tests, written the one way the app writes them (LlmUsageLog.objects.record),
so the rollups the pages read follow."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from usage.models import LlmUsageLog


def call(
    project,
    at: datetime,
    *,
    cost: str | None = "0.01",
    source: str = "chat",
    funding: str = "platform",
    provider: str = "openai",
    model: str = "gpt-4o-mini",
    outcome: str = "ok",
    latency: int = 300,
    tokens: tuple[int, int, int] = (100, 10, 50),  # input, cached, output
) -> LlmUsageLog:
    return LlmUsageLog.objects.record(
        project=project,
        organization=project.organization,
        source=source,
        funding=funding,
        provider=provider,
        model=model,
        outcome=outcome,
        latency_ms=latency,
        input_tokens=tokens[0],
        cached_tokens=tokens[1],
        output_tokens=tokens[2],
        cost_usd=None if cost is None else Decimal(cost),
        created_at=at,
    )


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)
