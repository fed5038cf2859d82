"""Handlers and store together on a real SQLite file, without a broker: a batch of contract events is
what its events applied one by one make it, in a handful of statements whatever its size."""

import json
from datetime import UTC, datetime

import pytest
from sqlalchemy import event, select

from services.time_tracking import store
from services.time_tracking.handlers import on_contract_event, on_contract_events, submit_all
from shared.events.contracts import CommandRejected, CommandRejectedData
from shared.store import Store
from tests.integration.time_tracking.helpers import Contract


@pytest.fixture
async def databases(tmp_path):
    opened = [Store(f"sqlite+aiosqlite:///{tmp_path / f'time-tracking-{n}.db'}", store.tables) for n in (1, 2)]
    for database in opened:
        await database.open()
    yield opened
    for database in opened:
        await database.close()


async def test_a_batch_is_its_events_applied_one_by_one(databases):
    a, b, c, d = Contract(), Contract(), Contract(), Contract()
    opened = [contract.version(1, "active", 0) for contract in (a, b, c)]
    submissions = [
        a.submitted(1, 2, entry_id="a-before-the-pause"),
        a.submitted(3, 4, entry_id="a-in-the-pause"),
        a.submitted(3, 4, entry_id="a-manual", source="manual"),
        a.submitted(6, 7, entry_id="a-after-the-resume"),  # revoked: the pause is open when learned
        b.submitted(1, 3, entry_id="b-in-the-pause"),
        b.submitted(5, 6, entry_id="b-after-the-resume"),  # the resume is known before the pause
        c.submitted(1, 2, entry_id="c-over-the-end"),
    ]
    batch = [
        d.version(1, "active", 0),
        b.version(3, "active", 4.5),
        b.version(2, "paused", 2),
        a.version(2, "paused", 2.5),
        a.version(4, "paused", 6.5),  # overlaps work already revoked in this batch
        a.version(3, "active", 5),
        a.version(2, "paused", 2.5),  # a duplicate version
        c.version(1, "active", 0),  # known before the batch
        rejected(c),
        c.version(2, "ended", 1.5),
    ]
    one_by_one, batched = databases
    for database in databases:
        await apply(database, on_contract_events, opened)
        await apply(database, submit_all, submissions)
    for each in batch:
        await apply(one_by_one, on_contract_event, each)
    await apply(batched, on_contract_events, batch)

    assert await state(batched) == await state(one_by_one)
    assert await published(batched) == await published(one_by_one)
    revoked = [e["data"]["entry_id"] for e in await published(batched) if e["type"] == "time_entry.protection_revoked"]
    assert revoked == ["b-in-the-pause", "a-in-the-pause", "a-after-the-resume", "c-over-the-end"]


async def test_a_batch_of_1200_pauses_costs_a_handful_of_statements(databases):
    database, _ = databases
    contracts = [Contract() for _ in range(1200)]  # past SQLite's expression depth (1,000)
    await apply(database, on_contract_events, [contract.version(1, "active", 0) for contract in contracts])
    await apply(database, submit_all, [contract.submitted(1, 2) for contract in contracts])
    statements: list[str] = []

    def count(_connection, _cursor, statement, *_) -> None:  # noqa: ANN001
        statements.append(statement)

    event.listen(database.engine.sync_engine, "before_cursor_execute", count)
    await apply(database, on_contract_events, [contract.version(2, "paused", 1.5) for contract in contracts])
    event.remove(database.engine.sync_engine, "before_cursor_execute", count)

    assert len([e for e in await published(database) if e["type"] == "time_entry.protection_revoked"]) == 1200
    # parties, histories, versions, candidates, revocations, outbox: one statement each
    assert len(statements) <= 6, statements


def rejected(contract: Contract) -> CommandRejected:
    data = CommandRejectedData(command_id="cmd-1", contract_id=contract.contract_id, actor_id=contract.client_id,
                               reason="contract_ended")
    return CommandRejected.new(data, source="contract-state", time=datetime.now(UTC))


async def apply(database: Store, handler, inputs: list) -> None:  # noqa: ANN001
    async with database.transaction() as tx:
        await handler(tx, inputs)


async def state(database: Store) -> dict[str, list]:
    """Every row time-tracking keeps, but the moments it recorded or revoked at (read off the clock)."""
    async with database.reading() as connection:
        return {
            table.name: sorted(
                tuple(value for column, value in row._mapping.items() if column not in ("recorded_at", "revoked_at"))
                for row in await connection.execute(select(table))
            )
            for table in (store.contract_versions, store.contract_parties, store.time_entries)
        }


async def published(database: Store) -> list[dict]:
    """What the outbox holds, in order, but the time each event was made at."""
    events = [json.loads(row.payload) for row in await database.unsent(100_000)]
    return [{field: value for field, value in e.items() if field != "time"} for e in events]
