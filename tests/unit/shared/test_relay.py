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


async def test_a_row_kafka_will_never_take_is_parked_and_the_rows_after_it_flow(tmp_path):
    from aiokafka.errors import MessageSizeTooLargeError

    store = Store(f"sqlite+aiosqlite:///{tmp_path / 'relay.db'}", MetaData())
    await store.open()
    async with store.transaction() as tx:
        for n in range(3):
            data = AccountSuspendedData(client_id=f"client-{n}", reason="x" * (400 if n == 1 else 1))
            await tx.emit(BILLING_EVENTS, AccountSuspended.new(data, source="test", time=datetime.now(UTC)))
    sent: list[bytes] = []

    async def send(_topic: str, _key: bytes, payload: bytes) -> asyncio.Future:
        if len(payload) > 400:
            raise MessageSizeTooLargeError("larger than max_request_size")
        sent.append(payload)
        acknowledged = asyncio.get_running_loop().create_future()
        acknowledged.set_result(None)
        return acknowledged

    relay = OutboxRelay(store, send, Metrics())
    try:
        assert await relay.drain() == 2
        assert await store.backlog() == 0 and await store.parked_count() == 1
        (parked,) = await store.parked()
        assert parked["seq"] == 2 and "MessageSizeTooLargeError" in parked["parked_reason"]
        assert await store.unpark() == 1 and await store.backlog() == 1  # an operator puts it back in line
    finally:
        await store.close()


async def test_a_refusal_kafka_may_lift_keeps_the_rows_and_stop_does_not_fail(tmp_path):
    from aiokafka.errors import TopicAuthorizationFailedError

    store = Store(f"sqlite+aiosqlite:///{tmp_path / 'relay.db'}", MetaData())
    await store.open()
    async with store.transaction() as tx:
        data = AccountSuspendedData(client_id="client-1")
        await tx.emit(BILLING_EVENTS, AccountSuspended.new(data, source="test", time=datetime.now(UTC)))

    async def refuse(topic: str, _key: bytes, _payload: bytes) -> asyncio.Future:
        raise TopicAuthorizationFailedError({topic})

    relay = OutboxRelay(store, refuse, Metrics())
    relay.start()
    relay.wake()
    try:
        await asyncio.sleep(0.2)
        await relay.stop()
        assert await store.backlog() == 1 and await store.parked_count() == 0
    finally:
        await store.close()
