"""Webhook delivery: every queued delivery is POSTed, signed, until it succeeds or its attempts run out.

Deliveries are rows written in the transaction that created the notification, so none is lost
to a crash; a crash after a successful POST and before it is recorded repeats it (at least once:
receivers deduplicate on X-Webhook-Id). The worker runs beside the consumer and never holds the
write lock while it waits on a subscriber.
"""

import asyncio
import hashlib
import hmac
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx

from shared.logs import get_logger
from shared.store import Store
from services.notification import domain, store

log = get_logger(__name__)

SIGNATURE_HEADER = "X-Signature-SHA256"


@dataclass(frozen=True)
class DeliveryPolicy:
    max_attempts: int = 5
    retry_base_seconds: float = 2.0
    timeout_seconds: float = 10.0
    poll_seconds: float = 0.5
    batch_size: int = 50

    @property
    def lease_seconds(self) -> float:
        """How long a claimed delivery is left alone: longer than any one attempt can take."""
        return 2 * self.timeout_seconds + 5


def signature(secret: str, body: bytes) -> str:
    """The X-Signature-SHA256 value: `sha256=` and the hex HMAC-SHA256 of the raw body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, header: str) -> bool:
    return hmac.compare_digest(signature(secret, body), header)


class WebhookDispatcher:
    def __init__(self, store_: Store, policy: DeliveryPolicy) -> None:
        self._store = store_
        self.policy = policy
        self.delivered = 0
        self.dead_lettered = 0

    async def run(self) -> None:
        """The background task: deliver what is due, forever; a failing round is logged and retried."""
        async with httpx.AsyncClient(timeout=self.policy.timeout_seconds, follow_redirects=False) as client:
            while True:
                try:
                    worked = await self.deliver_due(client)
                except Exception:
                    log.exception("webhook round failed; retrying")
                    worked = 0
                if not worked:
                    await asyncio.sleep(self.policy.poll_seconds)

    async def deliver_due(self, client: httpx.AsyncClient) -> int:
        """One round: claim the due deliveries, POST them concurrently, record each outcome."""
        now = datetime.now(UTC)
        async with self._store.reading() as connection:
            due = await store.due_deliveries(connection, now, self.policy.batch_size)
        if not due:
            return 0
        until = now + timedelta(seconds=self.policy.lease_seconds)
        claimed = []
        async with self._store.transaction() as tx:
            for delivery in due:
                if await store.claim_delivery(tx.connection, delivery.delivery_id, delivery.next_attempt_at, until):
                    claimed.append(delivery)
        errors = await asyncio.gather(*(self._attempt(client, delivery) for delivery in claimed))
        async with self._store.transaction() as tx:
            for delivery, error in zip(claimed, errors, strict=True):
                await self._record(tx.connection, delivery, error)
        return len(claimed)

    async def _attempt(self, client: httpx.AsyncClient, delivery: Any) -> str | None:
        """POST once; None when the subscriber took it (2xx), else why not."""
        attempt = delivery.attempts + 1
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: signature(delivery.secret, delivery.payload),
            "X-Webhook-Id": delivery.notification_id,
            "X-Webhook-Timestamp": str(int(time.time())),
            "X-Webhook-Attempt": str(attempt),
            "User-Agent": "contract-pause-notification",
        }
        try:
            response = await client.post(delivery.url, content=delivery.payload, headers=headers)
        except httpx.HTTPError as error:
            return f"{type(error).__name__}: {error}"[:500]
        except Exception as error:  # a subscriber must never take the worker down
            return type(error).__name__
        return None if response.is_success else f"HTTP {response.status_code}"

    async def _record(self, connection: Any, delivery: Any, error: str | None) -> None:
        attempts = delivery.attempts + 1
        now = datetime.now(UTC)
        where = {"notification_id": delivery.notification_id, "subscription_id": delivery.subscription_id,
                 "host": urlsplit(delivery.url).netloc, "attempt": attempts}
        if error is None:
            await store.delivered(connection, delivery.delivery_id, attempts, now)
            self.delivered += 1
            log.info("webhook delivered", **where)
            return
        delay = domain.retry_delay(attempts, self.policy.max_attempts, self.policy.retry_base_seconds)
        if delay is None:
            await store.dead_letter(connection, delivery, attempts, error, now)
            self.dead_lettered += 1
            log.warning("webhook delivery dead-lettered", error=error, **where)
        else:
            await store.retry_later(connection, delivery.delivery_id, attempts, error, now + timedelta(seconds=delay))
            log.info("webhook attempt failed; will retry", error=error, retry_in_seconds=delay, **where)
