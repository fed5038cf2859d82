"""SQLite called on the event loop's own thread, behind SQLAlchemy's asyncio API.

aiosqlite runs every call (a cursor, an execute, a fetch, a close, the commit) in a thread of its
own and hands the answer back through the loop: about four thread hops per statement. A SQLite
statement on a local file takes tenths of a millisecond, and on a small machine each hop costs as
much (measured: a one-event transaction of billing-monitor spent most of its 8-15 ms on hops). A
service is one process with one writer, so running the statements in place loses nothing and
takes the hops away. What blocks the loop is therefore bounded by what one statement does:
callers keep statements short (retention deletes in slices).

Every SQLite URL (`sqlite://`, and `sqlite+aiosqlite://` as configured before) is served by this
driver (`shared.store`); the file, its pragmas and its transactions are pysqlite's, unchanged.
"""

import sqlite3
from collections import deque
from typing import Any

from sqlalchemy import pool
from sqlalchemy.dialects import registry
from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite
from sqlalchemy.engine import URL
from sqlalchemy.util.concurrency import await_

DRIVER = "sqlite+onloop"
SQLITE = f"{DRIVER}://"  # how settings write a SQLite URL


class SQLiteOnTheLoop(SQLiteDialect_pysqlite):
    """pysqlite, declared async: SQLAlchemy runs its synchronous core in a greenlet on the loop,
    and a driver that never awaits simply answers at once."""

    driver = "onloop"
    is_async = True
    supports_statement_cache = True

    @classmethod
    def import_dbapi(cls) -> "_SQLite3":
        return _SQLite3()

    @classmethod
    def get_pool_class(cls, url: URL) -> type[pool.Pool]:
        return pool.AsyncAdaptedQueuePool if cls._is_url_file_db(url) else pool.StaticPool


class _SQLite3:
    """The sqlite3 module, its connections' statements marked as awaited."""

    def __getattr__(self, name: str) -> Any:
        return getattr(sqlite3, name)

    @staticmethod
    def connect(*args: Any, **kwargs: Any) -> "_Connection":
        return _Connection(sqlite3.connect(*args, **kwargs))


class _Connection:
    __slots__ = ("_connection",)

    def __init__(self, connection: sqlite3.Connection) -> None:
        object.__setattr__(self, "_connection", connection)

    def cursor(self) -> "_Cursor":
        return _Cursor(self._connection.cursor())

    @property
    def sqlite_connection(self) -> sqlite3.Connection:
        """The sqlite3 connection itself, for statements run without SQLAlchemy (shared.store)."""
        return self._connection

    def __getattr__(self, name: str) -> Any:
        return getattr(self._connection, name)

    def __setattr__(self, name: str, value: Any) -> None:  # isolation_level, as pysqlite sets it
        setattr(self._connection, name, value)


class _Cursor:
    """A sqlite3 cursor whose rows are all fetched as its statement runs, as aiosqlite's are: no
    statement stays open behind a result."""

    __slots__ = ("_cursor", "_rows")

    def __init__(self, cursor: sqlite3.Cursor) -> None:
        self._cursor = cursor
        self._rows: deque[Any] = deque()

    def execute(self, operation: str, parameters: Any = ()) -> None:
        await_(_answered())
        self._cursor.execute(operation, parameters)
        self._rows = deque(self._cursor.fetchall() if self._cursor.description else ())

    def executemany(self, operation: str, parameters: Any) -> None:
        await_(_answered())
        self._cursor.executemany(operation, parameters)
        self._rows = deque(self._cursor.fetchall() if self._cursor.description else ())

    @property
    def description(self) -> Any:
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    @property
    def arraysize(self) -> int:
        return self._cursor.arraysize

    def fetchone(self) -> Any:
        return self._rows.popleft() if self._rows else None

    def fetchmany(self, size: int | None = None) -> list[Any]:
        return [self._rows.popleft() for _ in range(min(size or self.arraysize, len(self._rows)))]

    def fetchall(self) -> list[Any]:
        rows, self._rows = list(self._rows), deque()
        return rows

    def close(self) -> None:
        self._rows.clear()
        self._cursor.close()

    async def _async_soft_close(self) -> None:
        """What SQLAlchemy's asyncio results call once a statement ran: the rows are fetched already."""


async def _answered() -> None:
    """SQLAlchemy's asyncio layer refuses a statement that never awaited (a sign of a driver that is
    not async); this one has nothing to wait for, and says so."""


def on_loop(url: str) -> str:
    """The URL of the same SQLite database, served by this driver."""
    scheme, _, rest = url.partition("://")
    return f"{SQLITE}{rest}" if scheme in ("sqlite", "sqlite+aiosqlite", "sqlite+pysqlite") else url


registry.register("sqlite.onloop", __name__, "SQLiteOnTheLoop")
