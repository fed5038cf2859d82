"""What the benchmarks share: the broker, the services as processes, readers that note arrival
times, scratch topics for baselines, and a bare aiokafka hop for a baseline of its own."""

import argparse
import asyncio
import contextlib
import gc
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from pathlib import Path

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from shared.broker import OUTBOX_LINGER_MS
from shared.metrics import group_lag
from shared.service import Service
from ops.kafka_local import die_with_parent
from shared.topics import DEFAULT_PARTITIONS, Topic, consumed_by, ensure_topics, partitions_of

REPO = Path(__file__).resolve().parents[1]
READY_TIMEOUT = 90.0
WAIT_TIMEOUT = 180.0
# Development key of the services' HTTP APIs in benchmark runs (never a production key).
JWT_SECRET = "benchmark-secret-for-contract-pause-benchmarks"


# The process of each broker `broker()` started, by its bootstrap address: whose CPU to count.
LOCAL_BROKER_PIDS: dict[str, int] = {}


@contextlib.contextmanager
def broker() -> Iterator[str]:
    """KAFKA_BOOTSTRAP_SERVERS when set, else a LocalKafka for the duration."""
    external = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "").strip()
    if external:
        yield external
        return
    from ops.kafka_local import LocalKafka

    with LocalKafka() as local:
        if local.pid is not None:
            LOCAL_BROKER_PIDS[local.bootstrap_servers] = local.pid
        yield local.bootstrap_servers


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Processes:
    """Services started as `python -m services.<pkg>`, each with its own database, port and log."""

    def __init__(self) -> None:
        self.running: dict[str, subprocess.Popen] = {}
        self.ports: dict[str, int] = {}

    def pid(self, package: str) -> int:
        return self.running[package].pid


@contextlib.contextmanager
def services(
    bootstrap: str, workdir: Path, packages: Sequence[str], env: dict[str, str] | None = None,
    runner: Callable[[str], list[str]] | None = None, groups: dict[str, str] | None = None,
    instances: int = 1, database_url: Callable[[str], str] | None = None,
) -> Iterator[Processes]:
    """Start each service as its own process; SIGTERM on exit (SIGKILL after 30 s). `runner` gives
    another command line for a package (e.g. under a profiler); `groups` another name, hence consumer
    group, for a package (`fresh_groups`), so a run neither inherits nor leaves the real groups' offsets.
    `instances` processes of each package share its group and its store, `database_url(service)` (one
    that takes several writers, e.g. `postgres_stores`); the first is named after the package, the
    others `<package>#2` ..."""
    started = Processes()
    try:
        for package, number in ((package, number) for number in range(1, instances + 1) for package in packages):
            name = package if number == 1 else f"{package}#{number}"
            port = free_port()
            store = database_url(package.replace("_", "-")) if database_url else f"sqlite:///{workdir / package}.db"
            environment = {
                **os.environ,
                "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
                "DATABASE_URL": store,
                "HTTP_PORT": str(port),
                "LOG_FORMAT": "json",
                "LOG_LEVEL": "WARNING",
                "AUTH_JWT_SECRET": JWT_SECRET,
                **({"SERVICE_NAME": groups[package]} if groups and package in groups else {}),
                **(env or {}),
            }
            log = (workdir / f"{name.replace('#', '-')}.log").open("wb")
            started.ports[name] = port
            started.running[name] = subprocess.Popen(
                runner(package) if runner else [sys.executable, "-m", f"services.{package}"],
                cwd=REPO, env=environment, stdout=log, stderr=log, preexec_fn=die_with_parent(),
            )
        yield started
    finally:
        stop_all(started.running)


@contextlib.contextmanager
def bare_hops(bootstrap: str, hops: Sequence[tuple[str, str]], workdir: Path) -> Iterator[dict[str, subprocess.Popen]]:
    """Bare aiokafka relays (`python -m benchmarks.common IN OUT`), one process per hop, by name."""
    running = {}
    try:
        for number, (source, sink) in enumerate(hops):
            log = (workdir / f"bare-hop-{number}.log").open("wb")
            running[f"bare hop {number}"] = subprocess.Popen(
                [sys.executable, "-m", "benchmarks.common", bootstrap, source, sink, f"bench-bare-{uuid.uuid4().hex[:8]}"],
                cwd=REPO, stdout=log, stderr=log, preexec_fn=die_with_parent(),
            )
        yield running
    finally:
        stop_all(running)


async def bare_warm_up(producer: AIOKafkaProducer, out: "Reader", topic: str) -> None:
    """Until both hops' consumers hold their partitions, a message is lost to them (they start at
    the end): send one a second until one comes through."""
    deadline = time.perf_counter() + 90
    while time.perf_counter() < deadline:
        key = f"warm-{uuid.uuid4().hex}".encode()
        await (await producer.send(topic, b"{}", key=key))
        with contextlib.suppress(TimeoutError):
            await out.until(lambda record, key=key: record.key == key, 1, timeout=1.0)
            return
    raise TimeoutError("the bare relay did not pass a message within 90 s")


