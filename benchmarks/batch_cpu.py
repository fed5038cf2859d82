"""CPU each service spends on a batch of its main input, beside the bare cost of taking it exactly once.

    python -m benchmarks.batch_cpu [--sizes 1,10,100] [--inputs 2000]

In this process, without Kafka: each service's intake (`EventIntake.take`, the code a batch from
Kafka goes through: admit, inbox, the handler, outbox, commit) takes `--inputs` records in batches
of k, on a SQLite store in a scratch folder (WAL, synchronous=FULL, as in production). The
figure is CPU time (`time.process_time`), not wall time: on a shared machine, wall time is mostly
waiting for a core, and at 200 inputs/s a service's batches hold a few records each, so what one
batch costs is what queues every input behind it.

- billing-monitor: `billing.payment_failed`, one client each;
- contract-state: `billing.problem_opened` of clients with one open contract each (one pause each);
- time-tracking: `time_entry.submitted` on known hourly contracts, and `contract.paused` of them
  (what the time gate learns);
- notification: `contract.paused` of known contracts (one freelancer notice each).

Baseline, same records, same run: decode each value with `json.loads`, then one sqlite3 transaction
that records every event id in an inbox table and queues the value in an outbox table (the same
pragmas): the least a consumer does to apply a batch exactly once and publish what it caused.
"""

import argparse
import asyncio
import contextlib
import gc
import json
import sqlite3
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from types import ModuleType
from datetime import UTC, datetime, timedelta
from pathlib import Path

from aiokafka.structs import ConsumerRecord

from benchmarks.common import load_average
from services.billing_monitor import app as billing_monitor
from services.contract_state import app as contract_state
from services.notification import app as notification
from services.time_tracking import app as time_tracking
from shared.events.billing import PaymentFailed, PaymentFailedData, ProblemOpened, ProblemOpenedData
from shared.events.contracts import ContractOpened, ContractPaused, ContractSnapshot, OpenContract, OpenContractData
from shared.events.envelope import Envelope
from shared.events.time_entries import TimeEntrySubmitted, TimeEntrySubmittedData
from shared.logs import configure_logging
from shared.service import Service
from shared.topics import BILLING_EVENTS, BILLING_PROBLEMS, CONTRACT_COMMANDS, CONTRACT_EVENTS, TIME_ENTRIES_SUBMITTED, Topic

SETUP_BATCH = 500
WARM_UP_BATCHES = 2  # not timed: the first batch of a size compiles its statements


@dataclass(frozen=True)
class Case:
    """A service, what it must know first (topic, events), and its measured input (topic, events)."""

    service: str
    app: ModuleType  # the service's `app` module: its Settings and build
    setup: Callable[[int, datetime], list[tuple[Topic, Envelope]]]
    input_topic: Topic
    inputs: Callable[[int, datetime], list[Envelope]]


def _snapshot(index: int, status: str, version: int, at: datetime) -> ContractSnapshot:
    return ContractSnapshot(contract_id=f"k-{index}", client_id=f"c-{index}", freelancer_id=f"f-{index}",
                            kind="hourly", status=status, holds=["platform"] if status == "paused" else [],
                            version=version, changed_at=at)


def _payment_failures(count: int, at: datetime) -> list[Envelope]:
    return [PaymentFailed.new(PaymentFailedData(client_id=f"c-{n}", payment_method_id="pm-1", attempt=1,
                                                decline_code="insufficient_funds", amount_due=49.9),
                              source="benchmark", time=at) for n in range(count)]


def _openings(count: int, at: datetime) -> list[tuple[Topic, Envelope]]:
    return [(CONTRACT_COMMANDS, OpenContract.new(OpenContractData(contract_id=f"k-{n}", client_id=f"c-{n}",
                                                                  freelancer_id=f"f-{n}", kind="hourly"),
                                                 source="benchmark", time=at)) for n in range(count)]


def _problems(count: int, at: datetime) -> list[Envelope]:
    return [ProblemOpened.new(ProblemOpenedData(client_id=f"c-{n}", kind="payment_failed", detail="card declined",
                                                opened_at=at, open_problems=["payment_failed"]),
                              source="benchmark", time=at) for n in range(count)]


def _opened(count: int, at: datetime) -> list[tuple[Topic, Envelope]]:
    return [(CONTRACT_EVENTS, ContractOpened.new(_snapshot(n, "active", 1, at), source="benchmark", time=at))
            for n in range(count)]


def _submissions(count: int, at: datetime) -> list[Envelope]:
    return [TimeEntrySubmitted.new(TimeEntrySubmittedData(entry_id=f"e-{n}", contract_id=f"k-{n}", freelancer_id=f"f-{n}",
                                                          started_at=at, ended_at=at + timedelta(minutes=25),
                                                          source="tracker"),
                                   source="benchmark", time=at + timedelta(minutes=25)) for n in range(count)]


def _pauses(count: int, at: datetime) -> list[Envelope]:
    return [ContractPaused.new(_snapshot(n, "paused", 2, at), source="benchmark", time=at) for n in range(count)]


def _nothing(_count: int, _at: datetime) -> list[tuple[Topic, Envelope]]:
    return []


CASES = (
    Case("billing-monitor", billing_monitor, _nothing, BILLING_EVENTS, _payment_failures),
    Case("contract-state", contract_state, _openings, BILLING_PROBLEMS, _problems),
    Case("time-tracking", time_tracking, _opened, TIME_ENTRIES_SUBMITTED, _submissions),
    Case("time-tracking", time_tracking, _opened, CONTRACT_EVENTS, _pauses),
    Case("notification", notification, _opened, CONTRACT_EVENTS, _pauses),
)


