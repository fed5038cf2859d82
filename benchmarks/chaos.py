"""Benchmark and CI test (issue 14): the four services, several instances each, under chaos.

    python -m benchmarks.chaos [--instances 2] [--events 20000] [--seed 1] [--rate 200]
                               [--fault-every 5] [--broker-restarts 1] [--store postgres|sqlite]
                               [--drain-timeout 900] [--logs DIR]

A broker of the run's own (it gets restarted, so never the user's or the test session's), one
PostgreSQL database per service (TEST_POSTGRES_URL, else a throwaway server from the local
binaries) and `--instances` processes of each service on it; `--store sqlite` runs one instance
each, on its own file. The seeded workload of benchmarks.chaos_workload goes in at `--rate` inputs
a second while random instances get kill -9 (now and then every instance of one service) and come
back a few seconds later; halfway (or `--broker-restarts` times, evenly spread) the broker is
stopped and started. Then the run waits until the system has drained (every group's lag 0 and every
outbox empty, twice in a row) and checks what the services wrote against the model
(benchmarks.chaos_checks).

Printed: inputs sent, faults injected, time to drain, raw duplicate deliveries, violations (must be
0; each with its invariant and the contract, client or entry). The exit status is 1 on a violation.
tests/integration/chaos runs it small in the suite.
"""

import argparse
import asyncio
import contextlib
import logging
import os
import random
import shutil
import signal
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from benchmarks.chaos_checks import Findings, Violation, check, read_outputs
from benchmarks.chaos_cluster import READY_TIMEOUT, Instance, databases, drained, healthy, last_line, unhealthy
from benchmarks.chaos_workload import Input, Workload, draw
from benchmarks.common import JWT_SECRET, producing
from ops.kafka_local import LocalKafka
from shared.metrics import group_lag
from shared.topics import SERVICES, consumed_by, ensure_topics

SEND_BATCH = 50


@dataclass
class Options:
    instances: int = 2
    events: int = 20000
    seed: int = 1
    rate: float = 200.0  # inputs per second
    fault_every: float = 5.0  # mean seconds between kills
    store: str = "postgres"
    drain_timeout: float = 900.0
    broker_restarts: int = 1
    logs: Path | None = None  # where the services' logs go (kept); a temporary folder otherwise


@dataclass
class Report:
    options: Options
    counts: Counter
    faults: Counter
    findings: Findings
    drain_seconds: float | None
    seconds: float
    logs: Path
    phases: dict[str, float]

    @property
    def violations(self) -> list[Violation]:
        return self.findings.violations

    def text(self, examples: int = 5) -> str:
        o = self.options
        by_invariant: dict[str, list[Violation]] = {}
        for violation in self.violations:
            by_invariant.setdefault(violation.invariant, []).append(violation)
        lines = [
            f"chaos: {o.instances} instance(s) per service on {o.store}, seed {o.seed}, {o.rate:g} inputs/s, "
            f"a kill every {o.fault_every:g} s on average; {self.seconds:.0f} s in all ("
            + ", ".join(f"{phase} {seconds:.0f} s" for phase, seconds in self.phases.items()) + ")",
            f"events sent: {sum(self.counts.values())} ("
            + ", ".join(f"{name} {count}" for name, count in sorted(self.counts.items())) + ")",
            "faults injected: " + ", ".join(f"{name} {count}" for name, count in sorted(self.faults.items())),
            ("time to drain: " + (f"{self.drain_seconds:.1f} s after the last input" if self.drain_seconds is not None
                                  else "did not drain")),
            f"raw duplicate deliveries: {sum(self.findings.duplicates.values())} ("
            + ", ".join(f"{topic} {self.findings.duplicates[topic]} of {self.findings.records[topic]}"
                        for topic in sorted(self.findings.records) if not topic.endswith(".dlq")) + ")",
            "checked: " + ", ".join(f"{name} {count}" for name, count in sorted(self.findings.checked.items())),
            f"violations: {len(self.violations)}",
        ]
        for invariant, found in by_invariant.items():
            lines.append(f"  {invariant}: {len(found)}")
            lines.extend(f"    {violation.subject}: {violation.detail}" for violation in found[:examples])
        lines.append(f"logs: {self.logs}")
        return "\n".join(lines)


