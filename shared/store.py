"""A service's own database: its tables plus the inbox and outbox every service keeps.

One write transaction at a time per process (SQLite has one writer; handlers of different
subscribers run concurrently). Inside it: record the input in the inbox, change state, and
put every output in the outbox — all or nothing.

The inbox is kept per consumed topic: ids are unique per event, but nothing makes two
producers on two topics pick different ones. An outbox row Kafka will never take (too large
for the broker) is parked: it stops holding up the rows after it, and an operator can list and
retry parked rows (`contract-pause outbox`).

Several instances of a service share one PostgreSQL store: a handler whose decision rests on what
another topic's handler writes locks what it decides about first (`Transaction.lock`), and the
instances' relays take turns on the outbox (`Store.relay_turn`).
"""

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import NamedTuple

from sqlalchemy import (
    Column,
    ColumnElement,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    bindparam,
    event as engine_events,
    func,
    select,
    tuple_,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from shared.events.envelope import Envelope
from shared.logs import get_logger
from shared.migrations import history_of, upgrade
from shared.prepared import Prepared
from shared.sqlite_on_loop import on_loop
from shared.topics import Topic

log = get_logger(__name__)

mechanism = MetaData()

inbox = Table(
    "inbox",
    mechanism,
    Column("topic", String(200), primary_key=True),
    Column("event_id", String(200), primary_key=True),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Index("inbox_by_received_at", "received_at"),  # retention prunes the oldest
)

outbox = Table(
    "outbox",
    mechanism,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("event_id", String(200), nullable=False, unique=True),
    Column("topic", String(200), nullable=False),
    Column("key", String(200), nullable=False),
    Column("type", String(100), nullable=False),
    Column("payload", LargeBinary, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("sent_at", DateTime(timezone=True), nullable=True),
    Column("parked_at", DateTime(timezone=True), nullable=True),
    Column("parked_reason", String(500), nullable=True),
    Index("outbox_unsent", "seq", sqlite_where=Column("sent_at").is_(None), postgresql_where=Column("sent_at").is_(None)),
    Index("outbox_by_sent_at", "sent_at"),  # retention prunes the oldest sent
)
# Rows waiting for Kafka: neither sent nor parked.
_waiting = outbox.c.sent_at.is_(None) & outbox.c.parked_at.is_(None)
PRUNE_SLICE_ROWS = 5000  # rows deleted per transaction when pruning


def among(column: Column, name: str = "ids") -> ColumnElement[bool]:
    """`column IN (:name)`, its values given at execution, so that a statement can be built once."""
    return column.in_(bindparam(name, expanding=True))


class Unsent(NamedTuple):
    seq: int
    topic: str
    key: str
    type: str
    payload: bytes


def insert_ignoring_duplicates(table: Table, *returning: Column) -> Prepared:
    """An insert that skips a row whose key exists; with `returning`, those columns of the rows it inserted."""
    names = tuple(column.name for column in returning)
    return Prepared(build=lambda dialect: _ignoring_duplicates(dialect, table, names))


def upsert(table: Table) -> Prepared:
    """An insert that overwrites every non-key column of a row whose primary key already exists."""
    return Prepared(build=lambda dialect: _upsert(dialect, table))


def _ignoring_duplicates(dialect: str, table: Table, returning: tuple[str, ...]):  # noqa: ANN202
    statement = _insert(dialect, table).on_conflict_do_nothing()
    return statement.returning(*(table.c[name] for name in returning)) if returning else statement


def _upsert(dialect: str, table: Table):  # noqa: ANN202
    statement = _insert(dialect, table)
    key = [column.name for column in table.primary_key]
    changed = {column.name: statement.excluded[column.name] for column in table.c if not column.primary_key}
    return statement.on_conflict_do_update(index_elements=key, set_=changed)


def _insert(dialect: str, table: Table):  # noqa: ANN202 - SQLite and PostgreSQL both upsert
    return (sqlite if dialect == "sqlite" else postgresql).insert(table)


# Every batch of every service records its inputs and queues its outputs.
_RECORD_INPUTS = insert_ignoring_duplicates(inbox, inbox.c.event_id)
_QUEUE_OUTPUTS = insert_ignoring_duplicates(outbox, outbox.c.seq, outbox.c.event_id)


class Transaction:
    """One unit of work: what it reads and writes commits together with what it emits."""

    def __init__(self, connection: AsyncConnection) -> None:
        self.connection = connection
        self.outbox_rows: list[Unsent] = []  # what this transaction queued, in order

    async def first_time(self, topic: Topic, event_id: str) -> bool:
        """Record an input of `topic` as handled; False when it already was (a duplicate to skip)."""
        return event_id in await self.first_times(topic, [event_id])

    async def first_times(self, topic: Topic, event_ids: Sequence[str]) -> set[str]:
        """`first_time` for a batch in one statement: the ids this statement recorded, which
        are exactly those not handled before (even with another writer racing us)."""
        wanted = set(event_ids)
        if not wanted:
            return set()
        received_at = datetime.now(UTC)
        # Sorted: two instances taking overlapping redeliveries wait on each other's rows in one order.
        rows = [{"topic": topic.name, "event_id": event_id, "received_at": received_at} for event_id in sorted(wanted)]
        return {event_id for (event_id,) in await _RECORD_INPUTS.rows(self.connection, rows)}

    async def lock(self, kind: str, *ids: str) -> None:
        """Hold `ids` of `kind` (e.g. contracts) until this transaction ends: another instance's
        read-decide-write on any of them waits for ours to commit, and reads what it wrote.

        Deadlock-free when every transaction locks before it writes, one kind after another in one
        order (the coarser first: clients before contracts), all ids of a kind in one call (they
        are taken sorted). Taking a lock this transaction holds again never waits. On SQLite a no-op:
        it has one writer, and a process's write transactions run one at a time."""
        if not ids or self.connection.dialect.name != "postgresql":
            return
        id_ = func.unnest(postgresql.array(sorted(set(ids)))).column_valued("id")
        # PostgreSQL sorts the subquery before the outer query takes the first lock.
        keys = select(func.hashtext(id_).label("key")).distinct().order_by("key").subquery()
        await self.connection.execute(select(func.pg_advisory_xact_lock(func.hashtext(kind), keys.c.key)))

    async def emit(self, topic: Topic, event: Envelope) -> None:
        """Queue an event for publication once this transaction commits. Re-emitting an id is a no-op."""
        await self.emit_all(topic, [event])

    async def emit_all(self, topic: Topic, events: Sequence[Envelope]) -> None:
        """`emit` for many events in one executemany round trip (a fan-out of thousands), in order."""
        if not events:
            return
        created_at = datetime.now(UTC)
        rows: dict[str, dict[str, object]] = {}
        for event in events:  # an id twice: the first is queued, as the second insert would be ignored
            rows.setdefault(event.id, {
                "event_id": event.id,
                "topic": topic.name,
                "key": str(getattr(event.data, topic.key)),
                "type": event.type,
                "payload": event.to_json(),
                "created_at": created_at,
            })
        # Only rows new to the outbox come back: a re-emitted id is not queued again.
        queued = await _QUEUE_OUTPUTS.rows(self.connection, list(rows.values()))
        self.outbox_rows += sorted(_unsent(seq, rows[event_id]) for seq, event_id in queued)


class RelayTurn:
    """What a relay reads and marks during its turn (`Store.relay_turn`): on PostgreSQL all in the
    turn's transaction, which commits the marks when the turn ends."""

    def __init__(self, store: "Store", connection: AsyncConnection | None = None) -> None:
        self._store = store
        self._connection = connection

    async def unsent(self, limit: int) -> list[Unsent]:
        if self._connection is None:
            return await self._store.unsent(limit)
        return [Unsent(*row) for row in await _OLDEST_WAITING.rows(self._connection, {"limit": limit})]

    async def mark_sent(self, seqs: list[int]) -> None:
        if self._connection is None:
            await self._store.mark_sent(seqs)
        else:
            await _MARK_SENT.run(self._connection, _marked_sent(seqs))

    async def park(self, seq: int, reason: str) -> None:
        if self._connection is None:
            await self._store.park(seq, reason)
        else:
            await self._connection.execute(_parked(seq, reason))


class Store:
    def __init__(self, url: str, *tables: MetaData) -> None:
        self.url = url
        self._metadatas = (mechanism, *tables)
        self._write_lock = asyncio.Lock()
        self.engine: AsyncEngine = _create_engine(url)
        self._writer: AsyncConnection | None = None  # SQLite's one writer, kept between transactions
        self._on_commit: list[Callable[[list[Unsent]], None]] = []

    @property
    def single_writer(self) -> bool:
        """Whether this process is the store's only writer: SQLite, claimed by one process
        (shared.single_writer). A PostgreSQL store may be shared by several instances."""
        return self.engine.dialect.name == "sqlite"

    def when_committed(self, listener: Callable[[list["Unsent"]], None]) -> None:
        """Call `listener` with the outbox rows of every transaction that committed some."""
        self._on_commit.append(listener)

    async def open(self, consumed: Sequence[Topic] = ()) -> None:
        """Migrate the store to the newest revision of its tables' history (shared.migrations);
        `consumed` are the topics whose ids the inbox records."""
        await upgrade(self.engine, history_of(self._metadatas), consumed)

    async def close(self) -> None:
        await self._drop_writer()
        await self.engine.dispose()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        async with self._write_lock:
            async with self._writing() as connection:
                tx = Transaction(connection)
                yield tx
            if tx.outbox_rows:  # committed: told while the next writer waits, so in commit order
                for listener in self._on_commit:
                    listener(tx.outbox_rows)

    @asynccontextmanager
    async def _writing(self) -> AsyncIterator[AsyncConnection]:
        """A connection in a transaction that commits as the block ends. SQLite's one writer keeps
        its connection from one transaction to the next: taking one from the pool and giving it back
        (its reset, and the task SQLAlchemy closes it in) cost 150 µs of CPU a transaction, as much
        as a small batch's statements (measured). After a failure it takes a fresh one."""
        if not self.single_writer:
            async with self.engine.begin() as connection:
                yield connection
            return
        if self._writer is None:
            self._writer = await self.engine.connect()
        try:
            async with self._writer.begin():
                yield self._writer
        except BaseException:
            await self._drop_writer()
            raise

    async def _drop_writer(self) -> None:
        writer, self._writer = self._writer, None
        if writer is not None:
            try:
                await writer.close()
            except Exception:  # noqa: BLE001 - a broken connection; the error that broke it is raised
                log.warning("could not close the store's write connection", exc_info=True)

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[AsyncConnection]:
        """A connection for queries; sees only committed state."""
        async with self.engine.connect() as connection:
            yield connection

    async def unsent(self, limit: int) -> list["Unsent"]:
        """The oldest outbox rows not yet published."""
        async with self.reading() as connection:
            return [Unsent(*row) for row in await _OLDEST_WAITING.rows(connection, {"limit": limit})]

    async def mark_sent(self, seqs: list[int]) -> None:
        async with self.transaction() as tx:
            await _MARK_SENT.run(tx.connection, _marked_sent(seqs))

    async def park(self, seq: int, reason: str) -> None:
        """Set aside a row Kafka will not take, so the rows after it flow."""
        async with self.transaction() as tx:
            await tx.connection.execute(_parked(seq, reason))

    @asynccontextmanager
    async def relay_turn(self) -> AsyncIterator["RelayTurn"]:
        """The outbox, to one relay at a time. On PostgreSQL every instance's relay waits for its
        turn (an advisory lock held until the turn's rows are published and marked sent): no row
        goes out twice, and none overtakes an earlier unsent row of its key. SQLite serves one
        instance, whose one relay needs no turn (nor holds the write lock while Kafka answers)."""
        if self.engine.dialect.name != "postgresql":
            yield RelayTurn(self)
            return
        async with self.engine.begin() as connection:
            await connection.execute(select(func.pg_advisory_xact_lock(
                func.hashtext("outbox relay"), func.hashtext(func.current_schema()))))
            yield RelayTurn(self, connection)

    async def prune(self, before: datetime, slice_rows: int = PRUNE_SLICE_ROWS) -> tuple[int, int]:
        """Forget inputs received and outputs sent before `before`: (inbox rows, outbox rows) deleted.
        Unsent and parked outbox rows stay whatever their age. An hour of a busy service is hundreds
        of thousands of rows: they go a slice per transaction, so consumers are never held up long."""
        old_inputs = select(inbox.c.topic, inbox.c.event_id).where(inbox.c.received_at < before).limit(slice_rows)
        old_outputs = select(outbox.c.seq).where(outbox.c.sent_at < before).limit(slice_rows)
        inputs = await self._delete_in_slices(inbox.delete().where(tuple_(inbox.c.topic, inbox.c.event_id).in_(old_inputs)))
        outputs = await self._delete_in_slices(outbox.delete().where(outbox.c.seq.in_(old_outputs)))
        return inputs, outputs

    async def _delete_in_slices(self, statement) -> int:  # noqa: ANN001 - a Delete of at most a slice
        deleted = 0
        while True:
            async with self.transaction() as tx:
                count = (await tx.connection.execute(statement)).rowcount
            deleted += count
            if count == 0:
                return deleted
            await asyncio.sleep(0)  # a batch waiting for the store goes first

    async def parked(self, limit: int = 100) -> list[dict[str, object]]:
        """Parked rows, oldest first, without their payloads (they may be private)."""
        query = (
            select(outbox.c.seq, outbox.c.event_id, outbox.c.topic, outbox.c.key, outbox.c.type,
                   func.length(outbox.c.payload).label("size"), outbox.c.parked_at, outbox.c.parked_reason)
            .where(outbox.c.parked_at.is_not(None) & outbox.c.sent_at.is_(None))
            .order_by(outbox.c.seq)
            .limit(limit)
        )
        async with self.reading() as connection:
            return [dict(row._mapping) for row in await connection.execute(query)]

    async def unpark(self, seqs: Sequence[int] | None = None) -> int:
        """Put parked rows back in line for the relay (all of them when `seqs` is None)."""
        statement = update(outbox).where(outbox.c.parked_at.is_not(None) & outbox.c.sent_at.is_(None))
        if seqs is not None:
            statement = statement.where(outbox.c.seq.in_(seqs))
        async with self.transaction() as tx:
            return (await tx.connection.execute(statement.values(parked_at=None, parked_reason=None))).rowcount

    async def backlog(self) -> int:
        """How many outbox rows wait for publication (parked rows not counted)."""
        return await self._count(_waiting)

    async def parked_count(self) -> int:
        return await self._count(outbox.c.parked_at.is_not(None) & outbox.c.sent_at.is_(None))

    async def _count(self, where) -> int:  # noqa: ANN001 - a SQL condition
        async with self.reading() as connection:
            return (await connection.execute(select(func.count()).select_from(outbox).where(where))).scalar_one()


def _unsent(seq: int, row: dict[str, object]) -> Unsent:
    return Unsent(seq, row["topic"], row["key"], row["type"], row["payload"])


_OLDEST_WAITING = Prepared(
    select(outbox.c.seq, outbox.c.topic, outbox.c.key, outbox.c.type, outbox.c.payload)
    .where(_waiting).order_by(outbox.c.seq).limit(bindparam("limit"))
)
_MARK_SENT = Prepared(update(outbox).where(among(outbox.c.seq, "seqs")).values(sent_at=bindparam("now")))


def _marked_sent(seqs: list[int]) -> dict[str, object]:
    return {"seqs": seqs, "now": datetime.now(UTC)}


def _parked(seq: int, reason: str):  # noqa: ANN202 - an Update
    return update(outbox).where(outbox.c.seq == seq).values(parked_at=datetime.now(UTC), parked_reason=reason[:500])


# Prepared statements kept per SQLite connection (sqlite3's default: 128). A multi-row INSERT of n
# rows is a statement of its own for each n, up to megabytes prepared: 128 of them held 20-40 MB.
CACHED_STATEMENTS = 16

# Rows per multi-row INSERT … RETURNING: a fan-out's thousands of outbox rows in a statement or
# two (SQLAlchemy's 1,000 made it ten); its parameter cap (32,700, under SQLite's) still applies.
INSERT_PAGE_ROWS = 5000


def _create_engine(url: str) -> AsyncEngine:
    if not url.startswith("sqlite"):
        return create_async_engine(url, pool_pre_ping=True, insertmanyvalues_page_size=INSERT_PAGE_ROWS)
    database = url.split(":///", 1)[-1]
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    # Statements run on the loop one at a time, so few connections are ever busy at once. Each one
    # keeps its own page cache and prepared statements: at 100,000 contracts notification's SQLite
    # held 59 MB with SQLAlchemy's pool of up to 15 and sqlite3's 128 cached statements each.
    engine = create_async_engine(on_loop(url), insertmanyvalues_page_size=INSERT_PAGE_ROWS,
                                 pool_size=2, max_overflow=4, connect_args={"cached_statements": CACHED_STATEMENTS})

    @engine_events.listens_for(engine.sync_engine, "connect")
    def _durable_wal(dbapi_connection, _record) -> None:  # noqa: ANN001
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA busy_timeout=10000")
        _into_wal(cursor)  # readers never wait for the writer
        cursor.execute("PRAGMA synchronous=FULL")  # a commit is on disk before we commit the Kafka offset
        cursor.close()

    return engine


WAL_ATTEMPTS = 50


def _into_wal(cursor: sqlite3.Cursor) -> None:
    """Put the file in WAL mode. Switching a new file needs it alone for a moment, and SQLite answers
    "database is locked" at once instead of waiting out the busy timeout: instances starting together
    on one new file (4 processes at once: 1 round in 12 failed, measured) try again, for up to ~2.5 s."""
    for attempt in range(1, WAL_ATTEMPTS + 1):
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or attempt == WAL_ATTEMPTS:
                raise
            time.sleep(0.05)  # a connection being opened, before the loop serves anything else


STORE_UNAVAILABLE = (OperationalError, InterfaceError)
# PostgreSQL undid the transaction to break a deadlock or a serialization conflict with another instance.
TRANSACTION_CONFLICTS = {"40P01", "40001"}


def transient(error: BaseException) -> bool:
    """A failure that is no fault of the work asked: the store is away or busy, or PostgreSQL undid
    the transaction for a conflict. The same work a moment later goes through (Kafka redelivers a
    batch; an HTTP caller is told 503 and to retry)."""
    if isinstance(error, STORE_UNAVAILABLE):
        return True
    return isinstance(error, DBAPIError) and getattr(error.orig, "sqlstate", None) in TRANSACTION_CONFLICTS
