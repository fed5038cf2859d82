"""The Kafka broker every service uses, built from settings."""

import logging

from aiokafka import AIOKafkaProducer
from faststream.kafka import KafkaBroker

from shared.settings import BaseServiceSettings


def make_broker(settings: BaseServiceSettings, **options: object) -> KafkaBroker:
    """Nothing we publish may be lost or duplicated by the producer: acks from every replica,
    idempotent producer; topics are never created by accident."""
    return KafkaBroker(
        settings.kafka_bootstrap_servers,
        acks="all",
        enable_idempotence=True,
        allow_auto_create_topics=False,
        security=settings.kafka_security(),
        client_id=settings.service_name,
        linger_ms=5,
        # FastStream's own lines go through our log set-up; per-message access lines only at DEBUG.
        logger=logging.getLogger("contract_pause.kafka"),  # not under "faststream": that one has its own handler
        log_level=logging.DEBUG,
        **options,
    )


def make_outbox_producer(settings: BaseServiceSettings) -> AIOKafkaProducer:
    """The outbox relay's producer: the broker's guarantees (acks=all, idempotent, 5 ms linger)
    without FastStream's per-message work, which cost the relay more than the sending itself."""
    return AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        acks="all",
        enable_idempotence=True,
        client_id=settings.service_name,
        linger_ms=5,
        **settings.kafka_client_options(),
    )
