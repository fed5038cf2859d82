"""A service starting while its broker restarts waits for the broker instead of exiting.

The broker answered `wait_for_kafka` a moment ago and is gone when the service's clients connect
(a restart, a failover): what a chaos run saw as an instance exiting 1 with "Unable to bootstrap".
The test's own broker (the session's is shared) is halted between the two.
"""

import asyncio

import pytest
from sqlalchemy import MetaData

import shared.service
from ops.kafka_local import LocalKafka
from shared.service import Service
from shared.settings import BaseServiceSettings
from shared.topics import Topic, ensure_topics

pytestmark = pytest.mark.kafka


async def test_a_service_whose_broker_goes_away_as_it_connects_waits_for_it_again(tmp_path, monkeypatch):
    with LocalKafka() as kafka:
        topic = Topic("restart.commands", key="contract_id", partitions=1)
        await ensure_topics(kafka.bootstrap_servers, topics=(topic,))
        settings = BaseServiceSettings(service_name="restart-test", kafka_bootstrap_servers=kafka.bootstrap_servers,
                                       database_url=f"sqlite:///{tmp_path / 'restart.db'}")
        service = Service(settings, MetaData())
        waits = 0
        waited_for_kafka = shared.service.wait_for_kafka

        async def answered_a_moment_ago(settings: BaseServiceSettings) -> None:
            nonlocal waits
            waits += 1
            if waits > 1:  # the first check passed just before the broker went away
                await waited_for_kafka(settings)

        monkeypatch.setattr(shared.service, "wait_for_kafka", answered_a_moment_ago)
        kafka.halt()
        starting = asyncio.create_task(service.start(http=False))
        await asyncio.sleep(3)
        assert not starting.done(), starting.exception() if starting.done() else None
        assert waits == 2, "the service waits for Kafka again after failing to connect"
        kafka.resume()  # from this (the starting) thread: the broker's JVM dies with the thread that made it
        await asyncio.wait_for(starting, timeout=60)
        try:
            assert await service.broker.ping(timeout=10)
        finally:
            await service.stop()
