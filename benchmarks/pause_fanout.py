"""Benchmark (not a test): how fast one failed payment pauses every open contract of a client.

    python -m benchmarks.pause_fanout [--contracts 1000] [--runs 3] [--instances N] [--postgres]

billing-monitor and contract-state run as their own processes (`python -m services.<pkg>`), on
fresh temporary databases, on the broker named by KAFKA_BOOTSTRAP_SERVERS or else on a LocalKafka
this script starts. `--instances N` runs N processes of each in its consumer group, their stores on
a throwaway PostgreSQL (one database per service); `--postgres` puts one instance there too. For each run a new client gets N open contracts (all `contract.opened` read
back first); then one `billing.payment_failed` is published, and the figure is the time from
publishing it to reading the last of the N `contract.paused` on contracts.events.

Baseline, same run, same broker: the very same N `contract.paused` messages produced by a bare
aiokafka producer (the relay's settings: acks=all, idempotent, its linger) to a scratch topic and
read back by a bare consumer. The difference is what the two services add: two consume/commit
hops, billing-monitor's rule, contract-state's fan-out transaction and both outboxes.
"""

import argparse
import asyncio
import contextlib
import json
import statistics
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from aiokafka import AIOKafkaProducer, ConsumerRecord
from aiokafka.admin import AIOKafkaAdminClient

from benchmarks.common import (
    Reader,
    add_instance_options,
    broker,
    fresh_groups,
    groups_settled,
    load_average,
    producing,
    services,
    stores,
    wait_healthy,
)
from shared.events.billing import PaymentFailed, PaymentFailedData
from shared.events.contracts import OpenContract, OpenContractData
from shared.events.envelope import Envelope
from shared.topics import BILLING_EVENTS, BILLING_PROBLEMS, CONTRACT_COMMANDS, CONTRACT_EVENTS, Topic, ensure_topics

SERVICES = ("billing_monitor", "contract_state")


@dataclass
class RunFigures:
    problem_seconds: float  # publish -> billing.problem_opened read (billing-monitor's hop)
    first_paused_seconds: float
    last_paused_seconds: float
    baseline_seconds: float


def of_type(event_type: str, keys: set[bytes]) -> Callable[[ConsumerRecord], bool]:
    return lambda record: record.key in keys and json.loads(record.value)["type"] == event_type


async def publish(producer: AIOKafkaProducer, topic: Topic, events: list[Envelope]) -> None:
    acks = [
        await producer.send(topic.name, event.to_json(), key=str(getattr(event.data, topic.key)).encode())
        for event in events
    ]
    await asyncio.gather(*acks)


def opening(contract_id: str, client_id: str) -> OpenContract:
    data = OpenContractData(contract_id=contract_id, client_id=client_id, freelancer_id=f"fl-{contract_id}", kind="hourly")
    return OpenContract.new(data, source="benchmark", time=datetime.now(UTC))


def payment_failed(client_id: str) -> PaymentFailed:
    data = PaymentFailedData(client_id=client_id, payment_method_id="pm-1", attempt=1,
                             decline_code="insufficient_funds", amount_due=Decimal("49.90"))
    return PaymentFailed.new(data, source="benchmark", time=datetime.now(UTC))


# --- the measurement ---------------------------------------------------------------------------


async def open_contracts(producer: AIOKafkaProducer, events: Reader, client_id: str, count: int) -> list[str]:
    contract_ids = [f"{client_id}-k{n:04}" for n in range(count)]
    await publish(producer, CONTRACT_COMMANDS, [opening(contract_id, client_id) for contract_id in contract_ids])
    await events.until(of_type("contract.opened", {c.encode() for c in contract_ids}), count)
    return contract_ids


async def one_run(producer, events, problems, scratch, contracts) -> RunFigures:
    client_id = f"bench-client-{uuid.uuid4().hex[:8]}"
    contract_ids = await open_contracts(producer, events, client_id, contracts)

    started = time.perf_counter()
    await publish(producer, BILLING_EVENTS, [payment_failed(client_id)])
    (problem_at, _), *_ = await problems.until(of_type("billing.problem_opened", {client_id.encode()}), 1)
    paused = await events.until(of_type("contract.paused", {c.encode() for c in contract_ids}), contracts)
    arrivals = [arrived for arrived, _ in paused]
    baseline = await bare_round_trip(producer, scratch, [record for _, record in paused])
    return RunFigures(problem_at - started, min(arrivals) - started, max(arrivals) - started, baseline)


