"""Webhook delivery: every queued delivery is POSTed, signed, until it succeeds or its attempts run out.

Deliveries are rows written in the transaction that created the notification, so none is lost
to a crash; a crash after a successful POST and before it is recorded repeats it (at least once:
receivers deduplicate on `webhook-id`). The worker runs beside the consumer and never holds the
write lock while it waits on a subscriber.

Payloads are signed as the Standard Webhooks spec says (`webhook-id` is the notification id,
`webhook-timestamp`, `webhook-signature: v1,<base64 HMAC-SHA256>`), with the subscription's own
`whsec_` secret, so receivers check them with `standardwebhooks.Webhook(secret).verify(...)`.
Before each attempt the target is resolved and checked again, and the request goes to the
checked address (TLS still verifies the subscribed name); redirects are not followed, each
attempt has a deadline, and at most a small part of the answer is read.
"""

import asyncio
import base64
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
from standardwebhooks import Webhook

from shared.logs import get_logger
from shared.store import Store
from services.notification import domain, webhook_store
from services.notification.targets import TargetRefused, Targets

log = get_logger(__name__)

SECRET_PREFIX = "whsec_"
MAX_RESPONSE_BYTES = 64 * 1024
MAX_CONNECT_SECONDS = 5.0


def new_secret() -> str:
    """A subscription's signing secret: `whsec_` and 32 random bytes in base64 (Standard Webhooks)."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode("ascii")


def signed_headers(secret: str, notification_id: str, body: bytes, now: datetime) -> dict[str, str]:
    signature = Webhook(secret).sign(notification_id, now, body.decode("utf-8"))
    return {
        "webhook-id": notification_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signature,
    }


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

    def client(self, **options: Any) -> httpx.AsyncClient:
        """The client deliveries go through: no redirects, no proxies from the environment, and no
        reused connections (a connection made for one name must not carry another's request)."""
        timeout = httpx.Timeout(self.timeout_seconds, connect=min(self.timeout_seconds, MAX_CONNECT_SECONDS))
        return httpx.AsyncClient(
            timeout=timeout, follow_redirects=False, trust_env=False,
            limits=httpx.Limits(max_keepalive_connections=0), **options,
        )


class WebhookDispatcher:
    def __init__(self, store_: Store, policy: DeliveryPolicy, targets: Targets) -> None:
        self._store = store_
        self.policy = policy
        self.targets = targets
        self.delivered = 0
        self.dead_lettered = 0

    async def run(self) -> None:
        """The background task: deliver what is due, forever; a failing round is logged and retried."""
        async with self.policy.client() as client:
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
            due = await webhook_store.due_deliveries(connection, now, self.policy.batch_size)
        if not due:
            return 0
        until = now + timedelta(seconds=self.policy.lease_seconds)
        claimed = []
        async with self._store.transaction() as tx:
            for delivery in due:
                seen_due_at = delivery.next_attempt_at
                if await webhook_store.claim_delivery(tx.connection, delivery.delivery_id, seen_due_at, until):
                    claimed.append(delivery)
        errors = await asyncio.gather(*(self._attempt(client, delivery) for delivery in claimed))
        async with self._store.transaction() as tx:
            for delivery, error in zip(claimed, errors, strict=True):
                await self._record(tx.connection, delivery, error)
        return len(claimed)

    async def _attempt(self, client: httpx.AsyncClient, delivery: Any) -> str | None:
        """POST once; None when the subscriber took it (2xx), else why not."""
        try:
            async with asyncio.timeout(self.policy.timeout_seconds):
                target = await self.targets.check(delivery.url)
                headers = {
                    **target.headers,
                    "Content-Type": "application/json",
                    "Accept-Encoding": "identity",
                    **signed_headers(delivery.secret, delivery.notification_id, delivery.payload, datetime.now(UTC)),
                    "X-Webhook-Attempt": str(delivery.attempts + 1),
                    "User-Agent": "contract-pause-notification",
                }
                request = client.build_request(
                    "POST", target.pinned_url, content=delivery.payload, headers=headers, extensions=target.extensions
                )
                response = await client.send(request, stream=True, follow_redirects=False)
                try:
                    await _read_some(response, MAX_RESPONSE_BYTES)
                finally:
                    await response.aclose()
        except TargetRefused as refused:
            return f"target refused: {refused}"[:500]
        except TimeoutError:
            return f"timed out after {self.policy.timeout_seconds}s"
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
            await webhook_store.delivered(connection, delivery.delivery_id, attempts, now)
            self.delivered += 1
            log.info("webhook delivered", **where)
            return
        delay = domain.retry_delay(attempts, self.policy.max_attempts, self.policy.retry_base_seconds)
        if delay is None:
            await webhook_store.dead_letter(connection, delivery, attempts, error, now)
            self.dead_lettered += 1
            log.warning("webhook delivery dead-lettered", error=error, **where)
        else:
            retry_at = now + timedelta(seconds=delay)
            await webhook_store.retry_later(connection, delivery.delivery_id, attempts, error, retry_at)
            log.info("webhook attempt failed; will retry", error=error, retry_in_seconds=delay, **where)


async def _read_some(response: httpx.Response, limit: int) -> None:
    """Read the answer up to `limit` bytes; the rest is never read (the connection is closed)."""
    if response.is_stream_consumed:  # already read in full by the transport (a test's mock)
        return
    received = 0
    async for chunk in response.aiter_raw():  # raw: a compressed answer is not inflated
        received += len(chunk)
        if received >= limit:
            return
