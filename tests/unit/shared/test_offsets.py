"""The bookkeeping of offsets between a batch being durable and Kafka having it (against Kafka:
tests/integration/shared/test_offsets.py)."""

from aiokafka import ConsumerRecord, TopicPartition
from aiokafka.errors import CommitFailedError

from shared.offsets import OffsetCommits

P0, P1 = TopicPartition("t", 0), TopicPartition("t", 1)


class Consumer:
    """What OffsetCommits asks of aiokafka's consumer: its partitions, and a commit that may be refused."""

    def __init__(self, held: set[TopicPartition]) -> None:
        self.held = held
        self.commits: list[dict[TopicPartition, int]] = []
        self.refuse = False
        self.stopped = False

    def assignment(self) -> set[TopicPartition]:
        return self.held

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        if self.refuse:
            raise CommitFailedError("the group rebalanced")
        self.commits.append(offsets)

    async def stop(self) -> None:
        self.stopped = True


def record(partition: TopicPartition, offset: int) -> ConsumerRecord:
    return ConsumerRecord(partition.topic, partition.partition, offset, 0, 0, b"k", b"v", None, 1, 1, [])


async def test_the_next_offset_of_each_partition_is_committed_once():
    consumer, offsets = Consumer({P0, P1}), OffsetCommits()
    offsets.taken(consumer, [record(P0, 4), record(P1, 9), record(P0, 5)])
    offsets.taken(consumer, [record(P0, 6)])
    await offsets.flush()
    await offsets.flush()
    assert consumer.commits == [{P0: 7, P1: 10}]


async def test_a_refused_commit_is_tried_again_with_what_came_since():
    consumer, offsets = Consumer({P0, P1}), OffsetCommits()
    offsets.taken(consumer, [record(P0, 1), record(P1, 1)])
    consumer.refuse = True
    await offsets.flush()
    offsets.taken(consumer, [record(P0, 2)])
    consumer.refuse = False
    await offsets.flush()
    assert consumer.commits == [{P0: 3, P1: 2}]


async def test_partitions_given_away_are_not_committed_by_this_member():
    consumer, offsets = Consumer({P0, P1}), OffsetCommits()
    offsets.taken(consumer, [record(P0, 1), record(P1, 1)])
    consumer.held = {P1}
    await offsets.on_partitions_revoked({P0})
    assert consumer.commits == [{P1: 2}]


async def test_stopping_the_consumer_commits_first():
    consumer, offsets = Consumer({P0}), OffsetCommits()
    offsets.taken(consumer, [record(P0, 3)])
    await consumer.stop()
    assert consumer.stopped and consumer.commits == [{P0: 4}]