def stop_all(running: dict[str, subprocess.Popen]) -> None:
    for process in running.values():
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for name, process in running.items():
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            print(f"{name} did not stop in 30 s; killing it", file=sys.stderr)
            process.kill()
            process.wait()


async def wait_healthy(ports: dict[str, int], processes: dict[str, subprocess.Popen] | None = None) -> None:
    deadline = time.perf_counter() + READY_TIMEOUT
    async with httpx.AsyncClient() as http:
        for package, port in ports.items():
            while True:
                with contextlib.suppress(httpx.HTTPError):
                    if (await http.get(f"http://127.0.0.1:{port}/health")).status_code == 200:
                        break
                if processes and processes[package].poll() is not None:
                    raise RuntimeError(f"{package} exited with {processes[package].returncode} (see its log)")
                if time.perf_counter() > deadline:
                    raise TimeoutError(f"{package} not healthy within {READY_TIMEOUT}s (see its log)")
                await asyncio.sleep(0.2)


async def commit_at_end(bootstrap: str, group: str, topics: list[str]) -> None:
    """Start `group` at the end of `topics`: what earlier runs and tests left there is not ours to count."""
    partitions = [TopicPartition(topic, p) for topic in topics for p in await partitions_of(bootstrap, topic)]
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign(partitions)
        await consumer.commit(await consumer.end_offsets(partitions))
    finally:
        await consumer.stop()


async def fresh_groups(bootstrap: str, packages: Sequence[str]) -> dict[str, str]:
    """Per service package, a consumer group of its own for this run, starting at the end of the
    topics the service consumes."""
    run = uuid.uuid4().hex[:8]
    groups = {}
    for package in packages:
        service = package.replace("_", "-")
        groups[package] = f"{service}-bench-{run}"
        await commit_at_end(bootstrap, groups[package], [topic.name for topic in consumed_by(service)])
    return groups


async def caught_up(bootstrap: str, group: str, topics: list[str], timeout: float = WAIT_TIMEOUT) -> None:
    """Wait until `group` has committed everything on `topics` (so it has applied it)."""
    deadline = time.perf_counter() + timeout
    while sum((await group_lag(bootstrap, group, topics)).values()):
        if time.perf_counter() > deadline:
            raise TimeoutError(f"{group} still behind on {topics} after {timeout}s")
        await asyncio.sleep(0.2)


async def groups_settled(bootstrap: str, groups: Sequence[str], members: int, timeout: float = READY_TIMEOUT) -> None:
    """Wait until each group is Stable with `members` members: a rebalance later would stall the run."""
    deadline = time.perf_counter() + timeout
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        while True:
            described = []
            with contextlib.suppress(KafkaError):  # a coordinator still loading the group: ask again
                for group_id in groups:
                    (response,) = await admin.describe_consumer_groups([group_id])
                    described.extend(response.groups)
            # (error_code, group_id, state, protocol_type, protocol, members, ...)
            if len(described) == len(groups) and all(g[2] == "Stable" and len(g[5]) == members for g in described):
                return
            if time.perf_counter() > deadline:
                raise TimeoutError(f"groups not Stable with {members} members within {timeout}s: "
                                   f"{[(group[1], group[2], len(group[5])) for group in described]}")
            await asyncio.sleep(0.2)
    finally:
        await admin.close()


@contextlib.contextmanager
def postgres_stores(instances: int) -> Iterator[Callable[[str], str]]:
    """Per service, its database on a throwaway PostgreSQL cluster (or TEST_POSTGRES_URL's server)."""
    from benchmarks.chaos_cluster import databases  # it imports this module

    with tempfile.TemporaryDirectory(prefix="bench-pg-") as folder:
        with databases("postgres", instances, Path(folder)) as database_url:
            yield database_url


def add_instance_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--instances", type=int, default=1,
                        help="processes of each service, in its consumer group, on PostgreSQL when > 1 (default 1)")
    parser.add_argument("--postgres", action="store_true",
                        help="the stores on a throwaway PostgreSQL even with one instance (like with like)")


@contextlib.contextmanager
def stores(options: argparse.Namespace) -> Iterator[Callable[[str], str] | None]:
    """The services' DATABASE_URL per service from --instances/--postgres; None: each its own SQLite file."""
    if options.instances == 1 and not options.postgres:
        yield None
        return
    with postgres_stores(options.instances) as database_url:
        yield database_url


def load_average() -> str:
    """The 1/5/15-minute load averages, to print beside a figure (the CPU is shared)."""
    return "load average " + ", ".join(f"{figure:.2f}" for figure in os.getloadavg())


