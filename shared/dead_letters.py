"""The dead-letter path: what a consumer cannot use goes to `<topic>.dlq`, untouched, with the reason in headers."""

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from aiokafka import ConsumerRecord

from shared.logs import get_logger
from shared.metrics import Metrics

log = get_logger(__name__)

# Publishes (topic, key, value, headers) and returns once Kafka acknowledged it.
Publish = Callable[[str, bytes | None, bytes, dict[str, str]], Awaitable[object]]

MAX_HEADER_CHARS = 2000


class DeadLetters:
    def __init__(self, publish: Publish, consumer_group: str, metrics: Metrics) -> None:
        self._publish = publish
        self._consumer_group = consumer_group
        self._metrics = metrics

    async def send(self, record: ConsumerRecord, reason: str, detail: str) -> None:
        """Park one message. `detail` must not echo the message's content: logs show it."""
        headers = {
            "x-dlq-reason": reason,
            "x-dlq-error": detail[:MAX_HEADER_CHARS],
            "x-dlq-source-topic": record.topic,
            "x-dlq-source-partition": str(record.partition),
            "x-dlq-source-offset": str(record.offset),
            "x-dlq-consumer-group": self._consumer_group,
            "x-dlq-failed-at": datetime.now(UTC).isoformat(),
        }
        await self._publish(f"{record.topic}.dlq", record.key, record.value or b"", headers)
        self._metrics.dead_lettered.labels(record.topic, reason).inc()
        log.warning(
            "message dead-lettered",
            reason=reason,
            error=detail,
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
        )
