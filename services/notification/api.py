"""The HTTP side: each recipient's in-app inbox, and webhook subscriptions with their dead letters."""

import secrets
import uuid
from datetime import UTC, datetime

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from shared.events.decoding import describe
from shared.events.envelope import Id
from shared.logs import get_logger
from shared.store import Store
from services.notification import store

log = get_logger(__name__)

DEFAULT_LIMIT = 50
MAX_LIMIT = 500


class WebhookSubscription(BaseModel):
    model_config = ConfigDict(extra="forbid")

    recipient_id: Id | None = Field(default=None, description="Only this recipient's notifications; omit for all.")
    url: AnyHttpUrl
    secret: str | None = Field(default=None, min_length=16, max_length=200, description="Generated when omitted.")


def routes(store_: Store) -> list[BaseRoute]:
    async def inbox(request: Request) -> Response:
        recipient_id = request.path_params["recipient_id"]
        limit = _limit(request)
        if limit is None:
            return _error(400, f"limit must be an integer from 1 to {MAX_LIMIT}")
        async with store_.reading() as connection:
            notifications, unread = await store.inbox_of(connection, recipient_id, limit)
        return JSONResponse({"recipient_id": recipient_id, "unread": unread, "notifications": notifications})

    async def mark_read(request: Request) -> Response:
        recipient_id = request.path_params["recipient_id"]
        notification_id = request.path_params["notification_id"]
        async with store_.transaction() as tx:
            if not await store.has_notification(tx.connection, recipient_id, notification_id):
                return _error(404, "no such notification for this recipient")
            await store.mark_read(tx.connection, recipient_id, notification_id, datetime.now(UTC))
        return JSONResponse({"notification_id": notification_id, "read": True})

    async def mark_all_read(request: Request) -> Response:
        async with store_.transaction() as tx:
            marked = await store.mark_read(tx.connection, request.path_params["recipient_id"], None, datetime.now(UTC))
        return JSONResponse({"marked": marked})

    async def subscribe(request: Request) -> Response:
        try:
            subscription = WebhookSubscription.model_validate_json(await request.body())
        except ValidationError as error:
            return _error(400, describe(error))
        generated = subscription.secret is None
        secret = secrets.token_urlsafe(32) if generated else subscription.secret
        subscription_id = uuid.uuid4().hex
        url = str(subscription.url)
        async with store_.transaction() as tx:
            await store.add_subscription(
                tx.connection, subscription_id, subscription.recipient_id, url, secret, datetime.now(UTC)
            )
        log.info("webhook subscribed", subscription_id=subscription_id, recipient_id=subscription.recipient_id)
        body = {"subscription_id": subscription_id, "recipient_id": subscription.recipient_id, "url": url}
        if generated:
            body["secret"] = secret  # shown once: the subscriber needs it to check signatures
        return JSONResponse(body, status_code=201)

    async def dead_letters(request: Request) -> Response:
        limit = _limit(request)
        if limit is None:
            return _error(400, f"limit must be an integer from 1 to {MAX_LIMIT}")
        async with store_.reading() as connection:
            return JSONResponse({"dead_letters": await store.dead_letters(connection, limit)})

    return [
        Route("/recipients/{recipient_id}/notifications", inbox, methods=["GET"]),
        Route("/recipients/{recipient_id}/notifications/read", mark_all_read, methods=["POST"]),
        Route("/recipients/{recipient_id}/notifications/{notification_id}/read", mark_read, methods=["POST"]),
        Route("/webhooks", subscribe, methods=["POST"]),
        Route("/webhooks/dead-letters", dead_letters, methods=["GET"]),
    ]


def _limit(request: Request) -> int | None:
    raw = request.query_params.get("limit", str(DEFAULT_LIMIT))
    return int(raw) if raw.isdigit() and 1 <= int(raw) <= MAX_LIMIT else None


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)
