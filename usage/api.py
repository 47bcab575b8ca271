"""A project's LLM usage over the API (SPEC §5): `GET /api/v1/p/<slug>/usage?days=30`, for CI and the CLI.

The same figures as the project's usage page (usage.console.project_report, rollups only), for the UTC
days that overlap the last `days` × 24 hours. Like the page, it is for the project's admins (a `write`
key, or a session of an admin or owner).
"""

from __future__ import annotations

from datetime import date, datetime

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema

from qodex.api_auth import project_route
from qodex.api_errors import ERRORS
from qodex.schemas import Out
from usage import console

router = Router(tags=["usage"])


class Counters(Out):
    calls: int
    errors: int = Field(description="Calls whose outcome is not `ok`.")
    input_tokens: int = Field(description="Cached input tokens included.")
    output_tokens: int
    cached_tokens: int
    cost_usd: str = Field(
        description='USD as a decimal string with 8 places ("0.01234500"), priced calls only.',
        examples=["0.01234500"],
    )
    unpriced_calls: int = Field(description="Successful calls of a model without a price: cost unknown.")


class SourceCounters(Counters):
    source: str


class DayCounters(Counters):
    date: date


class UsageOut(Out):
    from_: datetime = Field(alias="from", description="The first moment counted: 00:00 UTC of the first day.")
    to: datetime = Field(description="The first moment after the period: 00:00 UTC after the last day.")
    totals: Counters
    by_source: list[SourceCounters] = Field(description="Most cost first.")
    by_day: list[DayCounters] = Field(description="Every UTC day of the period, oldest first.")


class UsageParams(Schema):
    days: int = Field(30, ge=1, le=366, description="UTC days overlapping the last `days` × 24 hours.")


def counters(figures: console.Figures) -> dict:
    return {
        "calls": figures.calls,
        "errors": figures.errors,
        "input_tokens": figures.input_tokens,
        "output_tokens": figures.output_tokens,
        "cached_tokens": figures.cached_tokens,
        "cost_usd": console.usd(figures.cost_usd),
        "unpriced_calls": figures.unpriced_calls,
    }


@router.get(
    "/p/{slug}/usage",
    response={200: UsageOut, **ERRORS},
    auth=project_route(read="project:admin", write="project:admin"),
    by_alias=True,
)
def project_usage(request: HttpRequest, slug: str, params: Query[UsageParams]):
    """Calls, tokens and cost charged to this project: totals, per source and per UTC day."""
    period = console.Period.last_days(params.days)
    report = console.project_report(request.project_access.project, period, console.Filters())
    return {
        "from": period.start,
        "to": period.end,
        "totals": counters(report.totals),
        "by_source": [
            {"source": line.columns["source"], **counters(line.figures)} for line in report.sources
        ],
        "by_day": [{"date": day.day, **counters(day.figures)} for day in report.days],
    }
