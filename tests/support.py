"""Helpers for tests against a real Kafka broker: publish events, read topics from "now", run a service."""

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition

from shared.auth import Role, mint
from shared.events.envelope import Envelope
from shared.service import Service
from shared.topics import Topic, partitions_of


TEST_JWT_SECRET = "test-secret-for-contract-pause-tests-only"


def bearer(subject: str, role: Role) -> dict[str, str]:
    """Headers of a request made by `subject` in `role`, with a token the test services accept."""
    return {"Authorization": f"Bearer {mint(TEST_JWT_SECRET, subject, role)}"}


@asynccontextmanager
async def producer(bootstrap: str) -> AsyncIterator[AIOKafkaProducer]:
    client = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=5)
    await client.start()
    try:
        yield client
    finally:
        await client.stop()


async def publish(bootstrap: str, topic: Topic, events: Iterable[Envelope]) -> None:
    """Publish events keyed as the topic registry says, in order, and wait for the acks."""
    async with producer(bootstrap) as client:
        acks = [
            await client.send(topic.name, event.to_json(), key=str(getattr(event.data, topic.key)).encode())
            for event in events
        ]
        await asyncio.gather(*acks)


async def publish_raw(bootstrap: str, topic: Topic, key: str, values: Iterable[bytes]) -> None:
    async with producer(bootstrap) as client:
        await asyncio.gather(*[await client.send(topic.name, value, key=key.encode()) for value in values])


class TopicReader:
    """Reads a topic from the moment it was opened: what earlier tests wrote stays out of the way."""

    def __init__(self, consumer: AIOKafkaConsumer) -> None:
        self._consumer = consumer
        self.records: list[ConsumerRecord] = []

    @classmethod
    @asynccontextmanager
    async def opened(cls, bootstrap: str, topic: Topic | str) -> AsyncIterator["TopicReader"]:
        name = topic if isinstance(topic, str) else topic.name
        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
        await consumer.start()
        try:
            partitions = [TopicPartition(name, p) for p in await partitions_of(bootstrap, name)]
            consumer.assign(partitions)
            for partition, offset in (await consumer.end_offsets(partitions)).items():
                consumer.seek(partition, offset)
            yield cls(consumer)
        finally:
            await consumer.stop()

    def events(self, where: Callable[[dict[str, Any]], bool] = lambda _: True) -> list[dict[str, Any]]:
        """Values read so far, parsed as JSON, that satisfy `where`."""
        parsed = [json.loads(record.value) for record in self.records]
        return [event for event in parsed if where(event)]

    async def wait_for(
        self, where: Callable[[dict[str, Any]], bool] = lambda _: True, count: int = 1, timeout: float = 30
    ) -> list[dict[str, Any]]:
        """Read until `count` matching events arrived; fail with what was seen if they do not."""
        deadline = time.monotonic() + timeout
        while len(matching := self.events(where)) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"expected {count} matching events within {timeout}s, saw {len(matching)}: {matching}")
            await self.poll(0.2)
        return matching

    async def wait_for_records(self, count: int, timeout: float = 30) -> list[ConsumerRecord]:
        """Like wait_for, for messages that need not be JSON (dead letters)."""
        deadline = time.monotonic() + timeout
        while len(self.records) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"expected {count} records within {timeout}s, saw {len(self.records)}")
            await self.poll(0.2)
        return self.records

    async def settle(self, seconds: float = 1.5) -> None:
        """Keep reading for a while: to check that nothing more arrives."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            await self.poll(0.2)

    async def poll(self, seconds: float) -> None:
        batches = await self._consumer.getmany(timeout_ms=int(seconds * 1000))
        for records in batches.values():
            self.records.extend(records)


@asynccontextmanager
async def running(service: Service, http: bool = False) -> AsyncIterator[Service]:
    """A service started in this process against the real broker (no HTTP port unless asked;
    `httpx.ASGITransport(app=service.http_app())` reaches the routes without one)."""
    await service.start(http=http)
    try:
        await wait_until_assigned(service)
        yield service
    finally:
        await service.stop()


async def wait_until_assigned(service: Service, timeout: float = 30) -> None:
    """Joining the consumer group takes a moment; inputs published before it would still be read
    (earliest offset for a new group), but tests that read "from now" want the service ready."""
    deadline = time.monotonic() + timeout
    for subscriber in service.broker.subscribers:
        while not _assigned(subscriber):
            if time.monotonic() > deadline:
                raise AssertionError(f"{service.name} got no partitions within {timeout}s")
            await asyncio.sleep(0.05)


def _assigned(subscriber: Any) -> bool:
    consumer = getattr(subscriber, "consumer", None)
    return bool(consumer and consumer.assignment())
