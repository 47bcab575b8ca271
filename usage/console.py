"""The LLM spend consoles (SPEC §8): the staff console's `#llm` tab and a project's usage page.

Every figure comes from the rollups in usage.models, never from `llm_usage_log`, so a page costs the same
few queries whatever the size of the log:

| what                                           | read from                                         |
|------------------------------------------------|---------------------------------------------------|
| site totals, per source, model, funding, chart | UsageDailySite (a few thousand rows a period)     |
| … filtered to one organization                 | UsageDaily, by its (organization, day) index      |
| the per-project table                          | UsageDailyProject (`organization=` when filtered) |
| one project's page and the API                 | UsageDaily, by its (project, day, …) key          |
| projects near their platform caps              | UsageHourly, the hour buckets byok.caps reads     |

Buckets are whole UTC days, so a period is the range of UTC days that covers it: "24 h" is yesterday and
today (UTC), "7 d" the eight UTC days that overlap the last 7 × 24 hours. The pages say so, with the
exact bounds in UTC and in the viewer's time zone. Tables are sorted by cost, most first; calls of a model
without a price count in `unpriced_calls` (their cost is unknown, never 0) and the pages flag them.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from decimal import Decimal

from django.db.models import Count, DecimalField, F, Q, QuerySet, Sum, Value, Window
from django.db.models.functions import Coalesce
from django.utils import timezone

from byok import caps
from projects.models import Organization, Project
from qodex.timezones import clock
from usage.models import (
    LATENCY_BUCKETS,
    LlmUsageLog,
    UsageDaily,
    UsageDailyProject,
    UsageDailySite,
    UsageHourly,
)
from usage.rollups import COUNTERS, day_of, hour_of, percentile

# --- periods --------------------------------------------------------------------------------------------

PRESETS = {
    "24h": ("24 h", timedelta(hours=24)),
    "7d": ("7 d", timedelta(days=7)),
    "30d": ("30 d", timedelta(days=30)),
    "90d": ("90 d", timedelta(days=90)),
}
DEFAULT_PERIOD = "30d"
MAX_DAYS = 366
FIRST_DAY = date(2020, 1, 1)  # before Qodex existed: an earlier date is a typo


@dataclass(frozen=True)
class Period:
    """A range of whole UTC days, `first_day` to `last_day` inclusive."""

    key: str  # a PRESETS key, or "custom"
    first_day: date
    last_day: date

    @classmethod
    def last(cls, key: str, now: datetime | None = None) -> Period:
        """The UTC days that overlap the preset's span ending now."""
        now = now or timezone.now()
        return cls(key, day_of(now - PRESETS[key][1]), day_of(now))

    @classmethod
    def last_days(cls, days: int, now: datetime | None = None) -> Period:
        """The UTC days that overlap the last `days` × 24 hours (the API's `?days=`)."""
        now = now or timezone.now()
        return cls("custom", day_of(now - timedelta(days=days)), day_of(now))

    @property
    def label(self) -> str:
        return PRESETS[self.key][0] if self.key in PRESETS else "Custom range"

    @property
    def start(self) -> datetime:
        return datetime.combine(self.first_day, time.min, tzinfo=UTC)

    @property
    def end(self) -> datetime:
        """The first moment after the period (exclusive)."""
        return datetime.combine(self.last_day + timedelta(days=1), time.min, tzinfo=UTC)

    @property
    def days(self) -> list[date]:
        return [self.first_day + timedelta(days=n) for n in range((self.last_day - self.first_day).days + 1)]

    def bounds(self, zone: tzinfo) -> tuple[str, str]:
        """Start and (exclusive) end as the viewer reads them in `zone`."""
        return clock(self.start, zone), clock(self.end, zone)

    def slug(self) -> str:
        return f"{self.first_day:%Y-%m-%d}-to-{self.last_day:%Y-%m-%d}"


