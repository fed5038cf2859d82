"""A secured broker for the security tests: SASL_SSL with SCRAM-SHA-512, ACLs enforced, each service
logging in as itself with exactly the ACLs `contract-pause acls` derives from the topic registry."""

import shutil
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from ops.acls import acl_bindings, apply_acls
from ops.kafka_local import LocalKafka
from shared.events.envelope import Envelope
from shared.settings import BaseServiceSettings
from shared.topics import SERVICES, Topic, ensure_topics, partitions_of
from tests.support import TopicReader

# Writes the input topics, as upstream billing and the marketplace apps do.
PRODUCER = "producer"
# Logs in as a service but lacks one of its ACLs (tests grant it what they need).
UNDERPRIVILEGED = "underprivileged"


@pytest.fixture(scope="session")
async def secured_kafka() -> AsyncIterator[LocalKafka]:
    """One secured local broker for every security test, with the registry's topics and ACLs."""
    if shutil.which("java") is None:
        pytest.skip("the secured-broker tests start a local Kafka JVM; no java on PATH")
    broker = LocalKafka(secured=True, users=[*SERVICES, PRODUCER, UNDERPRIVILEGED], heap="384m")
    broker.start()
    try:
        await ensure_topics(broker.bootstrap_servers, **broker.client_options())
        await apply_acls(broker.bootstrap_servers, acl_bindings([PRODUCER]), **broker.client_options())
        yield broker
    finally:
        broker.stop()


@pytest.fixture
def secured_settings(secured_kafka: LocalKafka, tmp_path: Path) -> Callable[..., BaseServiceSettings]:
    """Settings of a service logging in as `user` (default: the service's own principal), its own SQLite file."""

    def make(settings_class: type[BaseServiceSettings], user: str | None = None, **overrides: Any) -> BaseServiceSettings:
        user = user or settings_class.model_fields["service_name"].default
        return settings_class(
            kafka_bootstrap_servers=secured_kafka.bootstrap_servers,
            kafka_security_protocol="SASL_SSL",
            kafka_sasl_mechanism="SCRAM-SHA-512",
            kafka_sasl_username=user,
            kafka_sasl_password=secured_kafka.password(user),
            kafka_ssl_cafile=secured_kafka.ca_file,
            database_url=f"sqlite:///{tmp_path / user}.db",
            http_api=False,  # these tests reach no HTTP route
            **overrides,
        )

    return make


async def publish_as(kafka: LocalKafka, user: str, topic: Topic, events: list[Envelope]) -> None:
    """Publish keyed as the registry says, logged in as `user`, and wait for the acks."""
    producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap_servers, acks="all", enable_idempotence=True,
                                **kafka.client_options(user))
    await producer.start()
    try:
        for event in events:
            await producer.send_and_wait(topic.name, event.to_json(), key=str(getattr(event.data, topic.key)).encode())
    finally:
        await producer.stop()


@asynccontextmanager
async def reading(kafka: LocalKafka, topic: Topic) -> AsyncIterator[TopicReader]:
    """A TopicReader (tests.support) on the secured broker, as admin, from now on."""
    options = kafka.client_options()
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka.bootstrap_servers, enable_auto_commit=False, **options)
    await consumer.start()
    try:
        partitions = [TopicPartition(topic.name, p)
                      for p in await partitions_of(kafka.bootstrap_servers, topic.name, **kafka.client_options())]
        consumer.assign(partitions)
        for partition, offset in (await consumer.end_offsets(partitions)).items():
            consumer.seek(partition, offset)
        yield TopicReader(consumer)
    finally:
        await consumer.stop()
