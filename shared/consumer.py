"""How every service consumes a topic: admit, dead-letter what cannot be taken, apply the rest exactly once.

A batch from Kafka is applied in one database transaction (inbox + state + outbox), and only
then is the offset committed. A duplicate event id (per topic) is skipped by the inbox. A record
that cannot be taken — headers that are not UTF-8, too large, not an event of the topic, about
another entity than its key says, stamped in the future — or that the handler keeps failing on,
is dead-lettered so its neighbours are applied and the partition moves on. If the store itself
is unavailable the batch is not committed and Kafka redelivers it.
"""

import asyncio
import contextlib
import dataclasses
import gc
import itertools
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord
from faststream import AckPolicy
from faststream.kafka import KafkaBroker, KafkaMessage
from faststream.kafka.subscriber.usecase import BatchSubscriber
from pydantic import TypeAdapter

from shared.dead_letters import DeadLetters
from shared.events.decoding import InvalidEvent, decode
from shared.events.envelope import Envelope
from shared.logs import bound_to_event, get_logger
from shared.metrics import Metrics
from shared.offsets import OffsetCommits
from shared.store import Store, Transaction, transient
from shared.topics import Topic
from shared.unparsable import UnparsableRecord, install

log = get_logger(__name__)
install()

Apply = Callable[[Transaction, Any], Awaitable[None]]
# Optional: applies a whole batch's new events (deduplicated, in order) at once, so a handler can
# load and save state for all of them in a few statements. Must mean the same as `Apply` on each.
ApplyBatch = Callable[[Transaction, list[Any]], Awaitable[None]]

# A record that can be taken, with its event.
Admitted = tuple[ConsumerRecord, Envelope]

ATTEMPTS = 3
# Every event of the contract is a few KiB at most; reading more than this is work for nothing.
MAX_EVENT_BYTES = 64 * 1024
FETCH_MAX_BYTES = 2 * 1024 * 1024  # records fetched ahead per request, all partitions together


@dataclasses.dataclass
class Tally:
    """What one transaction applied of a topic: events by type, duplicates skipped, the handler's
    seconds per event."""

    applied: Counter[str] = dataclasses.field(default_factory=Counter)
    duplicates: int = 0
    handler_seconds: list[float] = dataclasses.field(default_factory=list)


