"""A store with one writer hands the relay each transaction's rows as it commits: they go out without
being read back, in commit order, after anything older, and are marked sent a moment later."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import pytest
from aiokafka.errors import KafkaConnectionError
from sqlalchemy import MetaData

from shared import relay as relay_module
from shared.events.billing import AccountSuspended, AccountSuspendedData
from shared.metrics import Metrics
from shared.relay import OutboxRelay
from shared.store import Store
from shared.topics import BILLING_EVENTS


class Kafka:
    """Acknowledges at once what it takes; refuses everything while `down`."""

    def __init__(self) -> None:
        self.taken: list[str] = []
        self.down = False

    async def send(self, _topic: str, key: bytes, _payload: bytes) -> asyncio.Future:
        acknowledged = asyncio.get_running_loop().create_future()
        if self.down:
            acknowledged.set_exception(KafkaConnectionError("broker away"))
        else:
            self.taken.append(key.decode())
            acknowledged.set_result(None)
        return acknowledged


class CountedReads(Store):
    reads = 0

    async def unsent(self, limit: int):  # noqa: ANN201 - as Store.unsent
        self.reads += 1
        return await super().unsent(limit)


@pytest.fixture
async def store(tmp_path):
    opened = CountedReads(f"sqlite+aiosqlite:///{tmp_path / 'relay.db'}", MetaData())
    await opened.open()
    yield opened
    await opened.close()


async def commit(store: Store, *clients: str) -> None:
    async with store.transaction() as tx:
        for client in clients:
            data = AccountSuspendedData(client_id=client)
            await tx.emit(BILLING_EVENTS, AccountSuspended.new(data, source="test", time=datetime.now(UTC)))


@asynccontextmanager
async def running(store: Store, kafka: Kafka) -> AsyncIterator[OutboxRelay]:
    relay = OutboxRelay(store, kafka.send, Metrics())
    relay.start()
    try:
        yield relay
    finally:
        await relay.stop()


async def until(condition, seconds: float = 5.0) -> None:  # noqa: ANN001 - a callable returning bool
    deadline = asyncio.get_running_loop().time() + seconds
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.005)


async def test_committed_rows_go_out_in_order_without_reading_the_store_and_are_marked_soon_after(store):
    await commit(store, "left-by-a-previous-run")
    kafka = Kafka()
    async with running(store, kafka) as relay:
        await until(lambda: kafka.taken == ["left-by-a-previous-run"] and relay._caught_up)
        reads_once_caught_up = store.reads
        for number in range(20):
            await commit(store, f"client-{number}")
        await until(lambda: len(kafka.taken) == 21)
        assert kafka.taken == ["left-by-a-previous-run"] + [f"client-{number}" for number in range(20)]
        assert store.reads == reads_once_caught_up, "handed-over rows were read back from the store"
        assert await store.backlog() > 0, "marks wait for MARK_EVERY, not one transaction per batch"
        await asyncio.sleep(relay_module.MARK_EVERY + 0.1)
        assert await store.backlog() == 0
    assert kafka.taken.count("client-0") == 1


async def test_rows_kafka_refused_stay_in_the_store_and_go_out_in_order_once_it_takes_them(store, monkeypatch):
    monkeypatch.setattr(relay_module, "POLL_SECONDS", 0.05)  # the retry's first backoff
    kafka = Kafka()
    async with running(store, kafka):
        await commit(store, "before")
        await until(lambda: kafka.taken == ["before"])
        kafka.down = True
        await commit(store, "refused-1", "refused-2")
        await asyncio.sleep(0.1)
        kafka.down = False
        await commit(store, "after")
        await until(lambda: len(kafka.taken) == 4)
        assert kafka.taken == ["before", "refused-1", "refused-2", "after"]
    assert await store.backlog() == 0


async def test_a_row_put_back_in_line_by_another_process_goes_out_without_a_commit(store, monkeypatch):
    monkeypatch.setattr(relay_module, "POLL_SECONDS", 0.1)
    kafka = Kafka()
    async with running(store, kafka) as relay:
        await until(lambda: relay._caught_up)
        other_writer = Store(store.url, MetaData())  # e.g. `contract-pause outbox` run by an operator
        await commit(other_writer, "written-elsewhere")
        await other_writer.close()
        await until(lambda: kafka.taken == ["written-elsewhere"], seconds=2)


async def test_stop_publishes_and_marks_everything_committed(store):
    kafka = Kafka()
    relay = OutboxRelay(store, kafka.send, Metrics())
    relay.start()
    await commit(store, *(f"client-{number}" for number in range(50)))
    await relay.stop()
    assert sorted(kafka.taken) == sorted(f"client-{number}" for number in range(50))
    assert len(kafka.taken) == 50 and await store.backlog() == 0


async def test_a_backlog_beyond_what_memory_holds_waits_in_the_store_and_goes_out_in_order(store, monkeypatch):
    monkeypatch.setattr(relay_module, "MAX_HANDED", 10)
    kafka = Kafka()
    async with running(store, kafka) as relay:
        await until(lambda: relay._caught_up)
        for number in range(30):  # committed faster than the relay gets a turn
            await commit(store, f"client-{number}")
        assert len(relay._handed) <= 10
        await until(lambda: len(kafka.taken) == 30)
        assert kafka.taken == [f"client-{number}" for number in range(30)]


async def test_the_consumer_keeps_up_with_the_relay_until_a_batch_s_rows_are_out(store):
    kafka = Kafka()
    async with running(store, kafka) as relay:
        await until(lambda: relay._caught_up)
        await relay.keep_up()  # nothing handed over: no wait
        await commit(store, "a", "b")
        assert kafka.taken == []
        await relay.keep_up()
        assert kafka.taken == ["a", "b"]


async def test_keeping_up_never_waits_on_rows_kafka_refused(store, monkeypatch):
    monkeypatch.setattr(relay_module, "KEEP_UP_SECONDS", 30)
    kafka = Kafka()
    async with running(store, kafka) as relay:
        await until(lambda: relay._caught_up)
        kafka.down = True
        await commit(store, "refused")
        await asyncio.wait_for(relay.keep_up(), 5)  # the rows went back to the store: the consumer goes on
        assert kafka.taken == [] and await store.backlog() == 1
        kafka.down = False



async def test_a_consumer_waits_for_a_send_no_longer_than_keep_up_seconds(store, monkeypatch):
    monkeypatch.setattr(relay_module, "KEEP_UP_SECONDS", 0.2)
    kafka = Kafka()
    async with running(store, kafka) as relay:
        await until(lambda: relay._caught_up)
        stuck = asyncio.Event()

        async def full_buffer(_topic: str, _key: bytes, _payload: bytes) -> asyncio.Future:
            await stuck.wait()  # a producer whose buffer is full holds the send itself
            raise KafkaConnectionError("broker away")

        relay._send = full_buffer
        await commit(store, "hanging")
        await asyncio.wait_for(relay.keep_up(), 2)
        stuck.set()


async def test_the_consumer_goes_on_before_kafka_s_acks_and_the_next_rows_follow_them_in_order(store):
    kafka = Kafka()
    async with running(store, kafka) as relay:
        await until(lambda: relay._caught_up)
        sent: list[str] = []
        acks: list[asyncio.Future] = []

        async def acked_later(_topic: str, key: bytes, _payload: bytes) -> asyncio.Future:
            sent.append(key.decode())
            acks.append(asyncio.get_running_loop().create_future())
            return acks[-1]

        relay._send = acked_later
        try:
            await commit(store, "first")
            await asyncio.wait_for(relay.keep_up(), 1)  # sent, not acknowledged: the next batch may be taken
            await commit(store, "second")
            await asyncio.sleep(0.05)
            assert sent == ["first"]  # one publication at a time: the next waits for the acks
            acks[0].set_result(None)
            await asyncio.wait_for(relay.keep_up(), 1)
            assert sent == ["first", "second"]
            acks[1].set_result(None)
            await until(lambda: relay.published == 2)
        finally:  # the relay stops only once its publication is answered
            for ack in acks:
                if not ack.done():
                    ack.set_result(None)


async def test_a_read_of_the_store_under_a_stream_of_commits_ends_at_once(store, monkeypatch):
    # The periodic read of the store used to read on until a read came back empty: with commits
    # arriving all the time it never did, and every row waited for a read, a publication and a
    # marking transaction per round (notification's drains lasted seconds at 200 inputs/s).
    monkeypatch.setattr(relay_module, "POLL_SECONDS", 0.01)
    kafka = Kafka()
    async with running(store, kafka) as relay:
        await until(lambda: relay._caught_up)
        reads_before, started = store.reads, asyncio.get_running_loop().time()
        for number in range(200):
            await commit(store, f"client-{number}")
            await asyncio.sleep(0)
        await until(lambda: len(kafka.taken) == 200)
        polls = (asyncio.get_running_loop().time() - started) / relay_module.POLL_SECONDS
        assert store.reads - reads_before <= polls + 2, "the relay read the store round after round"
        assert kafka.taken == [f"client-{number}" for number in range(200)]  # in order, each once
