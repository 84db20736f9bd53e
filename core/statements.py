"""Queries the ORM composes once per process and connection, then runs with each call's values.

Django composes and compiles a queryset again on every evaluation: for the small reads of a
hot page that is most of their cost (the device type page's rollout card: 1.8 ms of a 3.2 ms
read, the SQL 0.8). A `Statement` keeps what the compiler made: the SQL, its parameters with
the values of each call left as `Slot`s (written in the queryset as `Bound` expressions),
and the compiler, whose converters and related populators make the rows exactly as the
queryset's own iteration does (`Model.from_db`, `select_related`'s objects, values).

Kept per connection (a thread's own `DatabaseWrapper`): the compiler holds its connection.
"""

import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

from django.core.exceptions import EmptyResultSet
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import Expression, QuerySet
from django.db.models.query import get_related_populators


@dataclass(frozen=True)
class Slot:
    """A parameter of a compiled statement whose value each execution gives."""

    name: str


class Bound(Expression):
    """A value a statement compiled once is executed with, each time its own: in the SQL a
    parameter whose value is a `Slot`, replaced at execution."""

    def __init__(self, name: str, output_field):
        super().__init__(output_field=output_field)
        self.name = name

    def as_sql(self, compiler, connection):
        return "%s", [Slot(self.name)]


def bind(params, values: dict) -> list:
    """`params` with each `Slot` given its value from `values`."""
    return [values[p.name] if isinstance(p, Slot) else p for p in params]


@dataclass(frozen=True)
class _Compiled:
    sql: str
    params: tuple
    compiler: object

    @cached_property
    def makers(self) -> tuple:
        """What `objects` makes each row's objects with, worked out once: the model's slice of
        the row, its column names, the related populators, the annotations' places."""
        select, info = self.compiler.select, self.compiler.klass_info
        start, end = info["select_fields"][0], info["select_fields"][-1] + 1
        names = [column[0].target.attname for column in select[start:end]]
        return (info["model"], start, end, names, get_related_populators(info, select, DEFAULT_DB_ALIAS),
                dict(self.compiler.annotation_col_map))


class Statement:
    """`build()` (a queryset using `Bound` for what changes from call to call), compiled on a
    connection's first use. `objects(**values)`: model instances, as iterating the queryset
    makes them (with its `select_related` objects and annotations); `rows(**values)`: the
    tuples of a `values_list` queryset. `through`: the alias whose connection reads them
    (core.db.read_connection's); the objects are `default`'s whichever it is."""

    def __init__(self, build: Callable[[], QuerySet]):
        self._build = build
        self._compiled: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    def _on(self, conn) -> _Compiled:
        compiled = self._compiled.get(conn)
        if compiled is None:
            compiler = self._build().query.chain().get_compiler(connection=conn)
            try:
                sql, params = compiler.as_sql()
            except EmptyResultSet:  # a condition nothing meets (the ORM's own answer: no row)
                sql, params = None, ()
            compiled = _Compiled(sql=sql, params=tuple(params), compiler=compiler)
            with self._lock:
                self._compiled[conn] = compiled
        return compiled

    def _fetch(self, through: str, values: dict) -> tuple[_Compiled, list]:
        conn = connections[through]
        compiled = self._on(conn)
        if compiled.sql is None:
            return compiled, []
        with conn.cursor() as cursor:
            cursor.execute(compiled.sql, bind(compiled.params, values))
            return compiled, cursor.fetchall()

    def rows(self, *, through: str = DEFAULT_DB_ALIAS, **values) -> list[tuple]:
        compiled, fetched = self._fetch(through, values)
        return [tuple(row) for row in compiled.compiler.results_iter(results=[fetched], tuple_expected=True)]

    def objects(self, *, through: str = DEFAULT_DB_ALIAS, **values) -> list:
        compiled, fetched = self._fetch(through, values)
        # The objects are `default`'s, whichever connection read them.
        model, start, end, names, populators, annotations = compiled.makers
        out = []
        for row in compiled.compiler.results_iter(results=[fetched]):
            obj = model.from_db(DEFAULT_DB_ALIAS, names, row[start:end])
            for populator in populators:
                populator.populate(row, obj)
            for name, position in annotations.items():
                setattr(obj, name, row[position])
            out.append(obj)
        return out
