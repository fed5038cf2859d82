"""billing-monitor as its own process, for a test that kills it in the middle of dead-lettering.

    python -m tests.integration.hostile.dying_service

With HOSTILE_DIE_AFTER_DLQ=N the process kills itself with SIGKILL (what kill -9 does) at its
N-th dead-letter publish: once Kafka acknowledged that record (HOSTILE_DIE_MODE=after_ack, the
default: the dead letter is written, the offset is not committed) or as soon as the record was
handed to the producer (before_ack: the dead letter may never be written).
"""

import os
import signal

from aiokafka import AIOKafkaProducer

from services.billing_monitor.app import Settings, build
from shared.service import run


def die_while_dead_lettering(after: int, mode: str) -> None:
    original = AIOKafkaProducer.send
    published = 0

    async def send(self, topic, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202 - aiokafka's signature
        nonlocal published
        acknowledged = await original(self, topic, *args, **kwargs)
        if topic.endswith(".dlq"):
            published += 1
            if published == after:
                if mode == "after_ack":
                    await acknowledged
                os.kill(os.getpid(), signal.SIGKILL)
        return acknowledged

    AIOKafkaProducer.send = send  # type: ignore[method-assign]


if __name__ == "__main__":
    if after := int(os.environ.get("HOSTILE_DIE_AFTER_DLQ", "0")):
        die_while_dead_lettering(after, os.environ.get("HOSTILE_DIE_MODE", "after_ack"))
    run(Settings, build)