def period_from(params: Mapping[str, str], now: datetime | None = None) -> tuple[Period, str]:
    """The period a request asks for (`?period=24h|7d|30d|90d`, or `?from=&to=` dates for a custom one)
    and a sentence saying what was wrong with it, if anything (then the default period is used)."""
    now = now or timezone.now()
    first, last = (params.get("from") or "").strip(), (params.get("to") or "").strip()
    if first or last:
        try:
            return custom_period(first, last, now), ""
        except ValueError as error:
            return Period.last(DEFAULT_PERIOD, now), f"{error} Showing the last 30 days instead."
    key = (params.get("period") or DEFAULT_PERIOD).strip()
    if key not in PRESETS:
        return Period.last(DEFAULT_PERIOD, now), (
            "Choose a period of 24 h, 7 d, 30 d or 90 d, or a custom range. Showing the last 30 days."
        )
    return Period.last(key, now), ""


def custom_period(first: str, last: str, now: datetime) -> Period:
    if not (first and last):
        raise ValueError("A custom range needs both a start and an end date.")
    try:
        first_day, last_day = date.fromisoformat(first), date.fromisoformat(last)
    except ValueError:
        raise ValueError("Enter dates as YYYY-MM-DD.") from None
    latest = day_of(now) + timedelta(days=MAX_DAYS)
    if not (FIRST_DAY <= first_day <= latest and FIRST_DAY <= last_day <= latest):
        raise ValueError(f"Pick dates between {FIRST_DAY:%Y-%m-%d} and {latest:%Y-%m-%d}.")
    if first_day > last_day:
        raise ValueError("The start date is after the end date.")
    if (last_day - first_day).days + 1 > MAX_DAYS:
        raise ValueError(f"A custom range can cover at most {MAX_DAYS} days.")
    return Period("custom", first_day, last_day)


# --- filters --------------------------------------------------------------------------------------------

FUNDING_LABELS = dict(LlmUsageLog.Funding.choices)
NAME_RE = re.compile(r"^[A-Za-z0-9_.-]+$")  # slugs and provider names: what a filter may look up
SOURCE_LABELS = dict(LlmUsageLog.Source.choices)
SOURCE_ORDER = list(SOURCE_LABELS)


@dataclass(frozen=True)
class Filters:
    organization: Organization | None = None
    provider: str = ""
    funding: str = ""

    def apply(self, rows: QuerySet) -> QuerySet:
        if self.organization is not None:
            rows = rows.filter(organization=self.organization)
        if self.provider:
            rows = rows.filter(provider=self.provider)
        if self.funding:
            rows = rows.filter(funding=self.funding)
        return rows

    @property
    def active(self) -> bool:
        return bool(self.organization or self.provider or self.funding)


def filters_from(params: Mapping[str, str], *, organizations: bool = True) -> tuple[Filters, list[str]]:
    """The filters a request asks for (`?organization=<slug>&provider=&funding=`), and what was wrong.

    An unknown organization or funding is dropped with a message; a provider is any short name (one that
    never made a call simply matches nothing)."""
    problems = []
    organization = None
    slug = (params.get("organization") or "").strip()[:100] if organizations else ""
    if slug:
        if NAME_RE.match(slug):
            organization = Organization.objects.filter(slug=slug).first()
        if organization is None:
            problems.append(f"No organization “{slug}”; showing every organization.")
    provider = (params.get("provider") or "").strip()
    if provider and not (len(provider) <= 20 and NAME_RE.match(provider)):
        problems.append("A provider is a name of up to 20 letters and digits; showing every provider.")
        provider = ""
    funding = (params.get("funding") or "").strip()
    if funding and funding not in FUNDING_LABELS:
        problems.append("Funding is platform, byok or codex_pool; showing every funding.")
        funding = ""
    return Filters(organization, provider, funding), problems


# --- figures --------------------------------------------------------------------------------------------

MONEY = DecimalField(max_digits=18, decimal_places=8)
SUMS = {
    f"{name}_sum": Coalesce(Sum(name), Value(Decimal(0)), output_field=MONEY)
    if name == "cost_usd"
    else Coalesce(Sum(name), 0)
    for name in COUNTERS
}
ORDER_BY_COST = ("-cost_usd_sum", "-unpriced_calls_sum", "-calls_sum")
RANK_SUMS = [name.lstrip("-") for name in ORDER_BY_COST]


