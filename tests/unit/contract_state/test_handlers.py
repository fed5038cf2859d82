"""Handlers and store together on a real SQLite file, without a broker: state round-trips, outputs land
in the outbox in the same transaction, and a 1,000-contract fan-out is a few bulk statements."""

import json

import pytest
from sqlalchemy import event, func, select

from services.contract_state import store
from services.contract_state.domain import Contract
from services.contract_state.handlers import on_billing_problem, on_contract_command
from shared.store import Store
from tests.unit.contract_state.builders import at, opening, pausing, problem_opened


@pytest.fixture
async def database(tmp_path):
    database = Store(f"sqlite+aiosqlite:///{tmp_path / 'contract-state.db'}", store.tables)
    await database.open()
    yield database
    await database.close()


async def apply(database: Store, handler, *inputs) -> None:
    async with database.transaction() as tx:
        for each in inputs:
            await handler(tx, each)


async def published(database: Store) -> list[dict]:
    return [json.loads(row.payload) for row in await database.unsent(100_000)]


async def test_a_contract_and_a_standing_round_trip_through_the_store(database):
    await apply(database, on_contract_command, opening("k-1", minute=0), pausing("c-1", "k-1", minute=2, message="hi"))
    await apply(database, on_billing_problem, problem_opened(minute=3))
    async with database.reading() as connection:
        contract = await store.load_contract(connection, "k-1", for_update=False)
        standing = await store.load_standing(connection, "c-1")
    assert (contract.holds, contract.client_message, contract.version) == ({"platform", "client"}, "hi", 3)
    assert contract.changed_at == at(3) and contract.changed_at.tzinfo is not None
    assert (standing.open_problems, standing.as_of) == ({"payment_failed"}, at(3))
    assert [e["type"] for e in await published(database)] == [
        "contract.opened", "contract.paused", "contract.holds_changed"]


async def test_outputs_are_keyed_by_contract_on_contracts_events(database):
    await apply(database, on_contract_command, opening("k-7"))
    (row,) = await database.unsent(10)
    assert (row.topic, row.key, row.type) == ("contracts.events", "k-7", "contract.opened")


async def test_a_client_with_1000_open_contracts_is_paused_by_a_handful_of_statements(database):
    """The fan-out is bulk: the number of SQL round trips does not grow with the client's contracts."""
    async with database.transaction() as tx:
        await store.save_contracts(tx.connection, [contract(f"k-{n:04}") for n in range(1000)])
        await store.save_contracts(tx.connection, [contract("k-other", client_id="c-2")])
    statements: list[str] = []

    def count(_connection, _cursor, statement, *_) -> None:  # noqa: ANN001
        statements.append(statement)

    event.listen(database.engine.sync_engine, "before_cursor_execute", count)
    await apply(database, on_billing_problem, problem_opened(minute=5))
    event.remove(database.engine.sync_engine, "before_cursor_execute", count)

    paused = await published(database)
    assert [e["type"] for e in paused] == ["contract.paused"] * 1000
    assert len({e["id"] for e in paused}) == 1000
    assert len(statements) <= 6, statements  # standing, contracts, history, inbox, outbox: one statement each
    async with database.reading() as connection:
        recorded = await connection.scalar(select(func.count()).select_from(store.contract_history))
    assert recorded == 1000, "each change is in its contract's history"
    async with database.reading() as connection:
        held = await connection.scalar(
            select(func.count()).select_from(store.contracts).where(store.contracts.c.platform_hold.is_(True)))
    assert held == 1000, "the other client's contract stays active"


def contract(contract_id: str, client_id: str = "c-1") -> Contract:
    return Contract(contract_id, client_id, "f-1", "hourly", None, frozenset(), False, 1, at(0))
