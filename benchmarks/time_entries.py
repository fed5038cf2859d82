"""Throughput of time-tracking's Kafka path beside a bare aiokafka consume-then-produce loop.

    python -m benchmarks.time_entries [--entries 50000] [--contracts 1000] [--profile FILE.html]
                                      [--instances N] [--postgres]

Uses the broker named by KAFKA_BOOTSTRAP_SERVERS, or starts a local one. Both runs read a backlog
of the same size, already on the broker, from topics of the same partition count, and are timed
from the moment their consumer holds its partitions until the last output is acknowledged by Kafka.
The service run writes to the registry's topics: do not point it at a broker the test suite keeps
using (the suite's own `time-tracking` group would later have to judge every benchmark entry).

- baseline: one AIOKafkaConsumer (own group, batches of 500, commit after each batch) and one
  AIOKafkaProducer (acks=all, idempotent, the linger of the service's relay) copying every input
  to an output topic, on a pair of scratch topics.
- service: one time-tracking process (in this process) on the registry's topics, under a fresh
  consumer group whose offsets start at the end of its input topics, so only this run's
  submissions count; verdicts are counted as the outbox relay gets Kafka's acknowledgements.
- service with `--instances N` (or `--postgres`): N time-tracking processes (`python -m
  services.time_tracking`) in one fresh group, their store one database on a throwaway PostgreSQL.
  Once they have learnt the contracts and the group is Stable with N members, the backlog is
  produced while they run: timed from its first send until the last verdict is read back on
  time.entries (so the figure includes the slower of producing and judging).
"""

import argparse
import asyncio
import contextlib
import json
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from sqlalchemy import func, select

from services.time_tracking import store
from services.time_tracking.app import Settings, build
from benchmarks.common import (
    Reader,
    add_instance_options,
    broker,
    caught_up,
    commit_at_end,
    fresh_groups,
    groups_settled,
    load_average,
    serving,
    services,
    stores,
    wait_healthy,
)
from shared.broker import OUTBOX_LINGER_MS
from shared.events.contracts import ContractOpened, ContractSnapshot
from shared.events.time_entries import TimeEntrySubmitted, TimeEntrySubmittedData
from shared.logs import configure_logging
from shared.service import Service
from shared.topics import (
    CONTRACT_EVENTS,
    DEFAULT_PARTITIONS,
    TIME_ENTRIES,
    TIME_ENTRIES_SUBMITTED,
    Topic,
    ensure_topics,
)
from tests.support import producer

BATCH = 500
run_id = uuid.uuid4().hex[:8]  # keeps this run's contracts, entries, groups and scratch topics apart
START = datetime.now(UTC).replace(microsecond=0) - timedelta(days=60)


def contract_events(contracts: int, start: datetime) -> list[ContractOpened]:
    return [
        ContractOpened.new(
            ContractSnapshot(contract_id=f"bench-{run_id}-{index}", client_id=f"client-{index}",
                             freelancer_id=f"fl-{index}", kind="hourly", status="active", holds=[], version=1,
                             changed_at=start),
            source="benchmark", time=start,
        )
        for index in range(contracts)
    ]


