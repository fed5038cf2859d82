"""A Prepared statement on SQLite runs on the driver; what it writes and reads must be what
SQLAlchemy itself would have written and read for the same statement."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import JSON, Boolean, Column, DateTime, Float, Integer, MetaData, String, Table, bindparam, select, text
from sqlalchemy.exc import OperationalError

from shared.prepared import Prepared
from shared.store import Store, among, insert_ignoring_duplicates, transient, upsert

tables = MetaData()
things = Table(
    "things",
    tables,
    Column("thing_id", String(50), primary_key=True),
    Column("owner", String(50), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("facts", JSON, nullable=False),
    Column("done", Boolean, nullable=False),
    Column("weight", Float, nullable=True),
    Column("kind", String(10), nullable=False, default="plain"),
)
marks = Table("marks", tables, Column("seq", Integer, primary_key=True, autoincrement=True),
              Column("mark", String(50), nullable=False, unique=True))

OWNED = select(things).where(among(things.c.owner), things.c.kind.in_(("plain", "fancy")),
                             things.c.at > bindparam("after")).order_by(things.c.thing_id)
SAVE = upsert(things)
MARK = insert_ignoring_duplicates(marks, marks.c.seq, marks.c.mark)
AT = datetime(2026, 11, 28, 1, 2, 3, 456789, tzinfo=UTC)


def thing(number: int, **changes: object) -> dict[str, object]:
    row = {"thing_id": f"t-{number}", "owner": f"o-{number % 3}", "at": AT + timedelta(minutes=number),
           "facts": {"n": number, "tags": ["a", "b"]}, "done": number % 2 == 0, "weight": number / 4 or None}
    return row | changes


@pytest.fixture
async def store(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'prepared.db'}", tables)
    await store.open()
    async with store.engine.begin() as connection:
        await connection.run_sync(tables.create_all)
    yield store
    await store.close()


async def test_rows_read_on_the_driver_are_those_sqlalchemy_reads(store):
    async with store.transaction() as tx:
        await SAVE.run(tx.connection, [thing(n) for n in range(12)])
        await SAVE.run(tx.connection, thing(4, owner="o-9", done=True, weight=None))  # overwrites
        await SAVE.run(tx.connection, [thing(n, kind="odd") for n in (7, 8)])
    parameters = {"ids": ["o-1", "o-9", "nobody"], "after": AT + timedelta(minutes=2)}
    async with store.reading() as connection:
        ours = await Prepared(OWNED).rows(connection, parameters)
        theirs = (await connection.execute(OWNED, parameters)).all()
        none = await Prepared(OWNED).rows(connection, parameters | {"ids": []})

    assert [tuple(row) for row in ours] == [tuple(row) for row in theirs]
    assert [row.thing_id for row in ours] == ["t-10", "t-4"]  # t-1 is too early, t-7 of another kind
    assert [type(value) for value in ours[0]] == [type(value) for value in theirs[0]]
    assert ours[1].facts == {"n": 4, "tags": ["a", "b"]} and ours[1].done is True and ours[1].weight is None
    assert ours[0].kind == "plain"  # the column's default, filled in for rows that did not give it
    assert none == []


async def test_written_on_the_driver_as_sqlalchemy_writes_it(store):
    async with store.transaction() as tx:
        await SAVE.run(tx.connection, thing(1))
    async with store.reading() as connection:
        stored = (await connection.execute(text("SELECT at, facts, done FROM things"))).one()
    async with store.engine.begin() as connection:
        await connection.execute(things.delete())
        await connection.execute(things.insert(), thing(1) | {"kind": "plain"})
        expected = (await connection.execute(text("SELECT at, facts, done FROM things"))).one()
    assert tuple(stored) == tuple(expected)


async def test_an_insert_returning_across_statements_returns_exactly_the_new_rows(store):
    async with store.transaction() as tx:
        first = await MARK.rows(tx.connection, [{"mark": f"m-{n}"} for n in range(0, 250, 2)])
        again = await MARK.rows(tx.connection, [{"mark": f"m-{n}"} for n in range(250)])  # 100 to a statement, then one by one
    assert len(first) == 125
    assert sorted(row.mark for row in again) == sorted(f"m-{n}" for n in range(1, 250, 2))
    assert len({row.seq for row in first + again}) == 250


async def test_a_parameter_left_out_is_refused_and_store_errors_are_sqlalchemy_s(store):
    async with store.reading() as connection:
        with pytest.raises(KeyError):
            await Prepared(OWNED).rows(connection, {"ids": ["o-1"]})
    async with store.engine.begin() as connection:
        await connection.execute(text("DROP TABLE things"))
    async with store.reading() as connection:
        with pytest.raises(OperationalError) as raised:
            await Prepared(OWNED).rows(connection, {"ids": ["o-1"], "after": AT})
    assert transient(raised.value)  # the store is away: a batch is retried, an HTTP caller told 503
