"""The HTTP side: each recipient's in-app inbox, the support queue's cases, and webhook subscriptions
with their dead letters.

Who may call what (DESIGN, "HTTP APIs: who may call them"): a recipient reads and marks read only
their own notifications, `support` reads every inbox and marks only the support queue's;
a webhook subscription for one recipient is made by that recipient or an operator, one for
every recipient only by an operator; dead letters are read by operators and support; support cases
(which may name a client's billing problems) by support only.
"""

import uuid
from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from shared.auth import Caller, caller, refuse
from shared.events.envelope import Id
from shared.http import json_body, problem, query_int
from shared.logs import get_logger
from shared.service import Service
from services.notification import store, webhook_store
from services.notification.domain import SUPPORT_QUEUE
from services.notification.targets import MAX_URL_CHARS, TargetRefused, Targets
from services.notification.webhooks import new_secret

log = get_logger(__name__)

DEFAULT_LIMIT = 50
MAX_LIMIT = 500


class WebhookSubscription(BaseModel):
    model_config = ConfigDict(extra="forbid")

    recipient_id: Id | None = Field(default=None, description="Only this recipient's notifications; omit for all.")
    url: str = Field(max_length=MAX_URL_CHARS, description="https, on a public address.")


def owns(who: Caller, recipient_id: str) -> bool:
    """The caller is this recipient (the support queue belongs to support)."""
    if recipient_id == SUPPORT_QUEUE:
        return who.role == "support"
    return who.subject == recipient_id


def declare(service: Service, targets: Targets) -> None:
    """The notification API, on the service's routes."""
    store_ = service.store

    async def inbox(request: Request) -> Response:
        recipient_id = request.path_params["recipient_id"]
        who = caller(request)
        if not (owns(who, recipient_id) or who.role == "support"):
            raise refuse(403, "you may read only your own notifications")
        limit = query_int(request, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
        async with store_.reading() as connection:
            notifications, unread = await store.inbox_of(connection, recipient_id, limit)
        return JSONResponse({"recipient_id": recipient_id, "unread": unread, "notifications": notifications})

    async def mark_read(request: Request) -> Response:
        recipient_id = _own_recipient(request)
        notification_id = request.path_params["notification_id"]
        async with store_.transaction() as tx:
            if not await store.has_notification(tx.connection, recipient_id, notification_id):
                return problem(404, "not_found", "no such notification for this recipient")
            await store.mark_read(tx.connection, recipient_id, notification_id, datetime.now(UTC))
        return JSONResponse({"notification_id": notification_id, "read": True})

    async def mark_all_read(request: Request) -> Response:
        recipient_id = _own_recipient(request)
        async with store_.transaction() as tx:
            marked = await store.mark_read(tx.connection, recipient_id, None, datetime.now(UTC))
        return JSONResponse({"marked": marked})

    async def subscribe(request: Request) -> Response:
        subscription: WebhookSubscription = await json_body(request, WebhookSubscription)
        who, recipient_id = caller(request), subscription.recipient_id
        if recipient_id is None and who.role != "operator":
            raise refuse(403, "only an operator may subscribe to every recipient")
        if recipient_id is not None and not (owns(who, recipient_id) or who.role == "operator"):
            raise refuse(403, "you may subscribe only to your own notifications")
        try:
            target = await targets.check(subscription.url)
        except TargetRefused as refused:
            return problem(422, "target_refused", str(refused))
        secret = new_secret()
        subscription_id = uuid.uuid4().hex
        async with store_.transaction() as tx:
            await webhook_store.add_subscription(
                tx.connection, subscription_id, subscription.recipient_id, subscription.url, secret, datetime.now(UTC)
            )
        log.info("webhook subscribed", subscription_id=subscription_id, recipient_id=subscription.recipient_id,
                 host=target.url.host, by=who.subject)
        body = {
            "subscription_id": subscription_id, "recipient_id": subscription.recipient_id, "url": subscription.url,
            "secret": secret,  # shown this once: the subscriber needs it to verify signatures
        }
        return JSONResponse(body, status_code=201)

    async def dead_letters(request: Request) -> Response:
        limit = query_int(request, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
        async with store_.reading() as connection:
            return JSONResponse({"dead_letters": await webhook_store.dead_letters(connection, limit)})

    async def support_cases(request: Request) -> Response:
        """GET /support/cases: newest first; `contract_id` narrows them to one contract."""
        limit = query_int(request, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
        contract_id = request.query_params.get("contract_id") or None
        async with store_.reading() as connection:
            return JSONResponse({"cases": await store.support_queue(connection, limit, contract_id)})

    readers = {"freelancer", "client", "support"}
    service.api("/recipients/{recipient_id}/notifications", inbox, allow=readers)
    service.api("/recipients/{recipient_id}/notifications/read", mark_all_read, allow=readers, methods=("POST",))
    service.api("/recipients/{recipient_id}/notifications/{notification_id}/read", mark_read, allow=readers,
                methods=("POST",))
    service.api("/webhooks", subscribe, allow={"freelancer", "client", "support", "operator"}, methods=("POST",))
    service.api("/webhooks/dead-letters", dead_letters, allow={"operator", "support"})
    service.api("/support/cases", support_cases, allow={"support"})


def _own_recipient(request: Request) -> str:
    recipient_id = request.path_params["recipient_id"]
    if not owns(caller(request), recipient_id):
        raise refuse(403, "only the recipient marks their notifications read")
    return recipient_id