async def bare_round_trip(producer: AIOKafkaProducer, scratch: Reader, records: list[ConsumerRecord]) -> float:
    """The same messages through a bare producer and a bare consumer reading as they are produced."""
    keys = {record.key for record in records}
    started = time.perf_counter()
    consumed = asyncio.create_task(scratch.until(lambda record: record.key in keys, len(records)))
    acks = [await producer.send(scratch.topic, record.value, key=record.key) for record in records]
    await asyncio.gather(*acks)
    return max(arrived for arrived, _ in await consumed) - started


@contextlib.asynccontextmanager
async def scratch_topic(bootstrap: str) -> AsyncIterator[Topic]:
    """A topic shaped like contracts.events for the baseline, deleted afterwards."""
    scratch = Topic(f"bench.baseline.{uuid.uuid4().hex[:8]}", key="contract_id", partitions=CONTRACT_EVENTS.partitions)
    await ensure_topics(bootstrap, topics=(scratch,))
    try:
        yield scratch
    finally:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        await admin.start()
        try:
            await admin.delete_topics([scratch.name])
        finally:
            await admin.close()


async def benchmark(bootstrap: str, contracts: int, runs: int, instances: int = 1,
                    database_url: Callable[[str], str] | None = None) -> list[RunFigures]:
    await ensure_topics(bootstrap)
    groups = await fresh_groups(bootstrap, SERVICES)
    with tempfile.TemporaryDirectory(prefix="pause-fanout-") as workdir, \
            services(bootstrap, Path(workdir), SERVICES, groups=groups, instances=instances,
                     database_url=database_url) as running:
        await wait_healthy(running.ports, running.running)
        await groups_settled(bootstrap, list(groups.values()), instances)
        async with scratch_topic(bootstrap) as baseline_topic, producing(bootstrap) as producer:
            async with (
                Reader.opened(bootstrap, CONTRACT_EVENTS.name) as events,
                Reader.opened(bootstrap, BILLING_PROBLEMS.name) as problems,
                Reader.opened(bootstrap, baseline_topic.name) as scratch,
            ):
                # Warm-up: one contract through the whole chain, so both consumer groups are joined,
                # and one message through the baseline path.
                warm = f"bench-warmup-{uuid.uuid4().hex[:8]}"
                (warm_contract,) = await open_contracts(producer, events, warm, 1)
                await publish(producer, BILLING_EVENTS, [payment_failed(warm)])
                (_, warm_paused), = await events.until(of_type("contract.paused", {warm_contract.encode()}), 1)
                await bare_round_trip(producer, scratch, [warm_paused])

                figures = []
                for run in range(1, runs + 1):
                    figures.append(await one_run(producer, events, problems, scratch, contracts))
                    print(f"run {run}: {describe(figures[-1], contracts)}", flush=True)
                return figures


def describe(figures: RunFigures, contracts: int) -> str:
    return (
        f"last contract.paused {figures.last_paused_seconds:.3f} s after publishing billing.payment_failed "
        f"({contracts / figures.last_paused_seconds:,.0f} contracts/s; billing.problem_opened at "
        f"{figures.problem_seconds:.3f} s, first contract.paused at {figures.first_paused_seconds:.3f} s) | "
        f"baseline, bare aiokafka produce+consume of the same {contracts} messages: {figures.baseline_seconds:.3f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--contracts", type=int, default=1000, help="open contracts of the client (default 1000)")
    parser.add_argument("--runs", type=int, default=3, help="measurements, each with a new client (default 3)")
    add_instance_options(parser)
    options = parser.parse_args()
    with broker() as bootstrap, stores(options) as database_url:
        print(f"broker {bootstrap}; {options.contracts} contracts per client; {options.runs} runs; "
              f"{options.instances} instance(s) of each service on {'PostgreSQL' if database_url else 'SQLite'}",
              flush=True)
        figures = asyncio.run(benchmark(bootstrap, options.contracts, options.runs, options.instances, database_url))
    last = statistics.median(f.last_paused_seconds for f in figures)
    baseline = statistics.median(f.baseline_seconds for f in figures)
    print(
        f"median: {options.contracts} contracts paused in {last:.3f} s "
        f"({options.contracts / last:,.0f} contracts/s, {last / options.contracts * 1000:.2f} ms per contract); "
        f"baseline {baseline:.3f} s ({options.contracts / baseline:,.0f} msg/s); "
        f"the services add {last - baseline:.3f} s; ratio {last / baseline:.2f} (issue 11: 10,000 contracts in <= 1.5 s); {load_average()}"
    )


if __name__ == "__main__":
    main()
