"""The session broker answers like Kafka, and LocalKafka leaves no JVM behind."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from ops.kafka_local import LocalKafka, find_stray_brokers

UNKNOWN_TOPIC_OR_PARTITION = 3


async def test_broker_creates_topic_and_round_trips_a_message(
    kafka_bootstrap: str, unique_name: Callable[[str], str]
) -> None:
    topic = unique_name("roundtrip")
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name=topic, num_partitions=3, replication_factor=1)])
        assert topic in await admin.list_topics()
    finally:
        await admin.close()

    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        sent = await producer.send_and_wait(topic, b'{"hello": "kafka"}', key=b"contract-1")
    finally:
        await producer.stop()

    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=kafka_bootstrap,
        group_id=unique_name("group"),
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        batches = await consumer.getmany(timeout_ms=20_000, max_records=1)
    finally:
        await consumer.stop()

    records = [record for partition_records in batches.values() for record in partition_records]
    assert [(r.key, r.value, r.partition, r.offset) for r in records] == [
        (b"contract-1", b'{"hello": "kafka"}', sent.partition, sent.offset)
    ]


async def test_broker_does_not_create_topics_on_demand(
    kafka_bootstrap: str, unique_name: Callable[[str], str]
) -> None:
    topic = unique_name("never-created")
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        # A metadata request naming an unknown topic must not create it (auto.create.topics.enable=false).
        described = await admin.describe_topics([topic])
        assert [(t["topic"], t["error_code"]) for t in described] == [(topic, UNKNOWN_TOPIC_OR_PARTITION)]
        assert topic not in await admin.list_topics()
    finally:
        await admin.close()


def test_local_kafka_stop_leaves_no_jvm() -> None:
    broker = LocalKafka()
    with broker:
        pid = broker.pid
        workdir = broker.workdir
        assert pid in find_stray_brokers(owner_pid=os.getpid())
        host, port = broker.bootstrap_servers.split(":")
        with socket.create_connection((host, int(port)), timeout=5):
            pass

    assert not os.path.exists(f"/proc/{pid}"), f"broker JVM {pid} still exists after stop()"
    assert pid not in find_stray_brokers()
    assert workdir is not None and not workdir.exists()
    assert not broker.is_running()
