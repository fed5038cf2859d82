"""Prometheus metrics of one service: events in and out per type, handler latency, outbox backlog,
dead letters, the consumer lag of the service's group per partition, and the process's CPU and memory.

Backlog and lag are read from the store and the broker when scraped, so they are true even
while the service's consumers are stopped.
"""

from collections.abc import Awaitable, Callable

from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import TopicPartition
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector, generate_latest

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.consumed = Counter(
            "contract_pause_events_consumed", "Input events applied, by topic and type",
            ["topic", "type"], registry=self.registry,
        )
        self.duplicates = Counter(
            "contract_pause_events_duplicate", "Input events skipped as already applied",
            ["topic"], registry=self.registry,
        )
        self.published = Counter(
            "contract_pause_events_published", "Output events published, by topic and type",
            ["topic", "type"], registry=self.registry,
        )
        self.dead_lettered = Counter(
            "contract_pause_dead_letters", "Messages sent to a dead-letter topic, by source topic and reason",
            ["topic", "reason"], registry=self.registry,
        )
        self.handler_seconds = Histogram(
            "contract_pause_handler_seconds", "Time to apply one input event inside its transaction",
            ["topic"], buckets=LATENCY_BUCKETS, registry=self.registry,
        )
        self.outbox_backlog = Gauge(
            "contract_pause_outbox_backlog", "Outbox rows waiting for publication", registry=self.registry
        )
        self.outbox_parked = Gauge(
            "contract_pause_outbox_parked", "Outbox rows Kafka would not take, set aside (`contract-pause outbox`)",
            registry=self.registry,
        )
        self.consumer_lag = Gauge(
            "contract_pause_consumer_lag", "Messages not yet committed by the service's consumer group",
            ["topic", "partition"], registry=self.registry,
        )
        # process_cpu_seconds_total, process_resident_memory_bytes, open fds (Linux): where the
        # machine's cores and memory go, per service (on two cores, the services' latency is mostly
        # a wait for a CPU: docs/benchmarks.md, ninth round).
        ProcessCollector(registry=self.registry)

    async def render(
        self, backlog: Callable[[], Awaitable[int]], lag: Callable[[], Awaitable[dict[TopicPartition, int]]]
    ) -> bytes:
        self.outbox_backlog.set(await backlog())
        for partition, behind in (await lag()).items():
            self.consumer_lag.labels(partition.topic, str(partition.partition)).set(behind)
        return generate_latest(self.registry)


async def group_lag(
    bootstrap_servers: str, group_id: str, topics: list[str], **client_options: object
) -> dict[TopicPartition, int]:
    """End offset minus the group's committed offset, for every partition of `topics`
    (a partition the group never committed counts from its first offset)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, **client_options)
    await admin.start()
    try:
        committed = await admin.list_consumer_group_offsets(group_id)
        descriptions = await admin.describe_topics(topics)
        partitions = [
            TopicPartition(description["topic"], partition["partition"])
            for description in descriptions
            for partition in description["partitions"]
        ]
    finally:
        await admin.close()
    ends, starts = await _offsets(bootstrap_servers, partitions, client_options)
    lag = {}
    for partition in partitions:
        position = committed[partition].offset if partition in committed else starts[partition]
        lag[partition] = max(ends[partition] - max(position, starts[partition]), 0)
    return lag


async def _offsets(
    bootstrap_servers: str, partitions: list[TopicPartition], client_options: dict
) -> tuple[dict[TopicPartition, int], dict[TopicPartition, int]]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap_servers, enable_auto_commit=False, **client_options)
    await consumer.start()
    try:
        return await consumer.end_offsets(partitions), await consumer.beginning_offsets(partitions)
    finally:
        await consumer.stop()
