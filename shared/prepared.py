"""Statements built once and run many times: on SQLite, by the driver itself.

A service's batch runs a handful of statements on its own tables. Through SQLAlchemy each one
costs 0.1-0.13 ms of Python (checking and keying the statement, an execution context, a greenlet
hop, a result object) even when built once, where SQLite itself takes 5-10 µs: at a few events
per batch that was most of a batch's CPU (measured: `benchmarks/batch_cpu.py`). A `Prepared`
statement is compiled by SQLAlchemy once, from the tables, so its SQL, the stored form of every
value and the Python type of every column read are SQLAlchemy's own; then it runs on the sqlite3
connection under the transaction (SQLite begins it at the first write, SQLAlchemy commits it).
PostgreSQL runs it through SQLAlchemy, as before.

A list of values given to `among` goes to SQLite as one JSON array read by `json_each`: one
statement text whatever the list's length, so sqlite3 keeps it prepared.
"""

import json
import sqlite3
from collections import namedtuple
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import Executable, Insert
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.sqlite_on_loop import SQLiteOnTheLoop

Parameters = Mapping[str, Any] | Sequence[Mapping[str, Any]] | None

_SQLITE = SQLiteOnTheLoop()
_GIVEN = object()  # a parameter the caller must give


class Prepared:
    """A statement, or a statement per dialect (`build(dialect name)`), run with `rows` or `run`."""

    def __init__(self, statement: Executable | None = None, *, build: Callable[[str], Executable] | None = None) -> None:
        if (statement is None) == (build is None):
            raise TypeError("give a statement or a build, not both")
        self._build = build or (lambda _dialect: statement)
        self._statements: dict[str, Executable] = {}
        self._plans: dict[tuple[str, ...], _Plan] = {}  # per the parameters' names (an insert's columns)

    async def rows(self, connection: AsyncConnection, parameters: Parameters = None) -> list[Any]:
        """What it returns, as rows with a field per column; given a list, the statement runs for each."""
        if connection.dialect.name == "sqlite":
            plan = self._plan(parameters)
            try:
                return plan.run(_sqlite_of(connection), parameters)
            except sqlite3.Error as error:  # as SQLAlchemy raises it: the callers judge its errors
                raise DBAPIError.instance(plan.sql, None, error, sqlite3.Error) from error
        result = await connection.execute(self.statement(connection.dialect.name), parameters)
        return list(result) if result.returns_rows else []

    async def run(self, connection: AsyncConnection, parameters: Parameters = None) -> None:
        """Run it for its effect (for each of a list of parameters)."""
        await self.rows(connection, parameters)

    def statement(self, dialect: str) -> Executable:
        if dialect not in self._statements:
            self._statements[dialect] = self._build(dialect)
        return self._statements[dialect]

    def _plan(self, parameters: Parameters) -> "_Plan":
        first = parameters if isinstance(parameters, Mapping) else (parameters[0] if parameters else {})
        names = tuple(first)
        if names not in self._plans:
            self._plans[names] = _Plan(self.statement("sqlite"), names)
        return self._plans[names]