@dataclass(frozen=True)
class Figures:
    """The counters of some rollup rows summed, and what the pages derive from them."""

    calls: int = 0
    errors: int = 0
    input_tokens: int = 0
    cached_tokens: int = 0
    output_tokens: int = 0
    cost_usd: Decimal = Decimal(0)
    unpriced_calls: int = 0
    latency_ms_total: int = 0
    histogram: tuple[int, ...] = (0,) * len(LATENCY_BUCKETS)

    @classmethod
    def of(cls, row: Mapping) -> Figures:
        """From a row annotated with SUMS."""
        return cls(
            calls=row["calls_sum"],
            errors=row["errors_sum"],
            input_tokens=row["input_tokens_sum"],
            cached_tokens=row["cached_tokens_sum"],
            output_tokens=row["output_tokens_sum"],
            cost_usd=Decimal(row["cost_usd_sum"]),
            unpriced_calls=row["unpriced_calls_sum"],
            latency_ms_total=row["latency_ms_total_sum"],
            histogram=tuple(row[f"{name}_sum"] for name in LATENCY_BUCKETS),
        )

    def __add__(self, other: Figures) -> Figures:
        return Figures(
            calls=self.calls + other.calls,
            errors=self.errors + other.errors,
            input_tokens=self.input_tokens + other.input_tokens,
            cached_tokens=self.cached_tokens + other.cached_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            cost_usd=self.cost_usd + other.cost_usd,
            unpriced_calls=self.unpriced_calls + other.unpriced_calls,
            latency_ms_total=self.latency_ms_total + other.latency_ms_total,
            histogram=tuple(a + b for a, b in zip(self.histogram, other.histogram, strict=True)),
        )

    @property
    def tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    @property
    def error_rate(self) -> float | None:
        return self.errors / self.calls if self.calls else None

    @property
    def error_percent(self) -> str:
        rate = self.error_rate
        return "—" if rate is None else f"{rate * 100:.1f}%"

    @property
    def p50_ms(self) -> int | None:
        return percentile(self.histogram, 0.5)

    @property
    def p95_ms(self) -> int | None:
        return percentile(self.histogram, 0.95)

    @property
    def mean_ms(self) -> int | None:
        return round(self.latency_ms_total / self.calls) if self.calls else None


def usd(value: Decimal) -> str:
    """The API's and the CSV's money: a decimal string with 8 places, never a float."""
    return f"{Decimal(value).quantize(Decimal('0.00000001')):f}"


def _grouped(rows: QuerySet, *keys: str) -> list[dict]:
    return list(rows.values(*keys).annotate(**SUMS).order_by(*ORDER_BY_COST, *keys))


def total(figures: Iterable[Figures]) -> Figures:
    return sum(figures, Figures())


# --- a report: what a page shows for a period ------------------------------------------------------------


@dataclass(frozen=True)
class Line:
    """One row of a breakdown table: its name, a second line of detail, the CSV's key columns, figures."""

    label: str
    figures: Figures
    columns: dict[str, str] = field(default_factory=dict)
    detail: str = ""
    badge: str = ""


@dataclass(frozen=True)
class Day:
    day: date
    figures: Figures
    by_source: dict[str, Figures]


@dataclass
class Report:
    period: Period
    filters: Filters
    totals: Figures
    sources: list[Line]
    models: list[Line]
    fundings: list[Line]
    days: list[Day]
    projects: list[Line] | None = None  # the staff console only
    project_count: int = 0
    providers: list[str] = field(default_factory=list)

    @property
    def sources_present(self) -> list[str]:
        """The sources that appear in the period, in the chart's stacking order."""
        present = {line.columns["source"] for line in self.sources}
        return [source for source in SOURCE_ORDER if source in present] + sorted(present - set(SOURCE_ORDER))


