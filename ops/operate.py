"""Operator and integrator commands: publish events from flags, show a contract, tail topics."""

import json
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition

from ops.timeline import Filter, summary
from shared.events import billing, contracts, support, time_entries
from shared.events.envelope import Envelope
from shared.topics import (
    BILLING_EVENTS, CONTRACT_COMMANDS, CONTRACT_EVENTS, MAIN_TOPICS, SUPPORT_REQUESTS, TIME_ENTRIES_SUBMITTED,
    Topic, partitions_of,
)

BILLING_TYPES = {cls.event_type().removeprefix("billing."): cls for cls in (
    billing.PaymentFailed, billing.PaymentSucceeded, billing.PaymentMethodExpired, billing.PaymentMethodRemoved,
    billing.PaymentMethodUpdated, billing.AccountSuspended, billing.AccountReinstated, billing.ChargebackOpened,
    billing.ChargebackClosed,
)}
COMMAND_TYPES = {cls.event_type().removeprefix("contract."): cls for cls in (
    contracts.OpenContract, contracts.PauseContract, contracts.ResumeContract, contracts.EndContract,
)}

# What the marketplace apps write when a party presses Get Support; the id field each one names itself by.
SUPPORT_TYPES = {cls.event_type().removeprefix("support."): (cls, id_field) for cls, id_field in (
    (support.SupportRequested, "request_id"), (support.CircumventionReported, "report_id"),
)}


def billing_event(kind: str, fields: dict[str, Any], source: str = "contract-pause-cli") -> Envelope:
    event_class = BILLING_TYPES[kind]
    return event_class.new(event_class.model_fields["data"].annotation(**fields), source=source, time=_now())


def contract_command(kind: str, fields: dict[str, Any], source: str = "contract-pause-cli") -> Envelope:
    event_class = COMMAND_TYPES[kind]
    return event_class.new(event_class.model_fields["data"].annotation(**fields), source=source, time=_now())


def time_entry(fields: dict[str, Any], source: str = "contract-pause-cli") -> Envelope:
    data = time_entries.TimeEntrySubmittedData(**{"entry_id": f"entry-{uuid.uuid4().hex[:8]}", **fields})
    return time_entries.TimeEntrySubmitted.new(data, source=source, time=_now())


def support_event(kind: str, fields: dict[str, Any], source: str = "contract-pause-cli") -> Envelope:
    """A Get Support press; a request or report id is made up when none is given."""
    event_class, id_field = SUPPORT_TYPES[kind]
    data = event_class.model_fields["data"].annotation(**{id_field: f"{id_field[:-3]}-{uuid.uuid4().hex[:8]}", **fields})
    return event_class.new(data, source=source, time=_now())


async def publish(bootstrap: str, topic: Topic, event: Envelope) -> None:
    await partitions_of(bootstrap, topic.name)  # a clear error rather than a producer waiting for metadata
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        key = str(getattr(event.data, topic.key)).encode()
        await producer.send_and_wait(topic.name, event.to_json(), key=key)
    finally:
        await producer.stop()


TOPIC_OF = {
    "billing": BILLING_EVENTS, "command": CONTRACT_COMMANDS, "time-entry": TIME_ENTRIES_SUBMITTED,
    "support": SUPPORT_REQUESTS,
}


async def read(
    bootstrap: str, topics: Sequence[str], *, from_beginning: bool, follow: bool
) -> AsyncIterator[tuple[ConsumerRecord, dict[str, Any] | None]]:
    """Records of `topics` in arrival order, with their JSON (None when unreadable). Without
    `follow`, stops at the end offsets seen at the start."""
    partitions = [TopicPartition(t, p) for t in topics for p in await partitions_of(bootstrap, t)]
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest")
    await consumer.start()
    try:
        consumer.assign(partitions)
        ends = await consumer.end_offsets(partitions)
        starts = await consumer.beginning_offsets(partitions) if from_beginning else ends
        for partition, offset in starts.items():
            consumer.seek(partition, offset)
        while follow or any([await consumer.position(p) < ends[p] for p in partitions]):
            batches = await consumer.getmany(timeout_ms=500)
            for record in sorted((r for rs in batches.values() for r in rs), key=lambda r: r.timestamp):
                yield record, parse_event(record.value)
    finally:
        await consumer.stop()


def parse_event(value: bytes | None) -> dict[str, Any] | None:
    try:
        parsed = json.loads(value or b"")
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) and isinstance(parsed.get("data"), dict) else None


def line(record: ConsumerRecord, event: dict[str, Any] | None) -> str:
    stamp = datetime.fromtimestamp(record.timestamp / 1000, UTC).strftime("%H:%M:%S.%f")[:-3]
    what = summary(event) if event else f"unreadable message ({len(record.value or b'')} bytes)"
    return f"{stamp}  {record.topic:<24} {what}"


async def tail(bootstrap: str, topics: Sequence[str], where: Filter, *, from_beginning: bool, follow: bool) -> None:
    async for record, event in read(bootstrap, topics, from_beginning=from_beginning, follow=follow):
        # an unreadable record is shown unless a filter asked for one entity: it cannot be about it
        if (event is None and not where.narrows) or (event is not None and where.keeps(event)):
            print(line(record, event), flush=True)


async def contract_status(bootstrap: str, contract_id: str) -> dict[str, Any] | None:
    """The newest snapshot of a contract on contracts.events (highest version wins)."""
    latest: dict[str, Any] | None = None
    async for _, event in read(bootstrap, [CONTRACT_EVENTS.name], from_beginning=True, follow=False):
        data = (event or {}).get("data") or {}
        if data.get("contract_id") == contract_id and "version" in data:
            if latest is None or data["version"] > latest["version"]:
                latest = data
    return latest


def all_topic_names() -> list[str]:
    return [topic.name for topic in MAIN_TOPICS]


def _now() -> datetime:
    return datetime.now(UTC)
