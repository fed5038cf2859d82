"""Transaction.emit_all queues many events like as many emits: in order, keyed, each id once."""

from datetime import UTC, datetime

from sqlalchemy import MetaData

from shared.events.billing import AccountSuspended, AccountSuspendedData
from shared.store import Store
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
