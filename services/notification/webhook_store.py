"""notification's webhook tables: who subscribed to which recipient's notifications, each
notification's delivery to each subscriber, and the deliveries that ran out of attempts."""

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.prepared import Prepared
from shared.store import among, insert_ignoring_duplicates
from services.notification.store import notifications, tables, utc

webhook_subscriptions = Table(
    "webhook_subscriptions",
    tables,
    Column("subscription_id", String(64), primary_key=True),
    Column("recipient_id", String(200), nullable=True, index=True),  # None: every recipient
    Column("url", Text, nullable=False),
    Column("secret", String(200), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

webhook_deliveries = Table(
    "webhook_deliveries",
    tables,
    Column("delivery_id", Integer, primary_key=True, autoincrement=True),
    Column("notification_id", String(200), ForeignKey("notifications.notification_id"), nullable=False),
    Column("subscription_id", String(64), ForeignKey("webhook_subscriptions.subscription_id"), nullable=False),
    Column("state", String(20), nullable=False),  # pending, delivered, dead
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False),
    Column("last_error", Text, nullable=True),
    Column("delivered_at", DateTime(timezone=True), nullable=True),
    UniqueConstraint("notification_id", "subscription_id"),
    Index("webhook_deliveries_due", "state", "next_attempt_at"),
)

webhook_dead_letters = Table(
    "webhook_dead_letters",
    tables,
    Column("delivery_id", Integer, primary_key=True),
    Column("notification_id", String(200), nullable=False),
    Column("subscription_id", String(64), nullable=False),
    Column("recipient_id", String(200), nullable=False),
    Column("url", Text, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("last_error", Text, nullable=False),
    Column("failed_at", DateTime(timezone=True), nullable=False),
)


async def add_subscription(
    connection: AsyncConnection, subscription_id: str, recipient_id: str | None, url: str, secret: str, now: datetime
) -> None:
    await connection.execute(
        insert(webhook_subscriptions).values(
            subscription_id=subscription_id, recipient_id=recipient_id, url=url, secret=secret, created_at=now
        )
    )


# Built once, and on SQLite run by the driver (shared.prepared): every notice asks them.
_SUBSCRIBERS = Prepared(
    select(webhook_subscriptions.c.subscription_id, webhook_subscriptions.c.recipient_id).where(
        or_(among(webhook_subscriptions.c.recipient_id), webhook_subscriptions.c.recipient_id.is_(None))
    ).order_by(webhook_subscriptions.c.subscription_id)
)
_ADD_DELIVERIES = insert_ignoring_duplicates(webhook_deliveries)
_DEAD_LETTER = insert_ignoring_duplicates(webhook_dead_letters)


async def subscriptions_for(connection: AsyncConnection, recipient_ids: Collection[str]) -> dict[str, list[str]]:
    """Per recipient, its subscribers: its own and those of every recipient (one statement for all)."""
    wanted = sorted(set(recipient_ids))
    subscribers: dict[str, list[str]] = {recipient_id: [] for recipient_id in wanted}
    for subscription_id, recipient_id in await _SUBSCRIBERS.rows(connection, {"ids": wanted}):
        for recipient in (wanted if recipient_id is None else [recipient_id]):
            subscribers[recipient].append(subscription_id)
    return subscribers


async def add_deliveries(connection: AsyncConnection, deliveries: Sequence[tuple[str, str]], now: datetime) -> None:
    """Queue each (notification, subscriber) delivery, in the transaction that created the notification."""
    if deliveries:
        await _ADD_DELIVERIES.run(connection, [
            {"notification_id": notification_id, "subscription_id": subscription_id,
             "state": "pending", "attempts": 0, "next_attempt_at": now}
            for notification_id, subscription_id in deliveries
        ])


async def due_deliveries(connection: AsyncConnection, now: datetime, limit: int) -> list[Any]:
    query = (
        select(
            webhook_deliveries.c.delivery_id,
            webhook_deliveries.c.notification_id,
            webhook_deliveries.c.subscription_id,
            webhook_deliveries.c.attempts,
            webhook_deliveries.c.next_attempt_at,
            webhook_subscriptions.c.url,
            webhook_subscriptions.c.secret,
            notifications.c.recipient_id,
            notifications.c.payload,
        )
        .join(webhook_subscriptions, webhook_subscriptions.c.subscription_id == webhook_deliveries.c.subscription_id)
        .join(notifications, notifications.c.notification_id == webhook_deliveries.c.notification_id)
        .where(webhook_deliveries.c.state == "pending", webhook_deliveries.c.next_attempt_at <= now)
        .order_by(webhook_deliveries.c.next_attempt_at, webhook_deliveries.c.delivery_id)
        .limit(limit)
    )
    return list(await connection.execute(query))


async def claim_delivery(connection: AsyncConnection, delivery_id: int, seen_due_at: datetime, until: datetime) -> bool:
    """Take a due delivery for one attempt; another worker that saw the same row loses the race."""
    result = await connection.execute(
        update(webhook_deliveries)
        .where(
            webhook_deliveries.c.delivery_id == delivery_id,
            webhook_deliveries.c.state == "pending",
            webhook_deliveries.c.next_attempt_at == seen_due_at,
        )
        .values(next_attempt_at=until)
    )
    return result.rowcount == 1


async def delivered(connection: AsyncConnection, delivery_id: int, attempts: int, now: datetime) -> None:
    await connection.execute(
        update(webhook_deliveries)
        .where(webhook_deliveries.c.delivery_id == delivery_id)
        .values(state="delivered", attempts=attempts, delivered_at=now, last_error=None)
    )


async def retry_later(connection: AsyncConnection, delivery_id: int, attempts: int, error: str, at: datetime) -> None:
    await connection.execute(
        update(webhook_deliveries)
        .where(webhook_deliveries.c.delivery_id == delivery_id)
        .values(attempts=attempts, last_error=error, next_attempt_at=at)
    )


async def dead_letter(connection: AsyncConnection, delivery: Any, attempts: int, error: str, now: datetime) -> None:
    await connection.execute(
        update(webhook_deliveries)
        .where(webhook_deliveries.c.delivery_id == delivery.delivery_id)
        .values(state="dead", attempts=attempts, last_error=error)
    )
    await _DEAD_LETTER.run(connection, {
        "delivery_id": delivery.delivery_id,
        "notification_id": delivery.notification_id,
        "subscription_id": delivery.subscription_id,
        "recipient_id": delivery.recipient_id,
        "url": delivery.url,
        "attempts": attempts,
        "last_error": error,
        "failed_at": now,
    })


async def dead_letters(connection: AsyncConnection, limit: int) -> list[dict[str, Any]]:
    rows = await connection.execute(
        select(webhook_dead_letters).order_by(webhook_dead_letters.c.failed_at.desc()).limit(limit)
    )
    return [
        {
            "delivery_id": row.delivery_id,
            "notification_id": row.notification_id,
            "subscription_id": row.subscription_id,
            "recipient_id": row.recipient_id,
            "url": row.url,
            "attempts": row.attempts,
            "last_error": row.last_error,
            "failed_at": utc(row.failed_at).isoformat(),
        }
        for row in rows
    ]
