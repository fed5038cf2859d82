"""Transaction.emit_all queues many events like as many emits: in order, keyed, each id once; the
inbox records a batch's ids the same way."""

from datetime import UTC, datetime, timedelta

from sqlalchemy import MetaData, select

from shared.events.billing import AccountSuspended, AccountSuspendedData
from shared.store import Store, inbox, outbox
from shared.topics import BILLING_EVENTS


async def test_emit_all_queues_in_order_keyed_and_skips_ids_already_queued(tmp_path):
    store = Store(f"sqlite+aiosqlite:///{tmp_path / 'outbox.db'}", MetaData())
    await store.open()
    events = [
        AccountSuspended.new(AccountSuspendedData(client_id=f"client-{n}"), source="test", time=datetime.now(UTC))
        for n in range(5)
    ]
    try:
        async with store.transaction() as tx:
            await tx.emit(BILLING_EVENTS, events[1])
            await tx.emit_all(BILLING_EVENTS, events)
            await tx.emit_all(BILLING_EVENTS, [])
            assert len(tx.outbox_rows) == 5
        rows = await store.unsent(10)
        assert [row.key for row in rows] == ["client-1", "client-0", "client-2", "client-3", "client-4"]
        assert {row.topic for row in rows} == {"billing.events"}
        assert {row.type for row in rows} == {"billing.account_suspended"}
        assert rows[1].payload == events[0].to_json()
    finally:
        await store.close()


async def test_a_batch_larger_than_one_statement_is_queued_and_recorded_whole_in_sqlalchemy_s_form(tmp_path):
    # On SQLite the inbox and outbox rows bypass SQLAlchemy, ROWS_PER_STATEMENT to a statement and
    # the rest one by one; what SQLAlchemy reads back (and retention compares) must not tell.
    store = Store(f"sqlite:///{tmp_path / 'big.db'}", MetaData())
    await store.open([BILLING_EVENTS])
    now = datetime.now(UTC)
    events = [AccountSuspended.new(AccountSuspendedData(client_id=f"client-{n}"), source="test", time=now)
              for n in range(250)]
    try:
        async with store.transaction() as tx:
            assert await tx.first_times(BILLING_EVENTS, [event.id for event in events[:30]]) == {e.id for e in events[:30]}
            await tx.emit_all(BILLING_EVENTS, events[:30])
        async with store.transaction() as tx:
            fresh = await tx.first_times(BILLING_EVENTS, [event.id for event in events])
            await tx.emit_all(BILLING_EVENTS, events)
            queued = tx.outbox_rows
        assert fresh == {event.id for event in events[30:]}
        assert [row.key for row in queued] == [f"client-{n}" for n in range(30, 250)]
        assert [row.seq for row in queued] == sorted(row.seq for row in queued)
        assert [row.key for row in await store.unsent(300)] == [f"client-{n}" for n in range(250)]
        async with store.reading() as connection:
            received = (await connection.execute(select(inbox.c.received_at))).scalars().all()
            created = (await connection.execute(select(outbox.c.created_at))).scalars().all()
        assert len(received) == 250 and all(abs(moment.replace(tzinfo=UTC) - now) < timedelta(seconds=30)
                                            for moment in received + created)
        assert await store.prune(before=now - timedelta(hours=1)) == (0, 0)
        await store.mark_sent([row.seq for row in await store.unsent(300)])
        assert await store.prune(before=datetime.now(UTC) + timedelta(seconds=1)) == (250, 250)
    finally:
        await store.close()
