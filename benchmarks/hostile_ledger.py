"""Where every hostile record went (issue 9): publish records, then account for each one per consumer
group — applied (its id is in the group's inbox for the topic), dead-lettered (a `<topic>.dlq`
record names its source partition and offset), or lost (neither). Shared by the hostile tests and
benchmarks.hostile; works on services running in this process.
"""

import asyncio
import hashlib
import time
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from sqlalchemy import select

from benchmarks.hostile_events import CONSUMERS
from benchmarks.hostile_inputs import REASONS, Input
from shared.metrics import group_lag
from shared.service import Service
from shared.store import inbox
from shared.topics import partitions_of

MAX_REQUEST_BYTES = 2 * 1024 * 1024  # room for a record just under 1 MiB


@dataclass(frozen=True)
class Sent:
    input: Input
    partition: int
    offset: int


@dataclass(frozen=True)
class DeadLetter:
    record: ConsumerRecord
    headers: dict[str, bytes | None]

    def header(self, name: str) -> str | None:
        value = self.headers.get(name)
        return value.decode("utf-8", "replace") if value is not None else None

    @property
    def reason(self) -> str | None:
        return self.header("x-dlq-reason")

    @property
    def source(self) -> tuple[str | None, int, int, str | None]:
        """(source topic, partition, offset, consumer group)."""
        return (self.header("x-dlq-source-topic"), int(self.header("x-dlq-source-partition") or -1),
                int(self.header("x-dlq-source-offset") or -1), self.header("x-dlq-consumer-group"))


@asynccontextmanager
async def hostile_producer(bootstrap: str, **options: object) -> AsyncIterator[AIOKafkaProducer]:
    client = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=5,
                              max_request_size=MAX_REQUEST_BYTES, **options)
    await client.start()
    try:
        yield client
    finally:
        await client.stop()


async def publish_inputs(bootstrap: str, inputs: Sequence[Input]) -> list[Sent]:
    """Publish in order (records of one key keep their order) and wait for every ack."""
    async with hostile_producer(bootstrap) as client:
        futures = [
            await client.send(item.topic, item.value, key=item.key, headers=list(item.headers)) for item in inputs
        ]
        metadata = await asyncio.gather(*futures)
    return [Sent(item, meta.partition, meta.offset) for item, meta in zip(inputs, metadata, strict=True)]


class DeadLetterReader:
    """Reads dead-letter topics from the moment it was opened up to their current end."""

    def __init__(self, consumer: AIOKafkaConsumer, partitions: list[TopicPartition]) -> None:
        self._consumer = consumer
        self._partitions = partitions
        self.letters: list[DeadLetter] = []

    @classmethod
    @asynccontextmanager
    async def opened(cls, bootstrap: str, topics: Iterable[str]) -> AsyncIterator["DeadLetterReader"]:
        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                                    max_partition_fetch_bytes=MAX_REQUEST_BYTES)
        await consumer.start()
        try:
            partitions = [TopicPartition(f"{name}.dlq", p) for name in topics
                          for p in await partitions_of(bootstrap, f"{name}.dlq")]
            consumer.assign(partitions)
            for partition, offset in (await consumer.end_offsets(partitions)).items():
                consumer.seek(partition, offset)
            yield cls(consumer, partitions)
        finally:
            await consumer.stop()

    async def read_to_end(self, timeout: float = 30) -> list[DeadLetter]:
        """Everything written to the topics up to now."""
        ends = await self._consumer.end_offsets(self._partitions)
        deadline = time.monotonic() + timeout
        while [p for p, end in ends.items() if await self._position(p) < end]:
            if time.monotonic() > deadline:
                raise AssertionError("dead-letter topics could not be read to their end")
            batches = await self._consumer.getmany(timeout_ms=200)
            for records in batches.values():
                self.letters.extend(DeadLetter(r, dict(r.headers)) for r in records)
        return self.letters

    async def _position(self, partition: TopicPartition) -> int:
        return await self._consumer.position(partition)

    def of(self, sent: Sent, group: str) -> list[DeadLetter]:
        """The dead letters a group wrote for one published record."""
        wanted = (sent.input.topic, sent.partition, sent.offset, group)
        return [letter for letter in self.letters if letter.source == wanted]


async def applied_ids(service: Service, topic: str) -> set[str]:
    """The ids of `topic` the service recorded in its inbox (applied, or skipped as duplicates)."""
    async with service.store.reading() as connection:
        rows = await connection.execute(select(inbox.c.event_id).where(inbox.c.topic == topic))
        return set(rows.scalars())


async def lag_of(services: Iterable[Service]) -> dict[tuple[str, str, int], int]:
    """Per (group, topic, partition): records not yet committed."""
    lags = {}
    for service in services:
        topics = [intake.topic.name for intake in service.intakes]
        settings = service.settings
        found = await group_lag(settings.kafka_bootstrap_servers, service.name, topics, **settings.kafka_client_options())
        lags |= {(service.name, tp.topic, tp.partition): behind for tp, behind in found.items()}
    return lags


async def drained(services: Sequence[Service], timeout: float) -> dict[tuple[str, str, int], int]:
    """Wait until every group committed everything on every partition; returns what is still
    behind when the time is up (blocked partitions), empty when drained."""
    deadline = time.monotonic() + timeout
    while True:
        behind = {where: lag for where, lag in (await lag_of(services)).items() if lag}
        if not behind or time.monotonic() > deadline:
            return behind
        await asyncio.sleep(0.5)


