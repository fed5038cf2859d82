"""Schema migrations (shared.migrations), on real SQLite files and a real PostgreSQL server: each
service's history makes the tables its metadata describes, instances starting at once on an empty
database all start, a store made by create_all before there were histories upgrades with its rows,
and reopening a migrated store changes nothing."""

import asyncio
import sys
import time
from datetime import UTC, datetime

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Column, DateTime, Index, Integer, LargeBinary, MetaData, String, Table, func, select, text

from services.billing_monitor.store import tables as billing_monitor
from services.contract_state.store import tables as contract_state
from services.notification.store import tables as notification
from services.time_tracking.store import tables as time_tracking
from shared.store import Store, mechanism, outbox
from shared.topics import BILLING_PROBLEMS, CONTRACT_COMMANDS

SERVICES = {
    "billing_monitor": billing_monitor,
    "contract_state": contract_state,
    "time_tracking": time_tracking,
    "notification": notification,
}
HEAD = "0003"
EARLIER = datetime(2026, 11, 27, 10, tzinfo=UTC)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path) -> str:  # noqa: ANN001
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'store.db'}"
    return request.getfixturevalue("postgres_database").replace("postgresql://", "postgresql+asyncpg://", 1)


@pytest.mark.parametrize("service", SERVICES)
async def test_a_history_makes_the_tables_its_service_describes(store_url, service):
    store = Store(store_url, SERVICES[service])
    try:
        await store.open([CONTRACT_COMMANDS])
        assert await _differences(store, SERVICES[service]) == []
        assert await _revision(store, service) == HEAD
    finally:
        await store.close()


async def test_instances_starting_at_once_on_an_empty_database_all_start(store_url):
    start_at = time.time() + 5  # after every process has imported what it needs
    opened = [_open_in_a_process_of_its_own(store_url, start_at) for _ in range(4)]
    assert await asyncio.gather(*opened) == [""] * 4
    store = Store(store_url, notification)
    try:
        assert await _differences(store, notification) == []
    finally:
        await store.close()


async def test_stores_opened_at_once_in_one_process_all_open(store_url, tmp_path):
    """Services started together in one process (as tests do): alembic's context is process-wide."""
    other_url = f"sqlite+aiosqlite:///{tmp_path / 'other.db'}"
    stores = [Store(store_url, notification), Store(store_url, notification), Store(other_url, time_tracking)]
    try:
        await asyncio.gather(*(store.open([CONTRACT_COMMANDS]) for store in stores))
        assert await _differences(stores[0], notification) == []
        assert await _differences(stores[2], time_tracking) == []
    finally:
        await asyncio.gather(*(store.close() for store in stores))


async def test_reopening_a_migrated_store_changes_nothing(store_url):
    store = Store(store_url, contract_state)
    await store.open([CONTRACT_COMMANDS])
    async with store.transaction() as tx:
        assert await tx.first_times(CONTRACT_COMMANDS, ["seen"]) == {"seen"}
    await store.close()

    store = Store(store_url, contract_state)
    try:
        await store.open([CONTRACT_COMMANDS, BILLING_PROBLEMS])
        async with store.transaction() as tx:
            assert await tx.first_times(CONTRACT_COMMANDS, ["seen"]) == set()
            assert await tx.first_times(BILLING_PROBLEMS, ["seen"]) == {"seen"}, "only a legacy inbox is carried over"
        assert await _revision(store, "contract_state") == HEAD
        assert await _differences(store, contract_state) == []
    finally:
        await store.close()


async def test_a_store_made_before_inbox_topics_and_parking_upgrades_with_its_rows(store_url):
    await _made_by_create_all(store_url, _before_topics_and_parking(), {"event_id": "seen-before"})
    store = Store(store_url, notification)
    try:
        await store.open([CONTRACT_COMMANDS, BILLING_PROBLEMS])
        async with store.transaction() as tx:  # an id judged before stays a duplicate on every topic
            assert await tx.first_times(CONTRACT_COMMANDS, ["seen-before", "new"]) == {"new"}
            assert await tx.first_times(BILLING_PROBLEMS, ["seen-before", "new"]) == {"new"}
        await _assert_kept(store)
    finally:
        await store.close()


async def test_a_store_made_by_the_last_create_all_upgrades_with_its_rows(store_url):
    await _made_by_create_all(store_url, mechanism, {"topic": CONTRACT_COMMANDS.name, "event_id": "seen-before"})
    store = Store(store_url, notification)
    try:
        await store.open([CONTRACT_COMMANDS, BILLING_PROBLEMS])
        async with store.transaction() as tx:
            assert await tx.first_times(CONTRACT_COMMANDS, ["seen-before", "new"]) == {"new"}
            assert await tx.first_times(BILLING_PROBLEMS, ["seen-before"]) == {"seen-before"}
        await _assert_kept(store)
    finally:
        await store.close()