def _service(case: Case, folder: Path) -> Service:
    settings = case.app.Settings(service_name=f"{case.service}-batch-cpu", kafka_bootstrap_servers="127.0.0.1:9",
                                 database_url=f"sqlite:///{folder / case.service}.db", http_api=False)
    return case.app.build(settings)


def record(topic: Topic, event: Envelope, offset: int) -> ConsumerRecord:
    """The event as the service's consumer hands it over: keyed by its entity, as DESIGN.md says."""
    key, value = str(getattr(event.data, topic.key)).encode(), event.to_json()
    return ConsumerRecord(topic.name, 0, offset, 0, 0, key, value, None, len(key), len(value), [])


@contextlib.contextmanager
def collected_as_in_a_service() -> Iterator[None]:
    """What exists before the timing is kept out of the collector's walk, as a service process does
    once started (`shared.service`): otherwise a full collection over every module (0.1 s) lands in
    some runs' measured batches and not in others'."""
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def batches(records: Sequence[ConsumerRecord], size: int) -> list[Sequence[ConsumerRecord]]:
    return [records[start:start + size] for start in range(0, len(records), size)]


async def service_cpu(case: Case, size: int, count: int, folder: Path) -> float:
    """CPU seconds per batch of `size` through the service's intake."""
    service = _service(case, folder)
    await service.store.open([intake.topic for intake in service.intakes])
    intakes = {intake.topic.name: intake for intake in service.intakes}
    at = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    try:
        known = case.setup(count, at)
        for chunk in batches([record(topic, event, n) for n, (topic, event) in enumerate(known)], SETUP_BATCH):
            await intakes[chunk[0].topic].take(chunk)
        intake = intakes[case.input_topic.name]
        applied_before = intake.applied
        measured = batches([record(case.input_topic, event, n) for n, event in enumerate(case.inputs(count, at))], size)
        for chunk in measured[:WARM_UP_BATCHES]:
            await intake.take(chunk)
        with collected_as_in_a_service():
            started = time.process_time()
            for chunk in measured[WARM_UP_BATCHES:]:
                await intake.take(chunk)
            spent = time.process_time() - started
        if intake.applied - applied_before != count:  # none dead-lettered, none taken for a duplicate
            raise AssertionError(f"{case.service} applied {intake.applied - applied_before} of {count} inputs")
        return spent / (len(measured) - WARM_UP_BATCHES)
    finally:
        await service.store.close()


def bare_cpu(case: Case, size: int, count: int, folder: Path) -> float:
    """CPU seconds per batch of `size` for the least that takes a batch exactly once (module docstring)."""
    connection = sqlite3.connect(folder / f"bare-{case.service}-{size}.db")
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=FULL")
    connection.execute("CREATE TABLE inbox (topic TEXT, event_id TEXT, received_at TEXT, PRIMARY KEY (topic, event_id))")
    connection.execute("CREATE TABLE outbox (seq INTEGER PRIMARY KEY, event_id TEXT UNIQUE, topic TEXT, key TEXT, "
                       "payload BLOB, created_at TEXT)")
    at = datetime.now(UTC) - timedelta(hours=1)
    measured = batches([record(case.input_topic, event, n) for n, event in enumerate(case.inputs(count, at))], size)

    def take(chunk: Sequence[ConsumerRecord]) -> None:
        events = [json.loads(item.value) for item in chunk]
        now = datetime.now(UTC).isoformat()
        with connection:
            connection.executemany("INSERT INTO inbox VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                                   [(item.topic, event["id"], now) for item, event in zip(chunk, events, strict=True)])
            connection.executemany("INSERT INTO outbox (event_id, topic, key, payload, created_at) VALUES (?, ?, ?, ?, ?)",
                                   [(f"out-{event['id']}", "out", item.key, item.value, now)
                                    for item, event in zip(chunk, events, strict=True)])

    for chunk in measured[:WARM_UP_BATCHES]:
        take(chunk)
    with collected_as_in_a_service():
        started = time.process_time()
        for chunk in measured[WARM_UP_BATCHES:]:
            take(chunk)
        spent = time.process_time() - started
    connection.close()
    return spent / (len(measured) - WARM_UP_BATCHES)


async def benchmark(sizes: Sequence[int], inputs: int) -> dict[tuple[str, str, int], tuple[float, float]]:
    """(service, input topic, k) -> (service CPU seconds per batch, bare CPU seconds per batch); printed as it goes."""
    print(f"CPU per batch, in this process, no Kafka; SQLite WAL, synchronous=FULL; {load_average()}")
    print(f"{'service':16} {'input topic':22} {'k':>4} {'service ms':>11} {'bare ms':>8} {'ratio':>6} {'µs/input':>9}")
    figures = {}
    for case in CASES:
        for size in sizes:
            count = size * max(inputs // size, WARM_UP_BATCHES + 1)
            with tempfile.TemporaryDirectory(prefix="batch-cpu-") as scratch:
                ours = await service_cpu(case, size, count, Path(scratch))
                bare = bare_cpu(case, size, count, Path(scratch))
            figures[case.service, case.input_topic.name, size] = (ours, bare)
            print(f"{case.service:16} {case.input_topic.name:22} {size:>4} {1000 * ours:>11.2f} "
                  f"{1000 * bare:>8.2f} {ours / bare:>6.1f} {1e6 * ours / size:>9.0f}")
    print(load_average())
    return figures


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1,10,100", help="records per batch, comma-separated")
    parser.add_argument("--inputs", type=int, default=2000, help="records per size, in batches of that size")
    options = parser.parse_args()
    configure_logging("batch-cpu", "WARNING", "json")
    sizes = [int(size) for size in options.sizes.split(",")]
    asyncio.run(benchmark(sizes, options.inputs))


if __name__ == "__main__":
    cli()
