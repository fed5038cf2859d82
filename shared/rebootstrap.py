"""Kafka clients that have lost every broker find them again from the bootstrap servers.

aiokafka asks one of the brokers it knows for fresh metadata, or the bootstrap connection it keeps
while the cluster reported no brokers. A client that knows no broker and holds no such connection
(it bootstrapped while a restarting broker reported none, then that connection closed) has nobody
to ask, ever: "Unable to update metadata from []" until the process ends, /health 503 (seen once
in a chaos run across a broker restart; cf. aio-libs/aiokafka#267). Patched, such a client
bootstraps again first, as it did when it started.
"""

from aiokafka.client import AIOKafkaClient, ConnectionGroup
from aiokafka.errors import KafkaConnectionError

from shared.logs import get_logger

log = get_logger(__name__)

_BOOTSTRAP = ("bootstrap", ConnectionGroup.DEFAULT)


def _knows_nobody(client: AIOKafkaClient) -> bool:
    return not client.cluster.brokers() and _BOOTSTRAP not in client._conns


def install() -> None:
    """Patch aiokafka's metadata update once; refuse loudly if its internals are not the ones this was written for."""
    if not all(hasattr(AIOKafkaClient, name) for name in ("bootstrap", "_metadata_update")):
        raise RuntimeError("aiokafka's client changed: review shared/rebootstrap.py for this aiokafka version")
    update = AIOKafkaClient._metadata_update
    if getattr(update, "rebootstraps", False):
        return

    async def _metadata_update(self: AIOKafkaClient, cluster_metadata, topics):  # noqa: ANN001, ANN202 - aiokafka's own
        if _knows_nobody(self):
            log.warning("kafka client knows no broker; bootstrapping again", servers=str(self.hosts))
            try:
                await self.bootstrap()
            except KafkaConnectionError:
                cluster_metadata.failed_update(None)
                return False
        return await update(self, cluster_metadata, topics)

    _metadata_update.rebootstraps = True
    AIOKafkaClient._metadata_update = _metadata_update
