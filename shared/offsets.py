"""When a service tells Kafka how far it has got: a moment after its batches are durable, not after each one.

Committing an offset is a round trip to the broker and a write to `__consumer_offsets`. Waited for
after every batch, it held up the next batch on every hop of a pause, and at a few hundred events
a second it was a good part of the broker's work. The offsets of batches whose transaction has
committed are gathered here and committed every `COMMIT_EVERY` seconds, when partitions are about
to be revoked, and when the consumer stops. An offset is still never committed before its batch is
on disk; a crash hands over again at most the last `COMMIT_EVERY` of batches, whose events the
inbox skips as duplicates.
"""

import asyncio
from collections.abc import Sequence

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError
from faststream.kafka.message import FakeConsumer

from shared.logs import get_logger

log = get_logger(__name__)

COMMIT_EVERY = 0.2  # seconds


class OffsetCommits(ConsumerRebalanceListener):
    """The next offset to read of each partition whose batches are durable, until Kafka has it."""

    def __init__(self) -> None:
        self._due: dict[TopicPartition, int] = {}
        self._consumer: AIOKafkaConsumer | None = None
        self._ticking: asyncio.Task | None = None
        self._flushing = asyncio.Lock()  # one commit at a time, so a cancelled one is put back first

    def taken(self, consumer: AIOKafkaConsumer, records: Sequence[ConsumerRecord]) -> None:
        """These records' effects are committed in the store: their offsets may go to Kafka."""
        if isinstance(consumer, FakeConsumer):
            return  # FastStream's in-memory test broker: no offsets to commit
        if consumer is not self._consumer:
            self._follow(consumer)
        for record in records:
            partition = TopicPartition(record.topic, record.partition)
            self._due[partition] = max(self._due.get(partition, 0), record.offset + 1)

    async def flush(self) -> None:
        """Commit what is due on the partitions still held. A refused commit is kept for the next
        turn; offsets of partitions given away are dropped (their new holder reads those records
        again, and its inbox skips them)."""
        async with self._flushing:
            consumer = self._consumer
            if not self._due or consumer is None:
                return
            due, self._due = self._due, {}
            held = consumer.assignment()
            offsets = {partition: offset for partition, offset in due.items() if partition in held}
            if offsets:
                await self._commit(consumer, offsets)

    async def _commit(self, consumer: AIOKafkaConsumer, offsets: dict[TopicPartition, int]) -> None:
        try:
            await consumer.commit(offsets)
        except KafkaError as error:
            self._keep(offsets)
            log.warning("offsets not committed yet; trying again", error=str(error))
        except asyncio.CancelledError:
            self._keep(offsets)  # the stop commits them
            raise

    def _keep(self, offsets: dict[TopicPartition, int]) -> None:
        for partition, offset in offsets.items():
            self._due.setdefault(partition, offset)  # a later batch's offset, if any, is newer

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self.flush()

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        pass

    def _follow(self, consumer: AIOKafkaConsumer) -> None:
        """Commit for this consumer from now on, and once more as it stops: FastStream stops it
        right after its last batch, without a hook in between."""
        self._consumer = consumer
        if self._ticking is None or self._ticking.done():
            self._ticking = asyncio.create_task(self._tick(), name="offset-commits")
        stop = consumer.stop

        async def flush_then_stop() -> None:
            if self._ticking is not None:
                self._ticking.cancel()
            await self.flush()
            await stop()

        consumer.stop = flush_then_stop

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(COMMIT_EVERY)
            await self.flush()