class EventIntake:
    """Takes one topic's events into a service: decode, deduplicate, apply, emit."""

    def __init__(
        self,
        topic: Topic,
        events: TypeAdapter,
        apply: Apply,
        *,
        store: Store,
        dead_letters: DeadLetters,
        metrics: Metrics,
        apply_batch: ApplyBatch | None = None,
        max_future: timedelta = timedelta(hours=24),
    ) -> None:
        self.topic = topic
        self.events = events
        self._apply = apply
        self._apply_batch = apply_batch
        self.store = store
        self._dead_letters = dead_letters
        self._metrics = metrics
        self._max_future = max_future
        self.applied = 0
        self.duplicates = 0

    async def take(self, records: Sequence[ConsumerRecord]) -> None:
        await self.take_admitted(await self.admitted(records))

    async def take_admitted(self, admitted: list[Admitted]) -> None:
        """Apply the admitted events in a transaction; if it fails for them, one event per transaction."""
        if not await _applied_together(self.store, [(self, admitted)], "batch failed; applying its events one by one"):
            for record, event in admitted:
                await self._apply_alone(record, event)

    async def admitted(self, records: Sequence[ConsumerRecord]) -> list[Admitted]:
        """The records that can be taken, each with its event; the others are dead-lettered."""
        admitted = []
        for record in records:
            try:
                admitted.append((record, self.admit(record)))
            except InvalidEvent as refusal:
                await self._dead_letters.send(record, refusal.reason, refusal.detail)
        return admitted

    async def apply(self, tx: Transaction, admitted: list[Admitted]) -> Tally:
        """Apply the admitted events in `tx`, each once; what it did is `count`ed once `tx` commits."""
        return await self._apply_all_once(tx, [event for _, event in admitted])

    def count(self, tally: Tally) -> None:
        """Count what a committed transaction applied: one rolled back and tried again counts once."""
        handler_seconds = self._metrics.handler_seconds.labels(self.topic.name)
        for seconds in tally.handler_seconds:
            handler_seconds.observe(seconds)
        for event_type, applied in tally.applied.items():
            self._metrics.consumed.labels(self.topic.name, event_type).inc(applied)
        if tally.duplicates:
            self._metrics.duplicates.labels(self.topic.name).inc(tally.duplicates)
        self.applied += tally.applied.total()
        self.duplicates += tally.duplicates

    def admit(self, record: ConsumerRecord) -> Envelope:
        """The record as an event of this topic, or `InvalidEvent` saying why it cannot be taken."""
        if isinstance(record, UnparsableRecord):
            raise InvalidEvent("invalid_header", f"Kafka's record could not be parsed ({record.error}); "
                               "a header name that is not UTF-8 does that")
        _check_headers(record.headers)
        if len(record.value or b"") > MAX_EVENT_BYTES:
            raise InvalidEvent("too_large", f"{len(record.value)} bytes; events are at most {MAX_EVENT_BYTES}")
        event = decode(self.events, record.value)
        self._check_key(record.key, event)
        if event.time > datetime.now(UTC) + self._max_future:
            raise InvalidEvent("time_in_future", f"time is more than {self._max_future} ahead of this service's clock")
        return event

    def _check_key(self, key: bytes | None, event: Envelope) -> None:
        """The record must be keyed by the entity its data is about (the partition orders that
        entity's events), and a subject, when given, must name the same entity."""
        entity = str(getattr(event.data, self.topic.key, ""))
        if key is None or key != entity.encode():
            raise InvalidEvent("key_mismatch", f"the record's key is not the event's {self.topic.key}")
        if event.subject is not None and event.subject != entity:
            raise InvalidEvent("key_mismatch", f"subject is not the event's {self.topic.key}")

    async def _apply_once(self, tx: Transaction, event: Envelope) -> Tally:
        tally = Tally()
        with bound_to_event(event):
            if await tx.first_time(self.topic, event.id):
                started = time.perf_counter()
                await self._apply(tx, event)
                tally.handler_seconds.append(time.perf_counter() - started)
                tally.applied[event.type] += 1
            else:
                tally.duplicates += 1
                log.info("duplicate event skipped")
        return tally

    async def _apply_all_once(self, tx: Transaction, events: list[Envelope]) -> Tally:
        """The batch's new events (one inbox statement for all of them) through `apply_batch`, or
        through `apply` one by one; a failure falls back to `apply`, one event per transaction."""
        tally = Tally()
        fresh = await tx.first_times(self.topic, [event.id for event in events])
        new = []
        for event in events:
            if event.id in fresh:
                fresh.discard(event.id)  # a second copy inside the batch is a duplicate as well
                new.append(event)
            else:
                tally.duplicates += 1
                with bound_to_event(event):
                    log.info("duplicate event skipped")
        if not new:
            return tally
        if self._apply_batch is None:
            for event in new:
                with bound_to_event(event):
                    started = time.perf_counter()
                    await self._apply(tx, event)
                    tally.handler_seconds.append(time.perf_counter() - started)
            tally.applied.update(event.type for event in new)
            return tally
        started = time.perf_counter()
        await self._apply_batch(tx, new)
        tally.handler_seconds += [(time.perf_counter() - started) / len(new)] * len(new)
        tally.applied.update(event.type for event in new)
        return tally

    async def _apply_alone(self, record: ConsumerRecord, event: Envelope) -> None:
        """Retry one event in its own transaction; dead-letter it if the handler keeps failing."""
        for attempt in range(1, ATTEMPTS + 1):
            try:
                async with self.store.transaction() as tx:
                    tally = await self._apply_once(tx, event)
            except Exception as error:
                if transient(error):
                    await asyncio.sleep(1)
                    raise
                if attempt == ATTEMPTS:
                    with bound_to_event(event):
                        await self._dead_letters.send(record, "handler_error", f"{type(error).__name__}: {error}")
                    return
                await asyncio.sleep(0.05 * 2**attempt)
            else:
                self.count(tally)
                return


def subscribe(broker: KafkaBroker, group_id: str, intakes: Sequence[EventIntake], max_records: int = 500,
              between_batches: Callable[[], Awaitable[None]] | None = None) -> None:
    """One Kafka consumer takes every topic of a service, so an instance is one member of its group.
    Each member that joins makes the whole group rebalance (a heartbeat apart, about 3 s each): with
    a consumer per topic, notification's start was four rebalances, each stalling all its topics.
    Batches; a batch's offsets go to Kafka (a moment later) only after every topic's share was taken."""
    intake_of = {intake.topic.name: intake for intake in intakes}
    topics = list(intake_of)

    offsets = OffsetCommits()

    async def consume(message: KafkaMessage) -> None:
        try:
            # Topics are independent inputs: each is taken as a whole, its records in partition order.
            await take_together([(intake_of[topic], records) for topic, records in _by_topic(message.raw_message).items()])
        except Exception:
            await message.nack()  # Kafka hands the batch over again, from its first record
            raise
        offsets.taken(message.consumer, message.raw_message)
        if between_batches:
            await between_batches()  # e.g. the service's relay publishes what this batch emitted

    subscriber = broker.subscriber(
        *topics,
        group_id=group_id,
        batch=True,
        parser=_headers_left_raw,
        decoder=_as_is,
        max_records=max_records,
        # aiokafka fetches ahead up to 50 MB by default: a service catching up on a backlog held
        # that much in records (billing-monitor grew to 182 MB at 100,000). A batch is at most
        # max_records of a few KiB; this keeps a couple of batches ahead.
        fetch_max_bytes=FETCH_MAX_BYTES,
        max_partition_fetch_bytes=FETCH_MAX_BYTES // 4,
        ack_policy=AckPolicy.MANUAL,  # offsets are committed by `offsets`, after the batch's transaction
        listener=offsets,
        auto_offset_reset="earliest",
        # AsyncAPI names a channel "<title>:<topic>" when there are several, the title alone otherwise.
        title=group_id if len(topics) > 1 else f"{group_id}:{topics[0]}",
    )
    subscriber(consume)
    _poll_without_idle_sleep(subscriber)


