"""A Kafka client that knows no broker any more asks the bootstrap servers again (shared.rebootstrap).

The state is made by hand: a chaos run met it once across a broker restart and it is not
reproducible on demand. Against the real broker, without the patch the client stays stuck.
"""

import pytest
from aiokafka.client import AIOKafkaClient, ConnectionGroup

import shared.broker  # noqa: F401 - installs the patch, as every service does

pytestmark = pytest.mark.kafka


async def test_a_client_that_lost_every_broker_finds_them_again(kafka_bootstrap):
    client = AIOKafkaClient(bootstrap_servers=kafka_bootstrap)
    await client.bootstrap()
    try:
        client.cluster._brokers = {}  # what the broker restart left it with
        client._conns.pop(("bootstrap", ConnectionGroup.DEFAULT), None)
        assert client.get_random_node() is None
        assert await client.force_metadata_update()
        assert client.get_random_node() is not None
    finally:
        await client.close()
