"""Retention: inbox ids and sent outbox rows are forgotten once older than the period, not before;
unsent and parked rows stay whatever their age."""

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy import MetaData, func, select, update

from shared.events.billing import AccountSuspended, AccountSuspendedData
from shared.retention import Retention
from shared.settings import BaseServiceSettings
from shared.store import Store, inbox, outbox
from shared.topics import BILLING_EVENTS

PERIOD = timedelta(days=7)
LONG_AGO = datetime.now(UTC) - PERIOD - timedelta(hours=1)


async def test_an_id_is_a_duplicate_inside_the_period_and_forgotten_after_it(tmp_path):
    store = await _store(tmp_path)
    try:
        async with store.transaction() as tx:
            assert await tx.first_times(BILLING_EVENTS, ["old", "recent"]) == {"old", "recent"}
            await tx.connection.execute(update(inbox).where(inbox.c.event_id == "old").values(received_at=LONG_AGO))
        assert await Retention(store, PERIOD).prune() == (1, 0)
        async with store.transaction() as tx:
            assert await tx.first_times(BILLING_EVENTS, ["old", "recent"]) == {"old"}
    finally:
        await store.close()


async def test_sent_rows_older_than_the_period_go_and_unsent_or_parked_rows_stay(tmp_path):
    store = await _store(tmp_path)
    try:
        async with store.transaction() as tx:
            for n in range(4):
                data = AccountSuspendedData(client_id=f"client-{n}")
                await tx.emit(BILLING_EVENTS, AccountSuspended.new(data, source="test", time=datetime.now(UTC)))
            everything_old = update(outbox).values(created_at=LONG_AGO)
            await tx.connection.execute(everything_old)
            await tx.connection.execute(update(outbox).where(outbox.c.seq == 1).values(sent_at=LONG_AGO))
            await tx.connection.execute(update(outbox).where(outbox.c.seq == 2).values(sent_at=datetime.now(UTC)))
        await store.park(3, "MessageSizeTooLargeError: too big")
        assert await Retention(store, PERIOD).prune() == (0, 1)
        async with store.reading() as connection:
            kept = list((await connection.execute(select(outbox.c.seq).order_by(outbox.c.seq))).scalars())
        assert kept == [2, 3, 4]
        assert await store.backlog() == 1 and await store.parked_count() == 1
    finally:
        await store.close()


async def test_the_service_prunes_in_the_background_until_it_stops(tmp_path):
    store = await _store(tmp_path)
    try:
        async with store.transaction() as tx:
            await tx.first_times(BILLING_EVENTS, ["old"])
            await tx.connection.execute(update(inbox).values(received_at=LONG_AGO))
        running = asyncio.create_task(Retention(store, PERIOD, every_seconds=0.01).run())
        await asyncio.sleep(0.3)
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
        async with store.reading() as connection:
            assert (await connection.execute(select(func.count()).select_from(inbox))).scalar_one() == 0
    finally:
        await store.close()


def test_the_period_is_seven_days_unless_set():
    assert BaseServiceSettings(http_api=False).retention_hours == 7 * 24
    assert BaseServiceSettings(http_api=False, retention_hours=24).retention_hours == 24


async def _store(tmp_path) -> Store:  # noqa: ANN001
    store = Store(f"sqlite+aiosqlite:///{tmp_path / 'retention.db'}", MetaData())
    await store.open()
    return store


async def test_many_old_rows_go_in_slices_each_its_own_short_transaction(tmp_path):
    store = await _store(tmp_path)
    try:
        async with store.transaction() as tx:
            await tx.first_times(BILLING_EVENTS, [f"old-{n}" for n in range(25)] + ["recent"])
            await tx.connection.execute(update(inbox).where(inbox.c.event_id != "recent").values(received_at=LONG_AGO))
        transactions = []
        real_transaction = store.transaction
        store.transaction = lambda: (transactions.append(1), real_transaction())[1]
        assert await store.prune(datetime.now(UTC) - PERIOD, slice_rows=10) == (25, 0)
        assert len(transactions) == 3 + 1 + 1  # 10 + 10 + 5 inbox rows, an empty inbox slice, an empty outbox slice
        async with store.reading() as connection:
            assert (await connection.execute(select(func.count()).select_from(inbox))).scalar_one() == 1
    finally:
        await store.close()