PROJECT_ROWS = 100  # the page shows the projects that spent most; the CSV has every one


def site_report(period: Period, filters: Filters, *, all_projects: bool = False) -> Report:
    """The staff console's `#llm` figures: every project, or one organization's."""
    days = Q(day__gte=period.first_day, day__lte=period.last_day)
    if filters.organization is not None:
        # The site table has no organization: one organization's rows come from the per-project table.
        rows = filters.apply(UsageDaily.objects.filter(days))
    else:
        rows = filters.apply(UsageDailySite.objects.filter(days))
    report = _report(period, filters, rows)
    report.providers = _providers(UsageDailySite.objects.filter(days), filters.provider)
    # Each project's sums, most spent first, and (over the groups) how many projects spent at all.
    per_project = filters.apply(UsageDailyProject.objects.filter(days)).values("project_id")
    # The page shows the PROJECT_ROWS that spent most. Ranking every project on the three sums the order
    # needs, then summing everything for those few (usage_daily_project_days), costs half as much as
    # summing every counter of every project (docs/PERFORMANCE.md). The CSV sums every project at once.
    sums = SUMS if all_projects else {name: SUMS[name] for name in RANK_SUMS}
    grouped = per_project.annotate(**sums, project_count=Window(Count("*"))).order_by(
        *ORDER_BY_COST, "project_id"
    )
    grouped = list(grouped if all_projects else grouped[:PROJECT_ROWS])
    if not all_projects and grouped:
        top = per_project.filter(project_id__in=[row["project_id"] for row in grouped]).annotate(**SUMS)
        summed = {row["project_id"]: row for row in top.order_by()}
        grouped = [{**summed[row["project_id"]], "project_count": row["project_count"]} for row in grouped]
    report.project_count = grouped[0]["project_count"] if grouped else 0
    projects = Project.objects.select_related("organization").in_bulk([row["project_id"] for row in grouped])
    report.projects = [_project_line(projects[row["project_id"]], Figures.of(row)) for row in grouped]
    return report


def project_report(project: Project, period: Period, filters: Filters) -> Report:
    """One project's figures for its usage page and the API (never another project's rows)."""
    filters = Filters(None, filters.provider, filters.funding)
    days = UsageDaily.objects.filter(project=project, day__gte=period.first_day, day__lte=period.last_day)
    report = _report(period, filters, filters.apply(days))
    report.providers = _providers(days, filters.provider)
    return report


def _report(period: Period, filters: Filters, rows: QuerySet) -> Report:
    """Four grouped reads of `rows` (per day and source, source, model, funding); the totals are the
    sources' sums and each day's total its sources' (a handful of rows each)."""
    by_day_source: dict[date, dict[str, Figures]] = {}
    for row in _grouped(rows, "day", "source"):
        by_day_source.setdefault(row["day"], {})[row["source"]] = Figures.of(row)
    sources = [
        Line(SOURCE_LABELS.get(row["source"], row["source"]), Figures.of(row), {"source": row["source"]})
        for row in _grouped(rows, "source")
    ]
    return Report(
        period=period,
        filters=filters,
        totals=total(line.figures for line in sources),
        sources=sources,
        models=[
            Line(
                row["model"],
                Figures.of(row),
                {"provider": row["provider"], "model": row["model"]},
                detail=row["provider"],
            )
            for row in _grouped(rows, "provider", "model")
        ],
        fundings=[
            Line(
                FUNDING_LABELS.get(row["funding"], row["funding"]),
                Figures.of(row),
                {"funding": row["funding"]},
            )
            for row in _grouped(rows, "funding")
        ],
        days=[
            Day(day, total(by_day_source.get(day, {}).values()), by_day_source.get(day, {}))
            for day in period.days
        ],
    )


def _providers(rows: QuerySet, chosen: str) -> list[str]:
    """The providers to offer in the filter: those with calls in the period, and the chosen one."""
    found = set(rows.order_by().values_list("provider", flat=True).distinct())
    return sorted(found | ({chosen} if chosen else set()))


