"""When offsets reach Kafka, against the real broker: soon after a batch is durable, and at a stop,
so a restart reads nothing twice; never for a batch that failed."""

import asyncio
import time

from aiokafka import AIOKafkaConsumer, TopicPartition
from sqlalchemy.exc import OperationalError

from shared import offsets
from shared.offsets import COMMIT_EVERY
from shared.service import Service
from shared.topics import Topic
from tests.integration.shared.echo import echo_service, opening
from tests.support import TopicReader, publish, running


async def committed(bootstrap: str, group: str, topic: Topic) -> int:
    """Offsets the group has committed, summed over the topic's partitions."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = [TopicPartition(topic.name, partition) for partition in range(topic.partitions)]
        return sum([await consumer.committed(partition) or 0 for partition in partitions])
    finally:
        await consumer.stop()


def echo(kafka_bootstrap: str, tmp_path, topics: tuple[Topic, Topic]) -> Service:
    return echo_service(kafka_bootstrap, tmp_path / "echo.db", *topics)


async def test_offsets_follow_applied_batches_within_moments(kafka_bootstrap, echo_topics, tmp_path):
    commands, events = echo_topics
    batch = [opening(f"c-offsets-{number}") for number in range(20)]
    async with TopicReader.opened(kafka_bootstrap, events) as outputs:
        async with running(echo(kafka_bootstrap, tmp_path, echo_topics)) as service:
            await publish(kafka_bootstrap, commands, batch)
            await outputs.wait_for(lambda e: e["causationid"] in {c.id for c in batch}, count=len(batch))
            deadline = time.monotonic() + 10 * COMMIT_EVERY + 5
            while (done := await committed(kafka_bootstrap, service.name, commands)) < len(batch):
                assert time.monotonic() < deadline, f"only {done} of {len(batch)} offsets committed while running"
                await asyncio.sleep(COMMIT_EVERY)


async def test_a_stop_commits_the_last_batch_so_a_restart_reads_nothing_again(
    kafka_bootstrap, echo_topics, tmp_path, monkeypatch
):
    commands, events = echo_topics
    monkeypatch.setattr(offsets, "COMMIT_EVERY", 3600)  # no periodic commit comes round: only the stop's
    batch = [opening(f"c-stop-{number}") for number in range(10)]
    async with TopicReader.opened(kafka_bootstrap, events) as outputs:
        async with running(echo(kafka_bootstrap, tmp_path, echo_topics)) as service:
            await publish(kafka_bootstrap, commands, batch)
            await outputs.wait_for(lambda e: e["causationid"] in {c.id for c in batch}, count=len(batch))
        assert await committed(kafka_bootstrap, service.name, commands) == len(batch)
        async with running(echo(kafka_bootstrap, tmp_path, echo_topics)) as restarted:
            await asyncio.sleep(1)
        assert (restarted.intakes[0].applied, restarted.intakes[0].duplicates) == (0, 0)


async def test_a_batch_the_store_cannot_take_is_not_committed_and_comes_again(kafka_bootstrap, echo_topics, tmp_path):
    commands, events = echo_topics
    command = opening("c-store-down")
    service = echo(kafka_bootstrap, tmp_path, echo_topics)
    intake = service.intakes[0]
    take, refused = intake.take, []

    async def store_down_once(records):  # the store refuses the first batch, as a locked database would
        if not refused:
            refused.append(len(records))
            raise OperationalError("BEGIN", {}, Exception("database is locked"))
        await take(records)

    intake.take = store_down_once
    async with TopicReader.opened(kafka_bootstrap, events) as outputs:
        async with running(service):
            await publish(kafka_bootstrap, commands, [command])
            await outputs.wait_for(lambda e: e["causationid"] == command.id)
            await asyncio.sleep(3 * COMMIT_EVERY)
            assert await committed(kafka_bootstrap, service.name, commands) == 1
    assert refused == [1] and intake.applied == 1
