"""Fixtures for tests of the shared mechanism: a pair of throwaway topics per test."""

import uuid

import pytest

from shared.topics import Topic, ensure_topics


@pytest.fixture
async def echo_topics(kafka_bootstrap: str) -> tuple[Topic, Topic]:
    suffix = uuid.uuid4().hex[:8]
    commands = Topic(f"test.commands.{suffix}", key="contract_id", partitions=2, has_dlq=True)
    events = Topic(f"test.events.{suffix}", key="contract_id", partitions=2)
    await ensure_topics(kafka_bootstrap, topics=(commands, commands.dlq, events))
    return commands, events