def _project_line(project: Project, figures: Figures) -> Line:
    return Line(
        project.name,
        figures,
        {
            "project": project.name,
            "project_id": project.public_id,
            "slug": project.slug,
            "organization": project.organization.name,
        },
        detail=f"{project.organization.name} · {project.slug}",
        badge="deleted" if project.deleted_at else "",
    )


# --- CSV ------------------------------------------------------------------------------------------------

FIGURE_COLUMNS = [
    "calls",
    "errors",
    "error_rate",
    "input_tokens",
    "cached_tokens",
    "output_tokens",
    "cost_usd",
    "unpriced_calls",
    "p50_ms",
    "p95_ms",
]
TABLES = {
    "projects": ["project", "project_id", "slug", "organization"],
    "sources": ["source"],
    "models": ["provider", "model"],
    "funding": ["funding"],
    "days": ["date", "source"],
}


def figure_cells(figures: Figures) -> list[str]:
    rate = figures.error_rate
    return [
        str(figures.calls),
        str(figures.errors),
        "" if rate is None else f"{rate:.4f}",
        str(figures.input_tokens),
        str(figures.cached_tokens),
        str(figures.output_tokens),
        usd(figures.cost_usd),
        str(figures.unpriced_calls),
        "" if figures.p50_ms is None else str(figures.p50_ms),
        "" if figures.p95_ms is None else str(figures.p95_ms),
    ]


def _safe(cell: str) -> str:
    # Names people typed open in a spreadsheet: a leading = + - @ would make them a formula.
    return "'" + cell if cell[:1] in ("=", "+", "-", "@", "\t", "\r") else cell


def csv_text(report: Report, table: str) -> str:
    """One of the report's tables as CSV (a header row, then its rows in the page's order)."""
    lines: Iterable[tuple[list[str], Figures]]
    keys = TABLES[table]
    if table == "days":
        lines = (
            ([f"{day.day:%Y-%m-%d}", source], figures)
            for day in report.days
            for source, figures in sorted(day.by_source.items())
        )
    else:
        chosen = {
            "projects": report.projects or [],
            "sources": report.sources,
            "models": report.models,
            "funding": report.fundings,
        }[table]
        lines = (([_safe(line.columns[key]) for key in keys], line.figures) for line in chosen)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(keys + FIGURE_COLUMNS)
    for cells, figures in lines:
        writer.writerow(cells + figure_cells(figures))
    return out.getvalue()


# --- the staff console's other figures -------------------------------------------------------------------


@dataclass(frozen=True)
class SpendSummary:
    today: Figures
    week: Figures
    week_period: Period


def spend_summary(now: datetime | None = None) -> SpendSummary:
    """Site-wide spend and calls today (the UTC day so far) and over the 7 d period, in one query."""
    now = now or timezone.now()
    week = Period.last("7d", now)
    today = Q(day=day_of(now))
    sums = {}
    for name in ("calls", "cost_usd", "unpriced_calls", "errors"):
        zero = Value(Decimal(0)) if name == "cost_usd" else Value(0)
        kind = MONEY if name == "cost_usd" else None
        sums[f"today_{name}"] = Coalesce(Sum(name, filter=today), zero, output_field=kind)
        sums[f"week_{name}"] = Coalesce(Sum(name), zero, output_field=kind)
    found = UsageDailySite.objects.filter(day__gte=week.first_day, day__lte=week.last_day).aggregate(**sums)

    def figures(prefix: str) -> Figures:
        return Figures(
            calls=found[f"{prefix}_calls"],
            errors=found[f"{prefix}_errors"],
            cost_usd=found[f"{prefix}_cost_usd"],
            unpriced_calls=found[f"{prefix}_unpriced_calls"],
        )

    return SpendSummary(figures("today"), figures("week"), week)


