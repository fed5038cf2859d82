"""The dead-letter path: what a consumer cannot use goes to `<topic>.dlq` with the reason in headers.

The original bytes go as they were (unless aiokafka could not parse the record: then there are none
to give, and a header says so), unless they cannot fit in a record the producer may send:
then a truncated copy goes, with the original's size and SHA-256, so the partition still moves on.
"""

import hashlib
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from aiokafka import ConsumerRecord

from shared.logs import get_logger
from shared.metrics import Metrics
from shared.unparsable import UnparsableRecord

log = get_logger(__name__)

# Publishes (topic, key, value, headers) and returns once Kafka acknowledged it.
Publish = Callable[[str, bytes | None, bytes, dict[str, str]], Awaitable[object]]

MAX_HEADER_CHARS = 2000
# Well under the producer's 1 MiB request limit, with room for the key and our headers.
MAX_VALUE_BYTES = 512 * 1024
MAX_KEY_BYTES = 1024


class DeadLetters:
    def __init__(self, publish: Publish, consumer_group: str, metrics: Metrics) -> None:
        self._publish = publish
        self._consumer_group = consumer_group
        self._metrics = metrics

    async def send(self, record: ConsumerRecord, reason: str, detail: str) -> None:
        """Park one message. `detail` must not echo the message's content: logs show it."""
        value, key = record.value or b"", record.key
        headers = {
            "x-dlq-reason": reason,
            "x-dlq-error": detail[:MAX_HEADER_CHARS],
            "x-dlq-source-topic": record.topic,
            "x-dlq-source-partition": str(record.partition),
            "x-dlq-source-offset": str(record.offset),
            "x-dlq-consumer-group": self._consumer_group,
            "x-dlq-failed-at": datetime.now(UTC).isoformat(),
        }
        if isinstance(record, UnparsableRecord):  # aiokafka could not read its key and bytes: nor can we
            headers["x-dlq-original-unavailable"] = "true"
        if len(value) > MAX_VALUE_BYTES or (key is not None and len(key) > MAX_KEY_BYTES):
            headers |= {
                "x-dlq-truncated": "true",
                "x-dlq-original-size": str(len(value)),
                "x-dlq-original-sha256": hashlib.sha256(value).hexdigest(),
            }
            value, key = value[:MAX_VALUE_BYTES], key[:MAX_KEY_BYTES] if key is not None else None
        await self._publish(f"{record.topic}.dlq", key, value, headers)
        self._metrics.dead_lettered.labels(record.topic, reason).inc()
        log.warning(
            "message dead-lettered",
            reason=reason,
            error=detail[:MAX_HEADER_CHARS],
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
        )
