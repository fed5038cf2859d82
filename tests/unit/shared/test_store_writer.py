"""SQLite's one writer keeps its connection from one transaction to the next, and takes a fresh one
once a transaction failed: a broken connection never wedges the store."""

import pytest
from sqlalchemy import MetaData, event

from shared.prepared import _sqlite_of
from shared.store import Store
from shared.topics import CONTRACT_COMMANDS


@pytest.fixture
async def store(tmp_path):  # noqa: ANN001, ANN201
    store = Store(f"sqlite:///{tmp_path / 'writer.db'}", MetaData())
    await store.open([CONTRACT_COMMANDS])
    yield store
    await store.close()


async def test_transactions_follow_one_another_on_one_connection_without_the_pool(store):
    checkouts = []
    event.listen(store.engine.sync_engine, "checkout", lambda *_: checkouts.append(1))
    for event_id in ("a", "b", "c"):
        async with store.transaction() as tx:
            assert await tx.first_times(CONTRACT_COMMANDS, [event_id]) == {event_id}
    assert len(checkouts) == 1  # a checkout and its return cost as much as a small batch's statements


async def test_after_a_failed_transaction_the_next_one_takes_a_fresh_connection(store):
    async with store.transaction() as tx:
        broken = _sqlite_of(tx.connection)
        await tx.first_times(CONTRACT_COMMANDS, ["a"])
    broken.close()  # as a failing disk or a bug could leave it, between two transactions
    with pytest.raises(Exception, match="closed database"):
        async with store.transaction() as tx:
            await tx.first_times(CONTRACT_COMMANDS, ["b"])
    async with store.transaction() as tx:
        assert _sqlite_of(tx.connection) is not broken
        assert await tx.first_times(CONTRACT_COMMANDS, ["a", "b"]) == {"b"}  # "b" was rolled back with it


async def test_a_handler_error_rolls_back_and_the_store_goes_on(store):
    with pytest.raises(RuntimeError):
        async with store.transaction() as tx:
            await tx.first_times(CONTRACT_COMMANDS, ["a"])
            raise RuntimeError("a handler bug")
    async with store.transaction() as tx:
        assert await tx.first_times(CONTRACT_COMMANDS, ["a"]) == {"a"}