def deaths(service: Service) -> list[str]:
    """Tasks of a running service that ended (consumer loops, the relay, background work)."""
    dead = []
    for subscriber in service.broker.subscribers:
        for task in getattr(subscriber, "tasks", []):
            if task.done():
                dead.append(f"{service.name}: consumer task of {getattr(subscriber, 'topics', '?')} ended")
        if not getattr(subscriber, "running", True):
            dead.append(f"{service.name}: subscriber {getattr(subscriber, 'topics', '?')} stopped")
    relay_task = getattr(service.relay, "_task", None)
    if relay_task is None or relay_task.done():
        dead.append(f"{service.name}: outbox relay ended")
    for task in getattr(service, "_background_tasks", []):
        if task.done():
            dead.append(f"{service.name}: background task {task.get_name()} ended")
    return dead


@dataclass
class Verdict:
    sent: Sent
    group: str
    outcome: str  # "applied", "dead_lettered" or "lost"
    reasons: tuple[str, ...] = ()
    wrong: str | None = None  # what is wrong about the outcome, if anything
    letters: tuple[DeadLetter, ...] = ()


@dataclass
class Ledger:
    verdicts: list[Verdict] = field(default_factory=list)

    def by_category(self) -> dict[str, Counter]:
        table: dict[str, Counter] = defaultdict(Counter)
        for verdict in self.verdicts:
            row = table[verdict.sent.input.category]
            row["tried"] += 1
            row[verdict.outcome] += 1
            row["wrong"] += verdict.wrong is not None
        return dict(table)

    def of(self, item: Input) -> list[Verdict]:
        """The verdicts on one input, one per consuming group."""
        return [v for v in self.verdicts if v.sent.input is item]

    def reasons(self) -> Counter:
        return Counter(reason for v in self.verdicts for reason in v.reasons)

    @property
    def lost(self) -> list[Verdict]:
        return [v for v in self.verdicts if v.outcome == "lost"]

    @property
    def wrong(self) -> list[Verdict]:
        return [v for v in self.verdicts if v.wrong is not None]

    def explain(self, verdicts: Iterable[Verdict], limit: int = 15) -> str:
        lines = []
        for v in list(verdicts)[:limit]:
            item = v.sent.input
            lines.append(f"  {v.group} {item.topic}[{v.sent.partition}]@{v.sent.offset} {item.category} "
                         f"({item.note or item.category}): {v.outcome} {list(v.reasons)} — {v.wrong or ''} "
                         f"value={item.value[:160]!r} key={item.key!r} headers={item.headers!r}")
        return "\n".join(lines)


async def account(sent: Sequence[Sent], services: dict[str, Service], letters: DeadLetterReader) -> Ledger:
    """The verdict on every published record for every group that consumes its topic."""
    await letters.read_to_end()
    by_source: dict[tuple, list[DeadLetter]] = defaultdict(list)
    for letter in letters.letters:
        by_source[letter.source].append(letter)
    inboxes: dict[tuple[str, str], set[str]] = {}
    ledger = Ledger()
    for item in sent:
        for group in CONSUMERS[item.input.topic]:
            if group not in services:
                continue
            if (group, item.input.topic) not in inboxes:
                inboxes[group, item.input.topic] = await applied_ids(services[group], item.input.topic)
            parked = by_source.get((item.input.topic, item.partition, item.offset, group), [])
            reasons = tuple(sorted({letter.reason or "?" for letter in parked}))
            event_id = item.input.event_id
            applied = event_id is not None and (event_id in inboxes[group, item.input.topic]
                                                or event_id.strip() in inboxes[group, item.input.topic])
            ledger.verdicts.append(_judge(item, group, parked, reasons, applied))
    return ledger


def _judge(item: Sent, group: str, parked: list[DeadLetter], reasons: tuple[str, ...], applied: bool) -> Verdict:
    made = item.input
    if parked:
        wrong = None
        if len(set(reasons)) != 1 or reasons[0] not in REASONS:
            wrong = f"dead-letter reasons {reasons}"
        elif made.reasons and reasons[0] not in made.reasons:
            wrong = f"reason {reasons[0]}, expected one of {sorted(made.reasons)}"
        elif not made.reasons:
            wrong = f"a valid record was dead-lettered ({reasons[0]}: {parked[0].header('x-dlq-error')})"
        if wrong is None and not _faithful(parked[0], made):
            wrong = "the dead letter is not the original record (nor a marked truncated copy)"
        return Verdict(item, group, "dead_lettered", reasons, wrong, tuple(parked))
    if applied:
        return Verdict(item, group, "applied", (), None if made.may_apply else "a broken record was applied")
    return Verdict(item, group, "lost", (), "neither applied nor dead-lettered")


def _faithful(letter: DeadLetter, made: Input) -> bool:
    if letter.header("x-dlq-truncated") == "true":
        value, key = made.value or b"", made.key or b""
        return (letter.header("x-dlq-original-size") == str(len(value))
                and letter.header("x-dlq-original-sha256") == hashlib.sha256(value).hexdigest()
                and value.startswith(letter.record.value or b"") and key.startswith(letter.record.key or b""))
    return (letter.record.value or b"") == (made.value or b"") and letter.record.key == made.key