def spend_by_project(projects: list[Project], period: Period) -> dict[int, Figures]:
    """The period's figures of a page of projects, in one query (their per-project rows of those days)."""
    rows = (
        UsageDailyProject.objects.filter(
            project__in=[project.pk for project in projects],
            day__gte=period.first_day,
            day__lte=period.last_day,
        )
        .values("project_id")
        .annotate(**SUMS)
        .order_by()
    )
    return {row["project_id"]: Figures.of(row) for row in rows}


NEAR_CAP = Decimal("0.8")


@dataclass(frozen=True)
class CapUse:
    name: str  # "5-hour" or "weekly"
    spent: Decimal
    cap: Decimal

    @property
    def fraction(self) -> Decimal:
        return self.spent / self.cap if self.cap > 0 else Decimal(1)

    @property
    def percent(self) -> int:
        return round(self.fraction * 100)

    @property
    def reached(self) -> bool:
        return self.spent >= self.cap

    @property
    def near(self) -> bool:
        return self.fraction >= NEAR_CAP


@dataclass(frozen=True)
class CapWatch:
    project: Project
    uses: list[CapUse]

    @property
    def reached(self) -> bool:
        return any(use.reached for use in self.uses)


def _near_caps(rows: QuerySet, five: Q, defaults: dict[str, Decimal]) -> QuerySet:
    """`rows` summed per live platform-mode project into `weekly` and `five` (the rows matching `five`),
    keeping the projects at 80% or more of either cap: their own, else the settings' defaults."""
    zero = Value(Decimal(0))
    return (
        rows.filter(
            funding=LlmUsageLog.Funding.PLATFORM,
            project__llm_mode=Project.LlmMode.PLATFORM,
            project__deleted_at__isnull=True,
        )
        .values("project_id", "project__cap_5h_usd", "project__cap_weekly_usd")
        .annotate(
            weekly=Coalesce(Sum("cost_usd"), zero, output_field=MONEY),
            five=Coalesce(Sum("cost_usd", filter=five), zero, output_field=MONEY),
        )
        .filter(
            Q(weekly__gte=Coalesce(F("project__cap_weekly_usd"), Value(defaults["weekly"])) * NEAR_CAP)
            | Q(five__gte=Coalesce(F("project__cap_5h_usd"), Value(defaults["5-hour"])) * NEAR_CAP)
        )
        .order_by()
    )


def projects_near_caps(now: datetime | None = None) -> list[CapWatch]:
    """Live platform-funded projects whose platform spend is at 80% or more of either cap, most used first.

    The windows are byok.caps's: the hour buckets from the one holding `now - window` on. The hourly
    table has no index by hour alone (its key leads with the project), so the candidates come first from
    the daily per-project rollup, whose key leads with the day: the UTC days a window touches hold at
    least its hours' spend, so no project near a cap is missed. Their exact windows are then summed from
    their own hour buckets, and byok.caps.caps_of reads their caps. Three queries, a few thousand rows."""
    now = now or timezone.now()
    week_from = hour_of(now - caps.WINDOWS["weekly"])
    five_from = hour_of(now - caps.WINDOWS["5-hour"])
    defaults = caps.caps_of(Project())  # a project without overrides: the settings' defaults
    days = UsageDailyProject.objects.filter(day__gte=week_from.date())
    candidates = [row["project_id"] for row in _near_caps(days, Q(day__gte=five_from.date()), defaults)]
    hours = UsageHourly.objects.filter(project__in=candidates, hour__gte=week_from)
    spend = _near_caps(hours, Q(hour__gte=five_from), defaults) if candidates else []
    found = {row["project_id"]: row for row in spend}
    projects = Project.objects.select_related("organization").in_bulk(list(found))
    watched = []
    for project_id, row in found.items():
        project = projects[project_id]
        limits = caps.caps_of(project)
        uses = [
            CapUse("5-hour", row["five"], limits["5-hour"]),
            CapUse("weekly", row["weekly"], limits["weekly"]),
        ]
        if any(use.near for use in uses):
            watched.append(CapWatch(project, uses))
    watched.sort(key=lambda watch: (-max(use.fraction for use in watch.uses), watch.project.name))
    return watched