class _Plan:
    """One statement compiled for SQLite with given parameter names: its SQL, how each parameter
    is stored, how each column read comes back."""

    ROWS_PER_STATEMENT = 100  # an insert of many rows that returns some: this many to a statement

    def __init__(self, statement: Executable, names: tuple[str, ...]) -> None:
        compiled = statement.compile(dialect=_SQLITE, column_keys=list(names) or None)
        sql = str(compiled)
        defaults = _column_defaults(compiled, names)
        self._binds: list[tuple[str, Any, bool, Callable[[Any], Any] | None]] = []  # name, default, a list?, storing
        for name in compiled.positiontup:
            bind = compiled.binds[name]
            if bind.expanding:
                sql = sql.replace(f"(__[POSTCOMPILE_{name}])", "(SELECT value FROM json_each(?))")
            elif bind.literal_execute:
                raise TypeError(f"{name}: a value rendered into the statement cannot be prepared")
            default = defaults.get(name, _GIVEN if bind.required else bind.effective_value)
            self._binds.append((name, default, bind.expanding, bind.type._cached_bind_processor(_SQLITE)))
        if "__[POSTCOMPILE_" in sql:
            raise TypeError(f"cannot prepare {sql!r}")
        self.sql = sql
        columns = compiled._result_columns
        self._row = namedtuple("Row", [column.keyname for column in columns], rename=True) if columns else None
        processors = [column.type._cached_result_processor(_SQLITE, None) for column in columns]
        self._processed = [(index, process) for index, process in enumerate(processors) if process is not None]
        self._many = _rows_per_statement(sql, len(self._binds), self.ROWS_PER_STATEMENT) if (
            isinstance(statement, Insert) and columns) else None

    def run(self, driver: Any, parameters: Parameters) -> list[Any]:
        if parameters is None or isinstance(parameters, Mapping):
            return self._read(driver.execute(self.sql, self._values(parameters or {})))
        if not parameters:
            return []
        if self._row is None:
            driver.executemany(self.sql, [self._values(row) for row in parameters])
            return []
        return self._each_returning(driver, parameters)

    def _each_returning(self, driver: Any, parameters: Sequence[Mapping[str, Any]]) -> list[Any]:
        """An insert that returns columns, for many rows: `ROWS_PER_STATEMENT` rows to a statement,
        the rest one by one (sqlite3 takes no list of parameters for a statement that returns rows)."""
        rows = [self._values(row) for row in parameters]
        returned: list[Any] = []
        whole = len(rows) - len(rows) % self.ROWS_PER_STATEMENT if self._many else 0
        for start in range(0, whole, self.ROWS_PER_STATEMENT):
            chunk = [value for row in rows[start:start + self.ROWS_PER_STATEMENT] for value in row]
            returned += self._read(driver.execute(self._many, chunk))
        for row in rows[whole:]:
            returned += self._read(driver.execute(self.sql, row))
        return returned

    def _values(self, parameters: Mapping[str, Any]) -> list[Any]:
        values = []
        for name, default, expanding, process in self._binds:
            value = parameters[name] if default is _GIVEN else parameters.get(name, default)
            if expanding:
                value = json.dumps([item if process is None else process(item) for item in value])
            elif process is not None:
                value = process(value)
            values.append(value)
        return values

    def _read(self, cursor: Any) -> list[Any]:
        fetched = cursor.fetchall()
        cursor.close()
        if self._row is None:
            return []
        if not self._processed:
            return [self._row._make(row) for row in fetched]
        rows = []
        for row in fetched:
            values = list(row)
            for index, process in self._processed:
                values[index] = process(values[index])
            rows.append(self._row._make(values))
        return rows


def _column_defaults(compiled: Any, names: tuple[str, ...]) -> dict[str, Any]:
    """The values an insert fills in for columns not given (SQLAlchemy computes them per execution)."""
    defaults = {}
    for column in getattr(compiled, "insert_prefetch", ()):
        if column.key in names:
            continue
        if column.default is None or not column.default.is_scalar:
            raise TypeError(f"{column}: give its value; only a constant default is filled in")
        defaults[column.key] = column.default.arg
    return defaults


def _rows_per_statement(sql: str, width: int, count: int) -> str:
    """The insert's SQL with `count` rows of values instead of one."""
    row = "(" + ", ".join("?" for _ in range(width)) + ")"
    if row not in sql:
        raise TypeError(f"cannot find the row of values in {sql!r}")
    return sql.replace(row, ", ".join([row] * count), 1)


def _sqlite_of(connection: AsyncConnection) -> Any:
    """The sqlite3 connection under a SQLAlchemy connection (shared.sqlite_on_loop): a statement run
    on it is in the transaction SQLAlchemy began and commits."""
    return connection.sync_connection.connection.dbapi_connection.sqlite_connection