@pytest.mark.postgres
async def test_an_outbox_the_fix_up_before_migrations_gave_parked_at_without_a_time_zone_gains_one(
    postgres_database,
):
    url = postgres_database.replace("postgresql://", "postgresql+asyncpg://", 1)
    await _made_by_create_all(url, mechanism, {"topic": CONTRACT_COMMANDS.name, "event_id": "seen-before"})
    old = Store(url)
    async with old.engine.begin() as connection:  # as _set_aside_legacy_tables added it
        await connection.execute(text("ALTER TABLE outbox ALTER COLUMN parked_at TYPE TIMESTAMP"))
    await old.close()

    store = Store(url, notification)
    try:
        await store.open([CONTRACT_COMMANDS])
        seq = (await store.unsent(1))[0].seq
        await store.park(seq, "too large for the broker")
        assert [row["seq"] for row in await store.parked()] == [seq]
        await _assert_kept(store, parked=1)
    finally:
        await store.close()


async def _made_by_create_all(url: str, legacy: MetaData, received: dict) -> None:
    """notification's store as create_all made it with the `legacy` inbox and outbox, and rows in it."""
    unsent = {"event_id": "e-unsent", "topic": "contracts.events", "key": "c-1", "type": "contract.paused",
              "payload": b"{}", "created_at": EARLIER, "sent_at": None}
    sent = {**unsent, "event_id": "e-sent", "sent_at": EARLIER}
    old = Store(url)
    async with old.engine.begin() as connection:
        await connection.run_sync(legacy.create_all)
        await connection.run_sync(notification.create_all)
        await connection.execute(legacy.tables["inbox"].insert(), {**received, "received_at": EARLIER})
        await connection.execute(legacy.tables["outbox"].insert(), [unsent, sent])
        await connection.execute(notification.tables["billing_notices"].insert(), {"client_id": "c-1", "kind": "card"})
    await old.close()


async def _assert_kept(store: Store, parked: int = 0) -> None:
    assert len(await store.unsent(10)) == 1 - parked
    assert await store.parked_count() == parked
    assert await _count(store, outbox) == 2
    assert await _count(store, notification.tables["billing_notices"]) == 1
    assert await _differences(store, notification) == []
    assert await _revision(store, "notification") == HEAD


async def _open_in_a_process_of_its_own(url: str, start_at: float) -> str:
    """Open notification's store at `start_at` in a new process: what it wrote to stderr."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", _OPEN_AT, url, str(start_at), stderr=asyncio.subprocess.PIPE
    )
    _, stderr = await process.communicate()
    return stderr.decode()


_OPEN_AT = """
import asyncio, sys, time
from services.notification.store import tables
from shared.store import Store
from shared.topics import CONTRACT_COMMANDS

async def main(url, start_at):
    await asyncio.sleep(start_at - time.time())
    store = Store(url, tables)
    await store.open([CONTRACT_COMMANDS])
    await store.close()

asyncio.run(main(sys.argv[1], float(sys.argv[2])))
"""


def _before_topics_and_parking() -> MetaData:
    """The inbox and outbox as create_all made them before 3c4710a: ids alone, nothing parked."""
    legacy = MetaData()
    Table(
        "inbox", legacy,
        Column("event_id", String(200), primary_key=True),
        Column("received_at", DateTime(timezone=True), nullable=False),
    )
    Table(
        "outbox", legacy,
        Column("seq", Integer, primary_key=True, autoincrement=True),
        Column("event_id", String(200), nullable=False, unique=True),
        Column("topic", String(200), nullable=False),
        Column("key", String(200), nullable=False),
        Column("type", String(100), nullable=False),
        Column("payload", LargeBinary, nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False),
        Column("sent_at", DateTime(timezone=True), nullable=True),
        Index("outbox_unsent", "seq", sqlite_where=Column("sent_at").is_(None),
              postgresql_where=Column("sent_at").is_(None)),
    )
    return legacy


async def _differences(store: Store, tables: MetaData) -> list:
    """What alembic's autogenerate would change to make the store match the metadata."""

    def compare(connection) -> list:  # noqa: ANN001 - a sync Connection
        context = MigrationContext.configure(connection, opts={"include_name": _not_a_version_table})
        return compare_metadata(context, [mechanism, tables])

    async with store.reading() as connection:
        return await connection.run_sync(compare)


def _not_a_version_table(name: str | None, kind: str, _parent: dict) -> bool:
    return not (kind == "table" and name.startswith("alembic_version"))


async def _revision(store: Store, service: str) -> str:
    async with store.reading() as connection:
        return (await connection.execute(text(f"SELECT version_num FROM alembic_version_{service}"))).scalar_one()


async def _count(store: Store, table: Table) -> int:
    async with store.reading() as connection:
        return (await connection.execute(select(func.count()).select_from(table))).scalar_one()