def submissions(entries: int, contracts: int, start: datetime) -> list[bytes]:
    """Mostly tracked time, some manual, one in twenty by someone not on the contract."""
    values = []
    for number in range(entries):
        index = number % contracts
        began = start + timedelta(minutes=30 * (number // contracts) + 1)
        data = TimeEntrySubmittedData(
            entry_id=f"bench-{run_id}-entry-{number}", contract_id=f"bench-{run_id}-{index}",
            freelancer_id=f"fl-{index}" if number % 20 else "fl-stranger",
            started_at=began, ended_at=began + timedelta(minutes=25), memo="benchmark",
            source="manual" if number % 7 == 0 else "tracker",
        )
        values.append(TimeEntrySubmitted.new(data, source="benchmark", time=began).to_json())
    return values



async def produce(bootstrap: str, topic: str, keyed: list[tuple[bytes, bytes]]) -> None:
    async with producer(bootstrap) as client:
        for offset in range(0, len(keyed), 5000):
            chunk = keyed[offset:offset + 5000]
            await asyncio.gather(*[await client.send(topic, value, key=key) for key, value in chunk])


async def baseline(bootstrap: str, keyed: list[tuple[bytes, bytes]]) -> float:
    """Entries per second of a bare consume-then-produce loop over the same backlog."""
    scratch = uuid.uuid4().hex[:8]
    source = Topic(f"bench.baseline.in.{scratch}", key="contract_id", partitions=DEFAULT_PARTITIONS)
    sink = Topic(f"bench.baseline.out.{scratch}", key="contract_id", partitions=DEFAULT_PARTITIONS)
    await ensure_topics(bootstrap, topics=(source, sink))
    try:
        await produce(bootstrap, source.name, keyed)
        consumer = AIOKafkaConsumer(source.name, bootstrap_servers=bootstrap, group_id=f"bench-baseline-{scratch}",
                                    enable_auto_commit=False, auto_offset_reset="earliest", max_poll_records=BATCH)
        out = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True,
                              linger_ms=OUTBOX_LINGER_MS)
        await consumer.start()
        await out.start()
        try:
            while not consumer.assignment():
                await asyncio.sleep(0.01)
            began, copied = time.perf_counter(), 0
            while copied < len(keyed):
                batches = await consumer.getmany(timeout_ms=1000, max_records=BATCH)
                records = [record for batch in batches.values() for record in batch]
                acks = [await out.send(sink.name, record.value, key=record.key) for record in records]
                await asyncio.gather(*acks)
                await consumer.commit()
                copied += len(records)
            return copied / (time.perf_counter() - began)
        finally:
            await consumer.stop()
            await out.stop()
    finally:
        await delete_topics(bootstrap, [source.name, sink.name])


async def service_path(bootstrap: str, contracts: int, keyed: list[tuple[bytes, bytes]], database: Path,
                       profile: Path | None) -> float:
    entries = len(keyed)
    """Entries per second through one time-tracking process: decode, judge, store, outbox, publish."""
    settings = Settings(service_name=f"time-tracking-bench-{run_id}", kafka_bootstrap_servers=bootstrap,
                        database_url=f"sqlite:///{database}", http_api=False)
    await commit_at_end(bootstrap, settings.service_name, [CONTRACT_EVENTS.name, TIME_ENTRIES_SUBMITTED.name])
    opened = contract_events(contracts, START)
    async with serving(build(settings), CONTRACT_EVENTS) as service:  # learn the contracts first, then stop
        await produce(bootstrap, CONTRACT_EVENTS.name, [(e.data.contract_id.encode(), e.to_json()) for e in opened])
        while await known_contracts(service) < contracts:
            await asyncio.sleep(0.1)
    await produce(bootstrap, TIME_ENTRIES_SUBMITTED.name, keyed)
    async with serving(build(settings), TIME_ENTRIES_SUBMITTED) as service, profiling(profile):
        began = time.perf_counter()
        while service.relay.published < len(keyed):
            await asyncio.sleep(0.005)
        elapsed = time.perf_counter() - began
        recorded = await verdicts(service)
    check_verdicts(recorded, entries)
    return entries / elapsed


def check_verdicts(recorded: dict[str | None, int], entries: int) -> None:
    """One entry in twenty is by a stranger to the contract (`submissions`); the rest are accepted."""
    expected = {None: entries - len(range(0, entries, 20)), "not_contract_freelancer": len(range(0, entries, 20))}
    if recorded != expected:
        raise AssertionError(f"the service recorded {recorded}, not {expected}")


async def instances_path(bootstrap: str, contracts: int, keyed: list[tuple[bytes, bytes]], instances: int,
                         database_url: Callable[[str], str]) -> float:
    """Entries per second through `instances` time-tracking processes sharing a group and a store."""
    groups = await fresh_groups(bootstrap, ["time_tracking"])
    opened = contract_events(contracts, START)
    ours = {key for key, _ in keyed}
    with tempfile.TemporaryDirectory(prefix="time-entries-") as workdir, \
            services(bootstrap, Path(workdir), ["time_tracking"], groups=groups, instances=instances,
                     database_url=database_url) as running:
        await wait_healthy(running.ports, running.running)
        await produce(bootstrap, CONTRACT_EVENTS.name, [(e.data.contract_id.encode(), e.to_json()) for e in opened])
        await caught_up(bootstrap, groups["time_tracking"], [CONTRACT_EVENTS.name])
        await groups_settled(bootstrap, list(groups.values()), instances)
        async with Reader.opened(bootstrap, TIME_ENTRIES.name) as verdicts_read:
            began = time.perf_counter()
            await produce(bootstrap, TIME_ENTRIES_SUBMITTED.name, keyed)
            read = await verdicts_read.until(lambda record: record.key in ours, len(keyed))
    elapsed = max(arrived for arrived, _ in read) - began
    check_verdicts(Counter(json.loads(record.value)["data"].get("reason") for _, record in read), len(keyed))
    return len(keyed) / elapsed


async def verdicts(service: Service) -> dict[str | None, int]:
    """How many entries the service recorded, by rejection reason (None: accepted)."""
    query = select(store.time_entries.c.rejection, func.count()).group_by(store.time_entries.c.rejection)
    async with service.store.reading() as connection:
        return dict((await connection.execute(query)).all())


async def known_contracts(service: Service) -> int:
    async with service.store.reading() as connection:
        query = select(func.count(func.distinct(store.contract_versions.c.contract_id)))
        return (await connection.execute(query)).scalar_one()


@contextlib.asynccontextmanager
async def profiling(output: Path | None) -> AsyncIterator[None]:
    if output is None:
        yield
        return
    from pyinstrument import Profiler  # a dev extra, needed only with --profile

    profiler = Profiler(async_mode="disabled")
    profiler.start()
    try:
        yield
    finally:
        profiler.stop()
        output.write_text(profiler.output_html())
        output.with_suffix(".txt").write_text(profiler.output_text(unicode=False, color=False, show_all=True))
        print(f"profile written to {output} and {output.with_suffix('.txt')}")


async def delete_topics(bootstrap: str, names: list[str]) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.delete_topics(names)
    finally:
        await admin.close()


async def main(bootstrap: str, entries: int, contracts: int, profile: Path | None, instances: int = 1,
               database_url: Callable[[str], str] | None = None) -> None:
    """`database_url` (per service) runs `instances` processes on it; None: one in this process on SQLite."""
    await ensure_topics(bootstrap)
    values = submissions(entries, contracts, START)
    keyed = [(f"bench-{run_id}-{n % contracts}".encode(), value) for n, value in enumerate(values)]
    bare = await baseline(bootstrap, keyed)
    if database_url:
        ours = await instances_path(bootstrap, contracts, keyed, instances, database_url)
        how = f"{instances} time-tracking process(es) on PostgreSQL, verdict counts checked on time.entries"
    else:
        with tempfile.TemporaryDirectory() as scratch:
            ours = await service_path(bootstrap, contracts, keyed, Path(scratch) / "time-tracking.db", profile)
        how = "one time-tracking in this process on SQLite, verdict counts checked in its store"
    print(f"entries:               {entries} over {contracts} contracts, {DEFAULT_PARTITIONS} partitions ({how})")
    print(f"baseline (aiokafka):   {bare:10,.0f} entries/s")
    print(f"time-tracking:         {ours:10,.0f} entries/s")
    print(f"ratio service/baseline: {ours / bare:.3f}; {load_average()}")


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entries", type=int, default=50_000)
    parser.add_argument("--contracts", type=int, default=1_000)
    parser.add_argument("--profile", type=Path, help="write a pyinstrument profile of the service run here")
    parser.add_argument("--log-level", default="WARNING", help="the service's log level (INFO logs every verdict)")
    add_instance_options(parser)
    options = parser.parse_args()
    configure_logging("time-tracking", options.log_level, "json")
    with broker() as bootstrap, stores(options) as database_url:
        asyncio.run(main(bootstrap, options.entries, options.contracts, options.profile, options.instances,
                         database_url))


if __name__ == "__main__":
    cli()