class Reader:
    """Reads a topic from the moment it was opened, noting when each record arrived."""

    def __init__(self, consumer: AIOKafkaConsumer, topic: str) -> None:
        self._consumer = consumer
        self.topic = topic
        self.arrivals: list[tuple[float, ConsumerRecord]] = []
        self._seen = 0

    @classmethod
    @contextlib.asynccontextmanager
    async def opened(cls, bootstrap: str, topic: str) -> AsyncIterator["Reader"]:
        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, fetch_max_wait_ms=100)
        await consumer.start()
        try:
            partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or [])]
            if not partitions:
                await consumer._client.force_metadata_update()  # noqa: SLF001 - a topic created a moment ago
                partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or [])]
            consumer.assign(partitions)
            await consumer.seek_to_end(*partitions)
            for partition in partitions:
                await consumer.position(partition)  # resolve "end" now, not at the first fetch
            yield cls(consumer, topic)
        finally:
            await consumer.stop()

    async def poll(self, timeout_ms: int = 100) -> list[tuple[float, ConsumerRecord]]:
        batches = await self._consumer.getmany(timeout_ms=timeout_ms)
        arrived = time.perf_counter()
        new = [(arrived, record) for records in batches.values() for record in records]
        self.arrivals.extend(new)
        return new

    async def until(self, matches: Callable[[ConsumerRecord], bool], count: int,
                    timeout: float = WAIT_TIMEOUT) -> list[tuple[float, ConsumerRecord]]:
        """Read until `count` matching records arrived; returns them with their arrival times."""
        deadline = time.perf_counter() + timeout
        found = [(t, r) for t, r in self.arrivals if matches(r)]
        while len(found) < count:
            if time.perf_counter() > deadline:
                raise TimeoutError(f"{len(found)} of {count} records on {self.topic} within {timeout}s")
            found.extend((t, r) for t, r in await self.poll() if matches(r))
        return found[:count]


@contextlib.asynccontextmanager
async def producing(bootstrap: str, linger_ms: int = OUTBOX_LINGER_MS) -> AsyncIterator[AIOKafkaProducer]:
    """A producer configured as the services' relay is: acks from all replicas, idempotent, its linger."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=linger_ms)
    await producer.start()
    try:
        yield producer
    finally:
        await producer.stop()


@contextlib.asynccontextmanager
async def scratch_topics(bootstrap: str, count: int, partitions: int = DEFAULT_PARTITIONS) -> AsyncIterator[list[Topic]]:
    """Topics for a baseline, deleted afterwards."""
    run = uuid.uuid4().hex[:8]
    topics = [Topic(f"bench.baseline.{run}.{n}", key="key", partitions=partitions) for n in range(count)]
    await ensure_topics(bootstrap, topics=tuple(topics))
    try:
        yield topics
    finally:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        await admin.start()
        try:
            await admin.delete_topics([topic.name for topic in topics])
        finally:
            await admin.close()


@contextlib.asynccontextmanager
async def serving(service: Service, timed: Topic) -> AsyncIterator[Service]:
    """A service in this process, from the moment its consumer of `timed` holds partitions; what
    exists by then is kept out of the collector's walk, as `python -m services.<pkg>` does."""
    await service.start(http=False)
    gc.freeze()
    try:
        deadline = time.monotonic() + 60
        while not any(partition.topic == timed.name for partition in _assignments(service)):
            if time.monotonic() > deadline:
                raise TimeoutError(f"no partitions of {timed.name} within 60 s")
            await asyncio.sleep(0.001)
        yield service
    finally:
        await service.stop()
        gc.unfreeze()


def _assignments(service: Service) -> list[TopicPartition]:
    consumers = [getattr(subscriber, "consumer", None) for subscriber in service.broker.subscribers]
    return [partition for consumer in consumers if consumer for partition in consumer.assignment()]


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile (p50 is the median of an odd count)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered) + 0.5) - 1))]


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


async def relay_hop(bootstrap: str, source: str, sink: str, group: str) -> None:
    """The bare baseline of a service's hop: consume a batch, produce each record with the relay's
    settings (acks=all, idempotent, the same linger), wait for Kafka's acks, commit; no store, no decoding."""
    consumer = AIOKafkaConsumer(source, bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False,
                                auto_offset_reset="latest", max_poll_records=500)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True,
                                linger_ms=OUTBOX_LINGER_MS)
    await consumer.start()
    await producer.start()
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopping.set)
    try:
        while not stopping.is_set():
            batches = await consumer.getmany(timeout_ms=100, max_records=500)
            records = [record for batch in batches.values() for record in batch]
            if not records:
                continue
            await asyncio.gather(*[await producer.send(sink, record.value, key=record.key) for record in records])
            await consumer.commit()
    finally:
        await consumer.stop()
        await producer.stop()


if __name__ == "__main__":
    asyncio.run(relay_hop(*sys.argv[1:5]))