async def take_together(shares: Sequence[tuple[EventIntake, Sequence[ConsumerRecord]]]) -> None:
    """Each topic's share of a poll, all in one transaction when the store has one writer: a commit
    is an fsync, and notification's polls held three topics (three commits, 3-4 ms each with the loop
    blocked, measured). If that transaction fails, each topic is taken on its own, as with several
    writers, where one transaction holding several topics' row locks could deadlock another's."""
    if len(shares) < 2 or not shares[0][0].store.single_writer:
        for intake, records in shares:
            await intake.take(records)
        return
    admitted = [(intake, await intake.admitted(records)) for intake, records in shares]
    if not await _applied_together(shares[0][0].store, admitted, "batch of several topics failed; taking each on its own"):
        for intake, events in admitted:
            await intake.take_admitted(events)


async def _applied_together(store: Store, shares: list[tuple[EventIntake, list[Admitted]]], fallback: str) -> bool:
    """Apply each intake's admitted events in one transaction, counted once it commits; False (and
    `fallback` logged) if it failed for those events. A store away or busy is raised: Kafka hands the
    batch over again once it is back."""
    try:
        with _collector_paused():
            async with store.transaction() as tx:  # its outbox rows go to the relay as it commits
                tallies = [(intake, await intake.apply(tx, events)) for intake, events in shares]
    except Exception as error:
        if transient(error):
            await asyncio.sleep(1)  # let the store recover before Kafka redelivers the batch
            raise
        log.warning(fallback, exc_info=True, size=sum(len(events) for _, events in shares))
        return False
    for intake, tally in tallies:
        intake.count(tally)
    return True


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """No garbage collection while a batch is applied. Its objects (events, rows, states) live until
    it commits, and CPython's collector, run every 700 new objects, walked them again and again:
    339 runs, 0.2-0.26 s of contract-state's 1.2-1.5 s of CPU for a pause of 10,000 contracts
    (measured). Reference counting still frees what a batch drops, and a batch leaves no cycles for
    the collector (measured: none after ten batches of each service's main input); what other tasks
    leave meanwhile (on PostgreSQL, which awaits the network) waits for the first collection after."""
    if not gc.isenabled():  # already paused (nested) or turned off by whoever runs the service
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _by_topic(records: Sequence[ConsumerRecord]) -> dict[str, list[ConsumerRecord]]:
    grouped: dict[str, list[ConsumerRecord]] = {}
    for record in records:
        grouped.setdefault(record.topic, []).append(record)
    return grouped


# How long one poll of an idle partition waits; a record arriving meanwhile ends it at once.
IDLE_POLL_MS = 1000


def _poll_without_idle_sleep(subscriber: BatchSubscriber) -> None:
    """FastStream 0.7.8's batch subscriber sleeps `batch_timeout_ms` (200 ms by default) after every
    empty poll, so a record arriving on an idle service waited up to that long before its poll even
    began. Poll instead with a long wait that returns as soon as a record has been fetched."""
    if not isinstance(subscriber, BatchSubscriber):
        raise TypeError(f"expected FastStream's BatchSubscriber, got {type(subscriber).__name__}")

    async def get_msg(consumer: AIOKafkaConsumer) -> tuple[ConsumerRecord, ...]:
        batches = await consumer.getmany(timeout_ms=IDLE_POLL_MS, max_records=subscriber.max_records)
        return tuple(itertools.chain.from_iterable(batches.values()))

    subscriber.get_msg = get_msg


def _check_headers(headers: Sequence[tuple[str, bytes | None]]) -> None:
    # Which header is said by position: its name is the sender's text, and logs show the reason.
    for position, (_name, value) in enumerate(headers, start=1):
        if value is None:
            raise InvalidEvent("invalid_header", f"header #{position} has no value")
        try:
            value.decode()
        except UnicodeDecodeError:
            raise InvalidEvent("invalid_header", f"header #{position}'s value is not UTF-8") from None


async def _headers_left_raw(
    records: tuple[ConsumerRecord, ...], parse: Callable[[tuple[ConsumerRecord, ...]], Awaitable[KafkaMessage]]
) -> KafkaMessage:
    """FastStream decodes every header of a batch as UTF-8 and loses the whole batch on one bad
    value. It gets the first and last records (what it names the message by) without headers; the
    handler gets them all, and the intake judges the real headers record by record. (Copying every
    record without its headers cost 20 µs a record: 0.2 s of notification's share of a 10,000 fan-out.)"""
    ends = (records[0], records[-1]) if len(records) > 1 else records
    message = await parse(tuple(dataclasses.replace(record, headers=()) for record in ends))
    message.raw_message = records
    return message


async def _as_is(message: KafkaMessage) -> KafkaMessage:
    """The handler gets the batch as FastStream received it; the intake decodes each record's bytes
    itself (`take`): FastStream's own JSON pass over every record of a batch is wasted work (a
    tenth of a busy service's time)."""
    return message
