"""How every service consumes a topic: read, dead-letter the unreadable, apply the rest exactly once.

A batch from Kafka is applied in one database transaction (inbox + state + outbox), and only
then is the offset committed. A duplicate event id is skipped by the inbox. A message that
cannot be read, or that the handler keeps failing on, is dead-lettered so the partition moves on.
If the store itself is unavailable the batch is not committed and Kafka redelivers it.
"""

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from aiokafka import ConsumerRecord
from faststream import AckPolicy
from faststream.kafka import KafkaBroker, KafkaMessage
from pydantic import TypeAdapter
from sqlalchemy.exc import InterfaceError, OperationalError

from shared.dead_letters import DeadLetters
from shared.events.decoding import InvalidEvent, decode
from shared.events.envelope import Envelope
from shared.logs import bound_to_event, get_logger
from shared.metrics import Metrics
from shared.relay import OutboxRelay
from shared.store import Store, Transaction
from shared.topics import Topic

log = get_logger(__name__)

Apply = Callable[[Transaction, Any], Awaitable[None]]
# Optional: applies a whole batch's new events (deduplicated, in order) at once, so a handler can
# load and save state for all of them in a few statements. Must mean the same as `Apply` on each.
ApplyBatch = Callable[[Transaction, list[Any]], Awaitable[None]]

ATTEMPTS = 3
STORE_UNAVAILABLE = (OperationalError, InterfaceError)


class EventIntake:
    """Takes one topic's events into a service: decode, deduplicate, apply, emit."""

    def __init__(
        self,
        topic: Topic,
        events: TypeAdapter,
        apply: Apply,
        *,
        store: Store,
        relay: OutboxRelay,
        dead_letters: DeadLetters,
        metrics: Metrics,
        apply_batch: ApplyBatch | None = None,
    ) -> None:
        self.topic = topic
        self.events = events
        self._apply = apply
        self._apply_batch = apply_batch
        self._store = store
        self._relay = relay
        self._dead_letters = dead_letters
        self._metrics = metrics
        self.applied = 0
        self.duplicates = 0

    async def take(self, records: Sequence[ConsumerRecord]) -> None:
        readable = [pair async for pair in self._readable(records)]
        try:
            async with self._store.transaction() as tx:
                if self._apply_batch is None:
                    for _, event in readable:
                        await self._apply_once(tx, event)
                else:
                    await self._apply_all_once(tx, [event for _, event in readable])
                emitted = tx.emitted
        except STORE_UNAVAILABLE:
            await asyncio.sleep(1)  # let the store recover before Kafka redelivers the batch
            raise
        except Exception:
            log.warning("batch failed; applying its events one by one", exc_info=True, size=len(readable))
            emitted = 0
            for record, event in readable:
                emitted += await self._apply_alone(record, event)
        if emitted:
            self._relay.wake()

    async def _readable(self, records: Sequence[ConsumerRecord]):  # noqa: ANN202 - async generator of pairs
        for record in records:
            try:
                yield record, decode(self.events, record.value)
            except InvalidEvent as refusal:
                await self._dead_letters.send(record, refusal.reason, refusal.detail)

    async def _apply_once(self, tx: Transaction, event: Envelope) -> None:
        with bound_to_event(event):
            if await tx.first_time(event.id):
                started = time.perf_counter()
                await self._apply(tx, event)
                self._metrics.handler_seconds.labels(self.topic.name).observe(time.perf_counter() - started)
                self._metrics.consumed.labels(self.topic.name, event.type).inc()
                self.applied += 1
            else:
                self._metrics.duplicates.labels(self.topic.name).inc()
                self.duplicates += 1
                log.info("duplicate event skipped")

    async def _apply_all_once(self, tx: Transaction, events: list[Envelope]) -> None:
        """The batch's new events through `apply_batch`; a failure falls back to `apply`, one by one."""
        fresh = await tx.first_times([event.id for event in events])
        new = []
        for event in events:
            if event.id in fresh:
                fresh.discard(event.id)  # a second copy inside the batch is a duplicate as well
                new.append(event)
            else:
                self._metrics.duplicates.labels(self.topic.name).inc()
                self.duplicates += 1
                with bound_to_event(event):
                    log.info("duplicate event skipped")
        if not new:
            return
        started = time.perf_counter()
        await self._apply_batch(tx, new)
        each = (time.perf_counter() - started) / len(new)
        for event in new:
            self._metrics.handler_seconds.labels(self.topic.name).observe(each)
            self._metrics.consumed.labels(self.topic.name, event.type).inc()
        self.applied += len(new)

    async def _apply_alone(self, record: ConsumerRecord, event: Envelope) -> int:
        """Retry one event in its own transaction; dead-letter it if the handler keeps failing."""
        for attempt in range(1, ATTEMPTS + 1):
            try:
                async with self._store.transaction() as tx:
                    await self._apply_once(tx, event)
                    return tx.emitted
            except STORE_UNAVAILABLE:
                await asyncio.sleep(1)
                raise
            except Exception as error:
                if attempt == ATTEMPTS:
                    with bound_to_event(event):
                        await self._dead_letters.send(record, "handler_error", f"{type(error).__name__}: {error}")
                    return 0
                await asyncio.sleep(0.05 * 2**attempt)
        return 0

    def subscribe(self, broker: KafkaBroker, group_id: str, max_records: int = 500) -> None:
        """Register the Kafka subscription: batches, offsets committed only after `take` succeeded."""

        async def consume(message: KafkaMessage) -> None:
            await self.take(message.raw_message)

        broker.subscriber(
            self.topic.name,
            group_id=group_id,
            batch=True,
            decoder=_undecoded,
            max_records=max_records,
            ack_policy=AckPolicy.NACK_ON_ERROR,
            auto_offset_reset="earliest",
            title=f"{group_id}:{self.topic.name}",
        )(consume)


async def _undecoded(_message: KafkaMessage) -> tuple[()]:
    """The intake decodes each record's bytes itself (`take`): FastStream's own JSON pass over
    every record of a batch is wasted work (a tenth of a busy service's time)."""
    return ()