class Chaos:
    """The run: the instances, the faults done to them, and the inputs' way in."""

    def __init__(self, options: Options, kafka: LocalKafka, database_url: Callable[[str], str], logs: Path) -> None:
        self.options, self.kafka = options, kafka
        self.rng = random.Random(options.seed)
        environment = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers, "LOG_FORMAT": "json",
                       "LOG_LEVEL": "WARNING", "AUTH_JWT_SECRET": JWT_SECRET, "PYTHONUNBUFFERED": "1"}
        self.instances = {
            service: [Instance(service, number, {**environment, "DATABASE_URL": database_url(service)}, logs)
                      for number in range(1, options.instances + 1)]
            for service in SERVICES
        }
        self.faults: Counter = Counter()
        self.phases: dict[str, float] = {}
        self.restarts: set[asyncio.Task] = set()
        self.self_exits: list[tuple[str, str]] = []  # (instance, what happened)
        self.stuck: list[tuple[str, str]] = []

    @property
    def all(self) -> list[Instance]:
        return [instance for instances in self.instances.values() for instance in instances]

    async def start(self) -> None:
        """The first instance of each service before the others: it creates the service's tables."""
        firsts = [instances[0] for instances in self.instances.values()]
        for instance in firsts:
            instance.start()
        await healthy(firsts)
        rest = [instance for instance in self.all if instance not in firsts]
        for instance in rest:
            instance.start()
        await healthy(rest)

    def stop(self) -> None:
        for instance in self.all:
            if instance.alive():
                instance.process.send_signal(signal.SIGTERM)
        for instance in self.all:
            instance.stop()

    async def publish(self, inputs: list[Input]) -> None:
        """Every input in order at the rate asked; the broker is restarted at even intervals (inputs wait for it)."""
        started = time.monotonic()
        every = len(inputs) / (self.options.broker_restarts + 1)
        restarts = {int(every * (n + 1)) for n in range(self.options.broker_restarts)}
        bootstrap = self.kafka.bootstrap_servers
        pending: list[asyncio.Future] = []
        async with producing(bootstrap) as producer:
            for number, item in enumerate(inputs):
                if number in restarts:
                    await asyncio.gather(*pending)
                    pending.clear()
                    self.kafka.restart()  # blocks this loop: nothing is sent and no instance restarts meanwhile
                    self.faults["broker restart"] += 1
                    started = time.monotonic() - number / self.options.rate  # the schedule goes on from here
                ahead = started + number / self.options.rate - time.monotonic()
                if ahead > 0:
                    await asyncio.sleep(ahead)
                pending.append(await producer.send(item.topic.name, item.value, key=item.key.encode()))
                if number and number % max(1, len(inputs) // 10) == 0:
                    print(f"  {number} inputs sent; faults so far: {dict(self.faults)}", file=sys.stderr, flush=True)
                if len(pending) >= SEND_BATCH:
                    await asyncio.gather(*pending)
                    pending.clear()
            await asyncio.gather(*pending)

    async def inject_faults(self, stop: asyncio.Event) -> None:
        """kill -9 of a random instance, or of every instance of one service, every so often."""
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.rng.expovariate(1 / self.options.fault_every))
            if stop.is_set():
                return
            service = self.rng.choice(SERVICES)
            alive = [instance for instance in self.instances[service] if instance.alive()]
            if not alive:
                continue
            victims = alive if self.rng.random() < 0.25 else [self.rng.choice(alive)]
            for victim in victims:
                victim.kill()
            self.faults["kill -9"] += len(victims)
            if all(not instance.alive() for instance in self.instances[service]):
                self.faults["every instance of a service down"] += 1
            task = asyncio.create_task(self.restart_later(victims, self.rng.uniform(1.0, 4.0)))
            self.restarts.add(task)
            task.add_done_callback(self.restarts.discard)

    async def restart_later(self, instances: list[Instance], delay: float) -> None:
        await asyncio.sleep(delay)
        for instance in instances:
            instance.start()

    async def watch(self, stop: asyncio.Event) -> None:
        """An instance that exits without being killed is a finding: noted, and started again."""
        while not stop.is_set():
            for instance in self.all:
                if instance.exited_by_itself():
                    self.self_exits.append((instance.name, f"exited with {instance.process.returncode}: "
                                                           f"{last_line(instance.log)}"))
                    self.faults["exited by itself"] += 1
                    instance.start()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.5)

    async def recover(self) -> None:
        """After the last fault: every instance up again."""
        await asyncio.gather(*self.restarts)
        for instance in self.all:
            if not instance.alive():
                instance.start()
        for instance in await unhealthy(self.all):  # alive but stuck: a finding; a fresh start lets the run go on
            self.stuck.append((instance.name, f"not healthy {READY_TIMEOUT:.0f} s after the last fault, restarted; "
                                              f"its log ended: {last_line(instance.log)}"))
            instance.kill()
            instance.start()
        await healthy(self.all)

    async def until_drained(self, since: float) -> tuple[float | None, dict[str, float]]:
        """Seconds from `since` until drained (None: not within the timeout), and the parked rows."""
        deadline = time.monotonic() + self.options.drain_timeout
        quiet, reported = 0, time.monotonic()
        async with httpx.AsyncClient(timeout=5) as http:
            while time.monotonic() < deadline:
                parked = await drained(self.kafka.bootstrap_servers, self.all, http)
                quiet = quiet + 1 if parked is not None else 0
                if quiet == 2:
                    return time.monotonic() - since, parked
                if time.monotonic() > reported + 30:
                    reported = time.monotonic()
                    lag = {service: sum((await group_lag(self.kafka.bootstrap_servers, service,
                                                         [topic.name for topic in consumed_by(service)])).values())
                           for service in SERVICES}
                    print(f"  draining for {reported - since:.0f} s; lag {lag}", file=sys.stderr, flush=True)
                await asyncio.sleep(0.5)
        return None, {}


