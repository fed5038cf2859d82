"""The Kafka broker every service uses, built from settings."""

import asyncio
import itertools
import logging
import ssl

from aiokafka import AIOKafkaProducer
from aiokafka.conn import create_conn
from aiokafka.errors import (
    AuthenticationFailedError,
    AuthenticationMethodNotSupported,
    KafkaError,
    SaslAuthenticationFailed,
    UnsupportedSaslMechanismError,
)
from faststream.kafka import KafkaBroker

from shared import rebootstrap
from shared.logs import get_logger
from shared.settings import BaseServiceSettings

log = get_logger(__name__)
rebootstrap.install()


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
        # Our one handler takes the whole batch as it is (`shared.consumer`). With FastStream's
        # dependency injection on, finding that argument went through a thread pool on every batch.
        apply_types=False,
        **options,
    )


# The relay sends a committed batch at once: waiting for more to fill it only delays every hop by
# this much. Under load batches still form on the wire while a request is in flight.
OUTBOX_LINGER_MS = 0


def make_outbox_producer(settings: BaseServiceSettings) -> AIOKafkaProducer:
    """The outbox relay's producer: the broker's guarantees (acks=all, idempotent) without
    FastStream's per-message work, which cost the relay more than the sending itself."""
    return AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        acks="all",
        enable_idempotence=True,
        client_id=settings.service_name,
        linger_ms=OUTBOX_LINGER_MS,
        **settings.kafka_client_options(),
    )


class KafkaRefusedUs(Exception):
    """Kafka answered but will not let us in: a configuration error, not an outage."""


# Answers that retrying cannot change: wrong credentials, a mechanism the broker does not offer,
# a certificate we do not trust.
_REFUSALS = (SaslAuthenticationFailed, AuthenticationFailedError, UnsupportedSaslMechanismError,
             AuthenticationMethodNotSupported, ssl.SSLCertVerificationError)


async def wait_for_kafka(settings: BaseServiceSettings, *, first_delay: float = 0.5, max_delay: float = 30.0) -> None:
    """Return once a bootstrap server accepts our connection (TLS and SASL included). While the
    broker is unreachable, retry with backoff and a log line per attempt; a refusal of our
    credentials or certificate ends the process with one line that says what to fix."""
    options = settings.kafka_client_options()
    delay = first_delay
    for attempt in itertools.count(1):
        problems = []
        for server in settings.kafka_bootstrap_servers.split(","):
            host, _, port = server.strip().rpartition(":")
            try:
                connection = await create_conn(host, int(port), client_id=settings.service_name,
                                               request_timeout_ms=10_000, **options)
            except _REFUSALS as refusal:
                message = (f"{settings.service_name}: kafka at {server.strip()} refused us: "
                           f"{type(refusal).__name__}; check KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD, "
                           "KAFKA_SASL_MECHANISM and KAFKA_SSL_CAFILE")
                log.error("kafka refused our credentials", error=type(refusal).__name__, server=server.strip())
                raise KafkaRefusedUs(message) from None
            except (OSError, asyncio.TimeoutError, KafkaError) as error:
                problems.append(f"{server.strip()}: {type(error).__name__}")
                continue
            connection.close()
            if attempt > 1:
                log.info("kafka reachable", attempt=attempt)
            return
        log.warning("kafka not reachable; waiting", attempt=attempt, retry_in_seconds=delay, errors=problems)
        await asyncio.sleep(delay)
        delay = min(delay * 2, max_delay)
