"""Benchmark (not a test): resident memory of each service once 100,000 contracts are in its store.

    python -m benchmarks.memory [--contracts 100000]

The four services run as their own processes on fresh temporary databases, on the broker named by
KAFKA_BOOTSTRAP_SERVERS or else on a LocalKafka this script starts. N clients each open one hourly
contract (contract-state, time-tracking and notification store N contracts), then every client's
payment fails (billing-monitor stores N clients' problems; the N contracts are paused and N freelancers
and N clients notified). Once every consumer group has caught up, each process's RSS is read from
/proc. Baseline: the same process's RSS when it was started and healthy, with an empty store.
Issue 11 asks for at most 150 MB per service at N = 100,000.
"""

import argparse
import asyncio
import tempfile
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from benchmarks.common import broker, caught_up, fresh_groups, producing, services, wait_healthy
from benchmarks.latency import Client, opening, payment_failed
from shared.topics import BILLING_EVENTS, BILLING_PROBLEMS, CONTRACT_COMMANDS, CONTRACT_EVENTS, ensure_topics

SERVICES = ("billing_monitor", "contract_state", "time_tracking", "notification")
LIMIT_MB = 150
CAUGHT_UP = {  # service package: the topics it must have applied
    "billing_monitor": [BILLING_EVENTS.name],
    "contract_state": [CONTRACT_COMMANDS.name, BILLING_PROBLEMS.name],
    "time_tracking": [CONTRACT_EVENTS.name],
    "notification": [BILLING_PROBLEMS.name, CONTRACT_EVENTS.name],
}


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


async def send_all(bootstrap: str, messages: list[tuple[str, bytes, bytes]]) -> None:
    async with producing(bootstrap) as producer:
        for offset in range(0, len(messages), 5000):
            chunk = messages[offset:offset + 5000]
            await asyncio.gather(*[await producer.send(topic, value, key=key) for topic, key, value in chunk])


async def wait_caught_up(bootstrap: str, groups: dict[str, str]) -> None:
    for package, topics in CAUGHT_UP.items():
        await caught_up(bootstrap, groups[package], topics, timeout=3600)


async def benchmark(bootstrap: str, contracts: int) -> dict[str, tuple[float, float]]:
    await ensure_topics(bootstrap)
    run = uuid.uuid4().hex[:8]
    clients = [Client(number, run=f"mem{run}") for number in range(contracts)]
    opened_at = datetime.now(UTC) - timedelta(hours=1)
    groups = await fresh_groups(bootstrap, SERVICES)
    with tempfile.TemporaryDirectory(prefix="memory-") as workdir, \
            services(bootstrap, Path(workdir), SERVICES, groups=groups) as running:
        await wait_healthy(running.ports, running.running)
        empty = {package: rss_mb(running.pid(package)) for package in SERVICES}
        await send_all(bootstrap, [(CONTRACT_COMMANDS.name, c.contract_id.encode(), opening(c, opened_at).to_json())
                                   for c in clients])
        await wait_caught_up(bootstrap, groups)
        await send_all(bootstrap, [(BILLING_EVENTS.name, c.client_id.encode(), payment_failed(c).to_json())
                                   for c in clients])
        await wait_caught_up(bootstrap, groups)
        await asyncio.sleep(2)  # the relays' last batches
        full = {package: rss_mb(running.pid(package)) for package in SERVICES}
    print(f"{contracts} contracts opened and paused (run {run})")
    print(f"{'service':<16} {'empty MB':>9} {'full MB':>9} {'ratio':>7}   (issue 11: <= {LIMIT_MB} MB)")
    for package in SERVICES:
        verdict = "ok" if full[package] <= LIMIT_MB else "OVER"
        print(f"{package:<16} {empty[package]:9.1f} {full[package]:9.1f} {full[package] / empty[package]:7.2f}   {verdict}")
    return {package: (empty[package], full[package]) for package in SERVICES}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--contracts", type=int, default=100_000)
    options = parser.parse_args(argv)
    with broker() as bootstrap:
        print(f"broker {bootstrap}", flush=True)
        asyncio.run(benchmark(bootstrap, options.contracts))


if __name__ == "__main__":
    main()
