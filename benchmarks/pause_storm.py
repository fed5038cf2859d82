"""Benchmark (not a test): a pause storm — many clients' payments fail within one second.

    python -m benchmarks.pause_storm [--clients 5000] [--contracts-per-client 4]

billing-monitor, contract-state and notification run as their own processes on fresh temporary
databases, on the broker named by KAFKA_BOOTSTRAP_SERVERS or else on a LocalKafka this script starts.
Every client first gets its open hourly contracts (opened, and known to notification, before the clock
starts). Then one `billing.payment_failed` per client is sent, all within one second; the figures are
the times from the first send to the last `contract.paused` read on contracts.events and to the last
freelancer `contract_paused` notice read on `notifications`.

Baseline, same broker, same run: as many messages as there are contracts, sent within one second
through a bare aiokafka 2-hop relay (consume → produce → consume → produce → consume, each hop its own
process with the relay's producer settings, committing after each batch), timed from the first send
to the last arrival.
"""

import argparse
import asyncio
import json
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from aiokafka import AIOKafkaProducer

from benchmarks.common import (
    Reader, bare_hops, bare_warm_up, broker, caught_up, fresh_groups, producing, scratch_topics, services, wait_healthy,
)
from benchmarks.latency import Client, payment_failed
from shared.events.contracts import OpenContract, OpenContractData
from shared.topics import BILLING_EVENTS, CONTRACT_COMMANDS, CONTRACT_EVENTS, NOTIFICATIONS, ensure_topics

SERVICES = ("billing_monitor", "contract_state", "notification")
RUN = uuid.uuid4().hex[:8]


def contract_ids(client: Client, per_client: int) -> list[str]:
    return [f"storm-{RUN}-{client.number}-{n}" for n in range(per_client)]


def freelancer_of(contract_id: str) -> str:
    return f"{contract_id}-fl"


async def within_one_second(producer: AIOKafkaProducer, messages: list[tuple[str, bytes, bytes]]) -> float:
    """Send every message, spread evenly over one second; returns when the first was sent."""
    started = time.perf_counter()
    acks = []
    for number, (topic, key, value) in enumerate(messages):
        delay = started + number / len(messages) - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        acks.append(await producer.send(topic, value, key=key))
    await asyncio.gather(*acks)
    return started


async def storm(bootstrap: str, workdir: Path, clients: int, per_client: int) -> tuple[float, float]:
    storming = [Client(n, run=f"storm{RUN}") for n in range(clients)]
    opened_at = datetime.now(UTC) - timedelta(hours=1)
    groups = await fresh_groups(bootstrap, SERVICES)
    with services(bootstrap, workdir, SERVICES, groups=groups) as running:
        await wait_healthy(running.ports, running.running)
        async with (
            producing(bootstrap) as producer,
            Reader.opened(bootstrap, CONTRACT_EVENTS.name) as events,
            Reader.opened(bootstrap, NOTIFICATIONS.name) as notices,
        ):
            acks = []
            for client in storming:
                for contract_id in contract_ids(client, per_client):
                    data = OpenContractData(contract_id=contract_id, client_id=client.client_id,
                                            freelancer_id=freelancer_of(contract_id), kind="hourly")
                    command = OpenContract.new(data, source="benchmark", time=opened_at)
                    acks.append(await producer.send(CONTRACT_COMMANDS.name, command.to_json(), key=contract_id.encode()))
            await asyncio.gather(*acks)
            await caught_up(bootstrap, groups["contract_state"], [CONTRACT_COMMANDS.name], timeout=900)
            await caught_up(bootstrap, groups["notification"], [CONTRACT_EVENTS.name], timeout=900)

            contracts = {c.encode() for client in storming for c in contract_ids(client, per_client)}
            freelancers = {freelancer_of(c).encode() for client in storming for c in contract_ids(client, per_client)}

            def paused(record) -> bool:  # noqa: ANN001 - a ConsumerRecord
                return record.key in contracts and json.loads(record.value)["type"] == "contract.paused"

            def noticed(record) -> bool:  # noqa: ANN001
                if record.key not in freelancers:
                    return False
                data = json.loads(record.value)["data"]
                return data["kind"] == "contract_paused" and data["recipient_role"] == "freelancer"

            reading_events = asyncio.create_task(events.until(paused, len(contracts), timeout=900))
            reading_notices = asyncio.create_task(notices.until(noticed, len(contracts), timeout=900))
            failures = [(BILLING_EVENTS.name, c.client_id.encode(), payment_failed(c).to_json()) for c in storming]
            started = await within_one_second(producer, failures)
            last_paused = max(arrived for arrived, _ in await reading_events) - started
            last_notice = max(arrived for arrived, _ in await reading_notices) - started
            return last_paused, last_notice


async def bare(bootstrap: str, workdir: Path, count: int) -> float:
    async with scratch_topics(bootstrap, 3) as (first, middle, last):
        with bare_hops(bootstrap, [(first.name, middle.name), (middle.name, last.name)], workdir):
            async with producing(bootstrap) as producer, Reader.opened(bootstrap, last.name) as out:
                await bare_warm_up(producer, out, first.name)
                value = payment_failed(Client(0)).to_json()
                keys = [f"storm-{n}".encode() for n in range(count)]
                wanted = set(keys)
                reading = asyncio.create_task(out.until(lambda record: record.key in wanted, count, timeout=900))
                started = await within_one_second(producer, [(first.name, key, value) for key in keys])
                return max(arrived for arrived, _ in await reading) - started


async def benchmark(bootstrap: str, clients: int, per_client: int) -> None:
    await ensure_topics(bootstrap)
    contracts = clients * per_client
    with tempfile.TemporaryDirectory(prefix="pause-storm-") as scratch:
        baseline = await bare(bootstrap, Path(scratch), contracts)
        last_paused, last_notice = await storm(bootstrap, Path(scratch), clients, per_client)
    print(f"{clients} clients x {per_client} contracts fail within one second ({contracts} contracts)")
    print(f"baseline, bare aiokafka 2-hop relay of {contracts} messages sent within one second: "
          f"last arrival after {baseline:.2f} s")
    print(f"last contract.paused after     {last_paused:7.2f} s   ratio {last_paused / baseline:.2f}")
    print(f"last freelancer notice after   {last_notice:7.2f} s   ratio {last_notice / baseline:.2f}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=5000)
    parser.add_argument("--contracts-per-client", type=int, default=4)
    options = parser.parse_args(argv)
    with broker() as bootstrap:
        print(f"broker {bootstrap}", flush=True)
        asyncio.run(benchmark(bootstrap, options.clients, options.contracts_per_client))


if __name__ == "__main__":
    main()