async def _run(chaos: Chaos, workload: Workload) -> tuple[float | None, Findings]:
    began = time.monotonic()
    await ensure_topics(chaos.kafka.bootstrap_servers)
    await chaos.start()
    chaos.phases["start"] = time.monotonic() - began
    stop, settled = asyncio.Event(), asyncio.Event()
    watcher = asyncio.create_task(chaos.watch(settled))  # through the drain: an exit then is a finding too
    faults = asyncio.create_task(chaos.inject_faults(stop))
    try:
        await chaos.publish(workload.inputs)
        last_input = time.monotonic()
        chaos.phases["inputs and faults"] = last_input - began - chaos.phases["start"]
        stop.set()
        await faults
        await chaos.recover()
        drain_seconds, parked = await chaos.until_drained(since=last_input)
    finally:
        stop.set()
        settled.set()
        await asyncio.gather(faults, watcher)
    checking = time.monotonic()
    findings = check(workload, await read_outputs(chaos.kafka.bootstrap_servers))
    chaos.phases["drain"] = checking - last_input
    chaos.phases["read and check"] = time.monotonic() - checking
    if drain_seconds is None:
        findings.violate("the system drains", "all",
                         f"lag or outbox backlog left after {chaos.options.drain_timeout:.0f} s")
    for instance, rows in parked.items():
        if rows:
            findings.violate("nothing parked in an outbox", instance, f"{rows:.0f} rows Kafka would not take")
    for name, what in chaos.self_exits:
        findings.violate("instances exit only when killed", name, what)
    for name, stuck in chaos.stuck:
        findings.violate("instances recover from faults", name, stuck)
    return drain_seconds, findings


def run(options: Options) -> Report:
    """One chaos run from nothing: broker, databases, instances, inputs, faults, drain, checks."""
    began = time.monotonic()
    workload = draw(options.seed, options.events, datetime.now(UTC) - timedelta(seconds=options.events + 600))
    logs = options.logs or Path(tempfile.mkdtemp(prefix="chaos-"))
    logs.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as stack:
        kafka = stack.enter_context(LocalKafka())
        database_url = stack.enter_context(databases(options.store, options.instances, logs))
        chaos = Chaos(options, kafka, database_url, logs)
        stack.callback(chaos.stop)
        drain_seconds, findings = asyncio.run(_run(chaos, workload))
        report = Report(options, workload.counts, chaos.faults, findings, drain_seconds, 0.0, logs, chaos.phases)
    report.seconds = time.monotonic() - began
    if options.logs is None and not report.violations:
        shutil.rmtree(logs, ignore_errors=True)  # kept only when there is something to look into
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--instances", type=int, default=2, help="processes per service (default 2)")
    parser.add_argument("--events", type=int, default=20000, help="inputs, re-sends included (default 20000)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the workload and the faults (default 1)")
    parser.add_argument("--rate", type=float, default=200.0, help="inputs per second (default 200)")
    parser.add_argument("--fault-every", type=float, default=5.0, help="mean seconds between kills (default 5)")
    parser.add_argument("--store", choices=("postgres", "sqlite"), default="postgres",
                        help="postgres (one database per service, default) or sqlite (--instances 1)")
    parser.add_argument("--drain-timeout", type=float, default=900.0, help="seconds to wait for the drain (default 900)")
    parser.add_argument("--logs", type=Path, help="keep the services' logs in this folder")
    parser.add_argument("--broker-restarts", type=int, default=1, help="broker restarts, evenly spread (default 1)")
    arguments = parser.parse_args()
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)  # producer retries while the broker restarts
    options = Options(**vars(arguments))
    report = run(options)
    print(report.text(examples=10), flush=True)
    sys.exit(1 if report.violations else 0)


if __name__ == "__main__":
    main()
