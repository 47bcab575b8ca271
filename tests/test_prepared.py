"""qodex.prepared: the same rows as the queryset, SQL compiled once, values substituted each call.

The module is fenced (its docstring says why): these tests pin the Django it was written against.
"""

from __future__ import annotations

import re
import threading
from datetime import UTC, datetime
from pathlib import Path

import django
import pytest
from django.db import connection, connections
from django.db.models import Count
from django.test.utils import CaptureQueriesContext

from projects.models import ApiKey, Project
from qodex.prepared import NotPreparable, prepared
from tests.factories import make_org, make_project

# The Django versions whose internals qodex/prepared.py was checked against.
CHECKED_DJANGO = {(5, 2)}
# The only modules that may use it: the key lookup, the four lists measured with it, and pagination.
PREPARED_USERS = {"projects/models.py", "projects/api.py", "environments/api.py", "qodex/pagination.py"}


def test_it_runs_only_on_a_django_whose_internals_were_checked():
    assert django.VERSION[:2] in CHECKED_DJANGO, (
        f"Django {django.get_version()}: qodex/prepared.py uses Django internals (the SQL compiler's "
        "klass_info/select/converters and get_related_populators, as ModelIterable.__iter__ does). "
        "Re-read ModelIterable.__iter__ and SQLCompiler in this Django, run tests/test_prepared.py and "
        "bench/api_throughput.py, then add the version to CHECKED_DJANGO; or drop qodex/prepared.py "
        "if the budget holds without it."
    )


@prepared
def projects_of(organization_id: int):
    return Project.objects.alive().filter(organization_id=organization_id)


@prepared
def keys_with_prefix(prefix: str):
    return ApiKey.objects.select_related("organization", "project").filter(prefix=prefix)


def compiled_variants(query) -> dict:
    return query._compiled.get(connections["default"], {})


@pytest.fixture
def two_orgs(db):
    acme, globex = make_org("Acme"), make_org("Globex")
    for n in range(3):
        make_project(acme, f"Acme {n}")
    make_project(globex, "Globex 1")
    return acme, globex


def test_it_returns_the_rows_the_queryset_returns(two_orgs):
    acme, globex = two_orgs
    for org in (acme, globex):
        expected = list(Project.objects.alive().filter(organization=org).order_by("pk"))
        got = sorted(projects_of(org.pk), key=lambda p: p.pk)
        assert [(p.pk, p.name, p.slug, p.is_default) for p in got] == [
            (p.pk, p.name, p.slug, p.is_default) for p in expected
        ]


def test_it_compiles_once_and_substitutes_the_values(two_orgs):
    acme, globex = two_orgs
    projects_of(acme.pk)
    variants = dict(compiled_variants(projects_of))
    assert {p.organization_id for p in projects_of(globex.pk)} == {globex.pk}
    assert compiled_variants(projects_of) == variants  # the same compiled entry served both


def test_rows_are_full_model_instances_with_converted_values(two_orgs):
    acme, _ = two_orgs
    project = projects_of(acme.pk)[0]
    assert isinstance(project.created_at, datetime) and project.created_at.tzinfo is not None
    assert not project._state.adding and project._state.db == "default"
    project.name = "Renamed"
    project.save(update_fields=["name"])
    assert Project.objects.get(pk=project.pk).name == "Renamed"


def test_select_related_objects_come_from_the_same_query(two_orgs):
    acme, _ = two_orgs
    project = acme.default_project
    key, raw = ApiKey.issue(organization=acme, project=project, name="ci")
    with CaptureQueriesContext(connection) as queries:
        (found,) = keys_with_prefix(raw[: ApiKey.PREFIX_LENGTH])
        assert found.organization.name == "Acme"
        assert found.project.slug == project.slug
    assert len(queries) == 1, [q["sql"] for q in queries]


def test_a_missing_relation_is_none(two_orgs):
    acme, _ = two_orgs
    _, raw = ApiKey.issue(organization=acme, name="org-wide")
    (found,) = keys_with_prefix(raw[: ApiKey.PREFIX_LENGTH])
    assert found.project is None


def test_pages_follow_the_cursor_in_both_orders(two_orgs):
    acme, _ = two_orgs
    pks = sorted(Project.objects.filter(organization=acme).values_list("pk", flat=True))
    first = projects_of.page(acme.pk, after=None, limit=2, newest_first=False)
    assert [p.pk for p in first] == pks[:2]
    rest = projects_of.page(acme.pk, after=first[-1].pk, limit=2, newest_first=False)
    assert [p.pk for p in rest] == pks[2:4]
    newest = projects_of.page(acme.pk, after=None, limit=2)
    assert [p.pk for p in newest] == pks[::-1][:2]
    older = projects_of.page(acme.pk, after=newest[-1].pk, limit=10)
    assert [p.pk for p in older] == pks[::-1][2:]


def test_it_refuses_a_lookup_that_rewrites_its_value(db):
    @prepared
    def named_like(fragment: str):
        return Project.objects.filter(name__icontains=fragment)

    with pytest.raises(NotPreparable, match="does not reach the SQL unchanged"):
        named_like("acme")


def test_it_refuses_values_it_cannot_stand_in_for(db):
    @prepared
    def created_before(moment):
        return Project.objects.filter(created_at__lt=moment)

    with pytest.raises(NotPreparable, match="str or int"):
        created_before(datetime(2026, 1, 1, tzinfo=UTC))


def test_each_thread_compiles_on_its_own_connection(two_orgs):
    acme, _ = two_orgs
    projects_of(acme.pk)
    seen = []

    def other_thread():
        try:
            seen.append(compiled_variants(projects_of) == {})
        finally:
            connections.close_all()

    thread = threading.Thread(target=other_thread)
    thread.start()
    thread.join()
    assert seen == [True]  # a thread's connection never sees another thread's compiler


def test_it_refuses_annotations(db):
    @prepared
    def with_member_counts(organization_id: int):
        return Project.objects.filter(organization_id=organization_id).annotate(total=Count("members"))

    with pytest.raises(NotPreparable, match="without annotations"):
        with_member_counts(1)


def test_only_the_measured_hot_paths_use_it():
    root = Path(__file__).resolve().parent.parent
    imports_it = re.compile(
        r"^\s*(from qodex\.prepared |from qodex import prepared|import qodex\.prepared)",
        re.M,
    )
    users = {
        str(path.relative_to(root))
        for path in root.rglob("*.py")
        if path.parts[len(root.parts)] not in {"tests", ".venv"} and imports_it.search(path.read_text())
    }
    assert users == PREPARED_USERS, (
        "qodex/prepared.py is fenced Django internals, not the recipe for new code: write a list as "
        "`paginate(queryset, page)` (docs/API.md). A new use needs a bench figure showing the SPEC §12 "
        "budget failing without it, recorded in docs/PERFORMANCE.md and the module docstring."
    )
