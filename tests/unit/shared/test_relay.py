"""The outbox relay stopped while a publication is in flight publishes every row exactly once."""

import asyncio
from collections import Counter
from datetime import UTC, datetime

from sqlalchemy import MetaData

from shared.events.billing import AccountSuspended, AccountSuspendedData
from shared.metrics import Metrics
from shared.relay import OutboxRelay
from shared.store import Store
from shared.topics import BILLING_EVENTS


async def test_stopping_mid_publication_sends_nothing_twice(tmp_path):
    store = Store(f"sqlite+aiosqlite:///{tmp_path / 'relay.db'}", MetaData())
    await store.open()
    async with store.transaction() as tx:
        for n in range(20):
            data = AccountSuspendedData(client_id=f"client-{n}")
            await tx.emit(BILLING_EVENTS, AccountSuspended.new(data, source="test", time=datetime.now(UTC)))
    sent: list[bytes] = []
    first_send = asyncio.Event()

    async def slow_send(_topic: str, _key: bytes, payload: bytes) -> asyncio.Future:
        sent.append(payload)
        first_send.set()
        acknowledged = asyncio.get_running_loop().create_future()
        asyncio.get_running_loop().call_later(0.2, acknowledged.set_result, None)  # Kafka acks later
        return acknowledged

    relay = OutboxRelay(store, slow_send, Metrics())
    relay.start()
    relay.wake()
    try:
        await asyncio.wait_for(first_send.wait(), 5)
        await relay.stop()  # while the acks of the first publication are still awaited
        assert await store.backlog() == 0
        assert len(sent) == 20
        assert max(Counter(sent).values()) == 1, "a row was published twice"
    finally:
        await store.close()
