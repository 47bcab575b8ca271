"""The staff console (`/admin/`, SPEC §4 and §8) and a project's usage page (`/p/<slug>/settings/usage/`).

Both read usage.console, which reads the rollups only. The console's tabs are addressed by URL fragment
(`#overview`, `#llm`, `#projects`, `#users`): one page, every panel rendered, the fragment picks the one
shown. Staff only; everyone else gets the 404 of a page that does not exist. The usage page is for the
project's admins and shows the same report limited to that project, with the platform cap meters.

`?export=projects|sources|models|funding|days` turns either page into the CSV of that table, for the
period and filters of the query string.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC

from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from accounts.models import User
from byok import caps
from projects.access import ProjectAccess, project_view
from projects.models import Organization, Project
from qodex.timezones import viewer_zone, zone_name
from usage import console
from usage.chart import daily_chart

CONSOLE_PAGE_SIZE = 50
SITE_EXPORTS = ("projects", "sources", "models", "funding", "days")
PROJECT_EXPORTS = ("sources", "models", "funding", "days")
# What a report's links keep from the query string; `?export=` and the tables' own pages are dropped.
REPORT_PARAMS = ("period", "from", "to", "organization", "provider", "funding")


@require_http_methods(["GET", "HEAD"])
def staff_console(request: HttpRequest) -> HttpResponse:
    """The staff console. `?q=` searches users by email and projects by name, slug, `proj_` id or
    organization; each table pages on its own (`?projects_page=`, `?users_page=`); the `#llm` report
    takes `?period=`, `?from=&to=`, `?organization=<slug>`, `?provider=`, `?funding=`."""
    if not (request.user.is_authenticated and request.user.is_staff):
        raise Http404
    now = timezone.now()
    period, period_problem = console.period_from(request.GET, now)
    filters, problems = console.filters_from(request.GET)
    problems = [period_problem, *problems] if period_problem else problems
    export = request.GET.get("export", "")
    if export:
        return csv_response(
            request, problems, export, SITE_EXPORTS, "qodex-llm",
            lambda: console.site_report(period, filters, all_projects=True),
        )  # fmt: skip
    report = console.site_report(period, filters)

    query = request.GET.get("q", "").replace("\x00", "").strip()[:100]  # PostgreSQL text holds no NUL
    projects = (
        Project.objects.select_related("organization")
        .annotate(member_total=Count("members"))
        .order_by("-created_at", "-pk")
    )
    users = User.objects.order_by("-date_joined", "-pk")
    if query:
        projects = projects.filter(
            Q(name__icontains=query)
            | Q(slug__icontains=query)
            | Q(public_id=query)
            | Q(organization__name__icontains=query)
        )
        users = users.filter(email__icontains=query)
    projects_page = Paginator(projects, CONSOLE_PAGE_SIZE).get_page(request.GET.get("projects_page"))
    month = console.Period.last("30d", now)
    spend = console.spend_by_project(list(projects_page.object_list), month)
    for project in projects_page.object_list:
        project.spend = spend.get(project.pk, console.Figures())
    context = {
        "counts": {
            "users": User.objects.count(),
            "organizations": Organization.objects.count(),
            "projects": Project.objects.alive().count(),
        },
        "summary": console.spend_summary(now),
        "month": month,
        "query": query,
        "projects_page": projects_page,
        "users_page": Paginator(users, CONSOLE_PAGE_SIZE).get_page(request.GET.get("users_page")),
        "near_caps": console.projects_near_caps(now),
        "organizations": Organization.objects.order_by("name", "pk").values_list("slug", "name"),
        **report_context(request, report, problems, SITE_EXPORTS, anchor="#llm"),
    }
    return render(request, "usage/console.html", context, status=400 if problems else 200)


@project_view(read="project:admin", write="project:admin")
@require_http_methods(["GET", "HEAD"])
def project_usage(request: HttpRequest, project: Project, access: ProjectAccess) -> HttpResponse:
    """The project's LLM calls, tokens and cost for a period, and its platform cap meters."""
    period, period_problem = console.period_from(request.GET)
    filters, problems = console.filters_from(request.GET, organizations=False)
    problems = [period_problem, *problems] if period_problem else problems
    export = request.GET.get("export", "")
    if export:
        return csv_response(
            request, problems, export, PROJECT_EXPORTS, f"qodex-{project.slug}-usage",
            lambda: console.project_report(project, period, filters),
        )  # fmt: skip
    report = console.project_report(project, period, filters)
    context = {
        "meters": [MeterLine(meter) for meter in caps.meters(project)]
        if project.llm_mode == Project.LlmMode.PLATFORM
        else [],
        **report_context(request, report, problems, PROJECT_EXPORTS, anchor=""),
    }
    return render(request, "usage/project_usage.html", context, status=400 if problems else 200)


@dataclass(frozen=True)
class MeterLine:
    meter: caps.Meter

    @property
    def percent(self) -> int:
        used = self.meter.spent + self.meter.reserved
        return 100 if self.meter.cap <= 0 else min(100, round(used * 100 / self.meter.cap))


def csv_response(request, problems, table, tables, prefix, make_report) -> HttpResponse:
    if table not in tables:
        problems = [f"Export one of: {', '.join(tables)}.", *problems]
    if problems:
        return HttpResponse(" ".join(problems) + "\n", status=400, content_type="text/plain; charset=utf-8")
    report = make_report()
    response = HttpResponse(console.csv_text(report, table), content_type="text/csv; charset=utf-8")
    name = f"{prefix}-{table}-{report.period.slug()}.csv"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


def report_context(request, report: console.Report, problems, exports, *, anchor: str) -> dict:
    """What templates/usage/report.html needs besides the report: links, the form's values, the bounds."""
    zone = viewer_zone(request)
    kept = request.GET.copy()
    for name in list(kept):
        if name not in REPORT_PARAMS:
            del kept[name]

    def link(**changes) -> str:
        params = kept.copy()
        for name, value in changes.items():
            params.pop(name, None)
            if value:
                params[name] = value
        return f"?{params.urlencode()}" if params else "?"

    period = report.period
    custom = period.key == "custom"
    return {
        "report": report,
        "chart": daily_chart(report.days, report.sources_present),
        "problems": problems,
        "anchor": anchor,
        "period_choices": [
            {
                "label": label,
                "url": link(period=key, **{"from": "", "to": ""}) + anchor,
                "current": key == period.key,
            }
            for key, (label, _) in console.PRESETS.items()
        ],
        # What the date fields show: the custom range, or what was typed when it was refused.
        "is_custom": custom,
        "custom": {"from": f"{period.first_day:%Y-%m-%d}", "to": f"{period.last_day:%Y-%m-%d}"}
        if custom
        else {"from": request.GET.get("from", "")[:10], "to": request.GET.get("to", "")[:10]},
        "export_urls": {table: link(export=table) for table in exports},
        "projects_footnote": (
            f"The {len(report.projects)} projects that spent most, of {report.project_count}; "
            "the CSV has every one."
            if report.projects is not None and report.project_count > len(report.projects)
            else ""
        ),
        "utc_bounds": period.bounds(UTC),
        "local_bounds": period.bounds(zone),
        "zone_name": zone_name(zone),
        "fundings": list(console.FUNDING_LABELS.items()),
    }
