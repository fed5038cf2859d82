"""Building single hostile records between valid neighbours, and waiting until every record of a
case is accounted for (applied by each consuming service, or dead-lettered with its reason)."""

import asyncio
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from benchmarks.hostile_events import CONSUMERS, key_field, rfc3339
from benchmarks.hostile_inputs import Input, canary, encode
from benchmarks.hostile_ledger import DeadLetterReader, Ledger, account, lag_of, publish_inputs
from shared.service import Service


def run_id(label: str) -> str:
    return f"{label}-{uuid.uuid4().hex[:8]}"


def neighbours(topic: str, key: str, count: int, run: str, start: int = 0) -> list[Input]:
    """Valid events keyed `key` (so on the bad record's partition)."""
    return [canary(topic, key, start + n, run) for n in range(count)]


def event_of(topic: str, key: str, event_type: str, data: dict[str, Any], **envelope: Any) -> dict[str, Any]:
    """A valid event (as JSON) of `event_type` keyed `key`, to be broken by the test."""
    event = {"specversion": "1.0", "id": f"bad-{uuid.uuid4().hex}", "type": event_type, "source": "hostile-test",
             "time": rfc3339(datetime.now(UTC) - timedelta(minutes=5)), "subject": key,
             "data": {key_field(topic): key, **data}}
    return event | envelope


def payment_failed(client: str, **data: Any) -> dict[str, Any]:
    return event_of("billing.events", client, "billing.payment_failed",
                    {"payment_method_id": "pm-1", "attempt": 1} | data)


def bad(topic: str, value: bytes | dict | None, reason: str | set[str], *, key: bytes | None | str = "data",
        headers: Sequence[tuple[str, bytes | None]] = (), note: str = "") -> Input:
    """A record that must be dead-lettered with `reason` (or one of several)."""
    event = value if isinstance(value, dict) else None
    raw = encode(value) if isinstance(value, dict) else value
    if key == "data":
        key = str(value["data"][key_field(topic)]).encode() if isinstance(value, dict) else b"no-key"
    event_id = event.get("id") if event and isinstance(event.get("id"), str) else None
    reasons = frozenset({reason} if isinstance(reason, str) else reason)
    return Input(topic, "single", key, raw, tuple(headers), event_id, reasons, False, note=note)


def sandwiched(topic: str, key: str, record: Input, before: int = 3, after: int = 3) -> list[Input]:
    """`before` valid events, the bad record, `after` valid events: one key, so one partition and
    (published together) one batch."""
    run = run_id("n")
    return [*neighbours(topic, key, before, run), record, *neighbours(topic, key, after, run, start=before)]


async def through(services: dict[str, Service], inputs: Sequence[Input], timeout: float = 45) -> Ledger:
    """Publish the records and wait until each is applied or dead-lettered by every group that
    consumes its topic; fail if any is lost, dead-lettered for a wrong reason, or wrongly applied,
    or if a partition it went to is left behind."""
    bootstrap = next(iter(services.values())).settings.kafka_bootstrap_servers
    topics = {item.topic for item in inputs}
    async with DeadLetterReader.opened(bootstrap, topics) as letters:
        sent = await publish_inputs(bootstrap, inputs)
        deadline = time.monotonic() + timeout
        while True:
            ledger = await account(sent, services, letters)
            if not ledger.lost or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.3)
    assert not ledger.lost, "records neither applied nor dead-lettered:\n" + ledger.explain(ledger.lost)
    assert not ledger.wrong, "records with the wrong fate:\n" + ledger.explain(ledger.wrong)
    partitions = {(group, s.input.topic, s.partition) for s in sent for group in CONSUMERS[s.input.topic]
                  if group in services}
    await until_caught_up(services, partitions)
    return ledger


async def until_caught_up(services: dict[str, Service], partitions: set[tuple[str, str, int]],
                          timeout: float = 30) -> None:
    """The groups committed past every record on these partitions: nothing stalls them."""
    deadline = time.monotonic() + timeout
    while True:
        lag = await lag_of(services.values())
        behind = {where: lag[where] for where in partitions if lag.get(where)}
        if not behind:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"partitions still behind after {timeout}s: {behind}")
        await asyncio.sleep(0.3)
