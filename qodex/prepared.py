"""FENCED: Django internals, kept only because a measured budget needs them. Not for new code.

Why. SPEC §12 wants an authenticated API list at ≥ 0.5× the throughput of `/healthz`
(`bench/api_throughput.py`). Django compiles a queryset to SQL each time it is evaluated: for the API
key lookup that authenticates every request (three tables) and for a list's page that is 0.3–0.5 ms of
Python each, more than the rest of the request. Measured on 2026-11-30 (docs/PERFORMANCE.md; medians of
three runs per database, SQLite and PostgreSQL): with plain querysets everywhere the ratio is 0.27–0.32,
with only the key lookup here 0.32–0.42, with the key lookup and the list pages here 0.45–0.57. So the
key lookup (`projects.models.ApiKey.find`) and the pages of the API lists that existed then
(`/org/projects`, `/org/api-keys`, `/p/<slug>/members`, `/p/<slug>/environments`) use it, and nothing
else. A new list is a plain queryset given to `paginate(queryset, page)` (docs/API.md); move one here
only with a bench figure that shows the need (tests/test_prepared.py lists who may import this).

What. `prepared` builds the queryset once with placeholder values, keeps its SQL and the compiler's column
map, and afterwards only executes the SQL with the real values and turns the rows into model instances
as Django's own `ModelIterable` does. The builder's arguments must be `str` or `int` values that reach
the SQL unchanged (equality and foreign-key filters): a lookup that rewrites its value (`__contains`,
`__date`…) cannot be prepared, and the first call says so.

    @prepared
    def live_projects(organization_id: int) -> QuerySet[Project]:
        return Project.objects.alive().filter(organization_id=organization_id)

    live_projects(org.pk)                                    # list of Project
    live_projects.page(org.pk, after=None, limit=51, newest_first=False)

Private Django API it uses (all from `ModelIterable.__iter__` in django/db/models/query.py, Django 5.2):
`QuerySet.query.get_compiler()`, the compiler's `as_sql()`, `klass_info`, `select`, `col_count`,
`annotation_col_map`, `get_converters()` and `apply_converters()`, `QuerySet._known_related_objects`,
and `django.db.models.query.get_related_populators`. `Model.from_db` is public. tests/test_prepared.py
checks the rows against the ordinary queryset's and fails on any Django other than 5.2: on an upgrade,
re-read `ModelIterable.__iter__` and `SQLCompiler`, rerun the bench, then widen the version there.
(PostgreSQL's own statement preparation, `server_side_binding` in qodex/settings.py, is psycopg's and
separate from this.)
"""

from __future__ import annotations

import itertools
import threading
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from django.db import connections, router
from django.db.models import Model, QuerySet
from django.db.models.query import get_related_populators

M = TypeVar("M", bound=Model)

# Placeholders no real value equals: huge negative ids and strings with NUL bytes.
_INT_BASE = -(2**62)
_counter = itertools.count(1)


class NotPreparable(TypeError):
    """The builder's queryset cannot be reused with new values (see the module docstring)."""


def _placeholder(value: Any) -> Any:
    n = next(_counter)
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise NotPreparable(f"prepared queries take str or int values, not {type(value).__name__}")
    return _INT_BASE - n if isinstance(value, int) else f"\x00qodex-prepared-{n}\x00"


@dataclass(frozen=True)
class _Compiled:
    sql: str
    params: tuple  # with placeholders at the slots
    slots: tuple[tuple[int, int], ...]  # (position in params, index of the builder argument)
    compiler: Any
    converters: dict
    init_list: list[str]
    fields: slice
    related_populators: list


class Prepared(Generic[M]):
    """A queryset builder whose SQL is compiled once per database connection and variant."""

    def __init__(self, build: Callable[..., QuerySet[M]]) -> None:
        self.build = build
        self.__name__ = build.__name__
        self.__doc__ = build.__doc__
        self._model: type[M] | None = None
        self._lock = threading.Lock()
        # Keyed by connection object (one per thread and alias): a compiler never crosses threads,
        # and its entries go when the connection object does.
        self._compiled: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    def __call__(self, *values: int | str) -> list[M]:
        """Every row of the builder's queryset for these values."""
        return self._run(("all",), values, (), lambda queryset: queryset)

    def page(self, *values: int | str, after: int | None, limit: int, newest_first: bool = True) -> list[M]:
        """At most `limit` rows ordered by pk, after the pk `after` when given (keyset pagination)."""

        def shape(queryset: QuerySet[M], *after_pk: int) -> QuerySet[M]:
            queryset = queryset.order_by("-pk" if newest_first else "pk")
            if after_pk:
                queryset = queryset.filter(**{"pk__lt" if newest_first else "pk__gt": after_pk[0]})
            return queryset[:limit]

        tail = () if after is None else (after,)
        return self._run(("page", newest_first, bool(tail), limit), values, tail, shape)

    def _run(self, variant: tuple, values: Sequence, tail: Sequence, shape: Callable) -> list[M]:
        if self._model is None:
            self._model = self.build(*values).model
        alias = router.db_for_read(self._model)
        connection = connections[alias]
        compiled = self._compiled.get(connection, {}).get(variant)
        if compiled is None:
            with self._lock:
                compiled = self._compile(alias, values, tail, shape)
                self._compiled.setdefault(connection, {})[variant] = compiled
        arguments = (*values, *tail)
        params = list(compiled.params)
        for position, index in compiled.slots:
            params[position] = arguments[index]
        with connection.cursor() as cursor:
            cursor.execute(compiled.sql, params)
            rows = cursor.fetchall()
        if compiled.converters:
            rows = compiled.compiler.apply_converters(rows, compiled.converters)
        objects = []
        for row in rows:
            obj = self._model.from_db(alias, compiled.init_list, row[compiled.fields])
            for populator in compiled.related_populators:
                populator.populate(row, obj)
            objects.append(obj)
        return objects

    def _compile(self, alias: str, values: Sequence, tail: Sequence, shape: Callable) -> _Compiled:
        own = [_placeholder(value) for value in values]
        extra = [_placeholder(value) for value in tail]
        queryset = shape(self.build(*own), *extra)
        compiler = queryset.query.get_compiler(using=alias)
        sql, params = compiler.as_sql()
        index_of = {(type(p), p): i for i, p in enumerate([*own, *extra])}
        slots = tuple(
            (position, index_of[(type(param), param)])
            for position, param in enumerate(params)
            if (type(param), param) in index_of
        )
        if len({index for _, index in slots}) != len(index_of):
            raise NotPreparable(
                f"{self.__name__}: a value does not reach the SQL unchanged (a lookup rewrites it); "
                "use an ordinary queryset for this query"
            )
        if compiler.annotation_col_map or queryset._known_related_objects:
            raise NotPreparable(
                f"{self.__name__}: build from a model's manager, without annotations "
                "(`Model.objects.filter(...)`, not `instance.related_set`)"
            )
        klass_info, select = compiler.klass_info, compiler.select
        first, last = klass_info["select_fields"][0], klass_info["select_fields"][-1] + 1
        return _Compiled(
            sql=sql,
            params=tuple(params),
            slots=slots,
            compiler=compiler,
            converters=compiler.get_converters([column[0] for column in select[: compiler.col_count]]),
            init_list=[column[0].target.attname for column in select[first:last]],
            fields=slice(first, last),
            related_populators=get_related_populators(klass_info, select, alias),
        )


def prepared(build: Callable[..., QuerySet[M]]) -> Prepared[M]:
    """Decorate a function returning a queryset; calling the result runs it with SQL compiled once."""
    return Prepared(build)
