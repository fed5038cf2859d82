"""Handlers, store, inbox API and webhook dispatcher on a real SQLite file, without a broker."""

import asyncio
import json
from datetime import UTC, datetime

import httpx
from sqlalchemy import delete, select
from standardwebhooks import Webhook

from shared.store import Store, outbox
from shared.topics import BILLING_PROBLEMS, CONTRACT_EVENTS, SUPPORT_REQUESTS, TIME_ENTRIES
from services.notification import handlers, store, webhook_store
from services.notification.webhooks import DeliveryPolicy, WebhookDispatcher
from tests.support import bearer
from tests.unit.notification.conftest import PUBLIC
from tests.unit.notification.factories import ContractStory, problem_opened, support_requested

FREELANCER = bearer("fl-1", "freelancer")
OPERATOR = bearer("ops-1", "operator")


async def take(database: Store, *events) -> None:
    """What the intake does: one transaction, inbox dedupe, then the handler of the event's topic."""
    for event in events:
        topic, handler = {
            "billing": (BILLING_PROBLEMS, handlers.on_billing_problem),
            "contract": (CONTRACT_EVENTS, handlers.on_contract_event),
            "time_entry": (TIME_ENTRIES, handlers.on_time_entry),
            "support": (SUPPORT_REQUESTS, handlers.on_support_request),
        }[event.type.split(".")[0]]
        async with database.transaction() as tx:
            if await tx.first_time(topic, event.id):
                await handler(tx, event)


async def published(database: Store) -> list[dict]:
    async with database.reading() as connection:
        rows = await connection.execute(select(outbox.c.topic, outbox.c.key, outbox.c.payload).order_by(outbox.c.seq))
        return [{"topic": topic, "key": key, **json.loads(payload)} for topic, key, payload in rows]


async def test_each_notice_is_emitted_on_notifications_keyed_by_recipient_and_lands_in_the_inbox(
    notification_store, http
):
    contract = ContractStory("c-1", "client-1", "fl-1")
    await take(notification_store, contract.opened(), contract.paused(("client",), message="Back Monday"))
    records = await published(notification_store)
    assert [(r["topic"], r["key"], r["data"]["kind"]) for r in records] == [
        ("notifications", "fl-1", "contract_paused"), ("notifications", "client-1", "contract_paused"),
    ]
    inbox = (await http.get("/recipients/fl-1/notifications", headers=FREELANCER)).json()
    assert inbox["unread"] == 1
    assert inbox["notifications"][0]["notification_id"] == records[0]["data"]["notification_id"]
    assert "Back Monday" in inbox["notifications"][0]["body"]


async def test_a_replayed_input_notifies_no_one_twice(notification_store):
    contract = ContractStory("c-1", "client-1", "fl-1")
    paused = contract.paused(("platform",))
    await take(notification_store, paused)
    async with notification_store.transaction() as tx:  # as if inbox and view had lost it: the ids still collide
        await tx.connection.execute(delete(store.contract_views))
        await handlers.on_contract_event(tx, paused)
    assert len(await published(notification_store)) == 1
    async with notification_store.reading() as connection:
        assert len((await store.inbox_of(connection, "fl-1", 10))[0]) == 1


async def test_the_pause_history_survives_in_the_store(notification_store):
    contract = ContractStory("c-1", "client-1", "fl-1")
    await take(notification_store, contract.opened(), contract.paused(), contract.rejection(), contract.rejection())
    await take(notification_store, contract.resumed(), contract.paused(("client",)), contract.rejection())
    kinds = [record["data"]["kind"] for record in await published(notification_store)]
    assert kinds.count("time_entry_blocked") == 2
    async with notification_store.reading() as connection:
        view = await store.load_contract(connection, "c-1")
    assert len(view.pauses_began) == 2 and view.pauses_began[0] < view.pauses_began[1]
    assert view.blocked_notice_at is not None
    assert view.holds == {"client"} and view.version == 4


async def test_a_billing_notice_names_the_clients_open_contracts(notification_store):
    first, second = ContractStory("c-1", "client-1", "fl-1"), ContractStory("c-2", "client-1", "fl-2")
    problem = problem_opened("client-1", "payment_failed", "Declined.")
    await take(notification_store, first.opened(), second.opened(), problem)
    (record,) = await published(notification_store)
    assert record["key"] == "client-1" and record["data"]["contract_ids"] == ["c-1", "c-2"]


async def test_the_inbox_is_newest_first_and_counts_what_is_unread(notification_store, http):
    contract = ContractStory("c-1", "client-1", "fl-1")
    await take(notification_store, contract.opened(), contract.paused(), contract.resumed())
    inbox = (await http.get("/recipients/fl-1/notifications", headers=FREELANCER)).json()
    assert [n["kind"] for n in inbox["notifications"]] == ["contract_resumed", "contract_paused"]
    assert inbox["unread"] == 2 and inbox["recipient_id"] == "fl-1"

    newest = inbox["notifications"][0]["notification_id"]
    mark_newest = f"/recipients/fl-1/notifications/{newest}/read"
    assert (await http.post(mark_newest, headers=FREELANCER)).json() == {"notification_id": newest, "read": True}
    inbox = (await http.get("/recipients/fl-1/notifications", headers=FREELANCER)).json()
    assert inbox["unread"] == 1 and inbox["notifications"][0]["read"] is True
    assert (await http.post(mark_newest, headers=FREELANCER)).status_code == 200  # idempotent
    assert (await http.post("/recipients/fl-1/notifications/no-such-id/read", headers=FREELANCER)).status_code == 404
    assert (await http.post("/recipients/fl-1/notifications/read", headers=FREELANCER)).json() == {"marked": 1}
    assert (await http.get("/recipients/fl-1/notifications", headers=FREELANCER)).json()["unread"] == 0
    only_one = await http.get("/recipients/fl-1/notifications?limit=1", headers=FREELANCER)
    assert [n["notification_id"] for n in only_one.json()["notifications"]] == [newest]
    for bad in ("0", "501", "-1", "x", "\u00b2", "1e3", "9" * 30):
        answer = await http.get("/recipients/fl-1/notifications", params={"limit": bad}, headers=FREELANCER)
        assert answer.status_code == 400 and answer.json()["error"] == "bad_request", bad


def flaky(failures: int, seen: list[httpx.Request]) -> httpx.MockTransport:
    def respond(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(500 if len(seen) <= failures else 204)

    return httpx.MockTransport(respond)


async def deliver_until_quiet(dispatcher: WebhookDispatcher, client: httpx.AsyncClient, rounds: int = 40) -> None:
    for _ in range(rounds):
        await dispatcher.deliver_due(client)
        await asyncio.sleep(0.01)


async def subscribe(http: httpx.AsyncClient, url: str, recipient_id: str | None = None) -> dict:
    body = {"url": url} if recipient_id is None else {"url": url, "recipient_id": recipient_id}
    answer = await http.post("/webhooks", json=body, headers=OPERATOR)
    assert answer.status_code == 201, answer.text
    return answer.json()


async def test_a_webhook_is_retried_with_back_off_then_delivered_once_and_signed(notification_store, http, targets):
    secret = (await subscribe(http, "https://hooks.example/in", "fl-1"))["secret"]
    contract = ContractStory("c-1", "client-1", "fl-1")
    await take(notification_store, contract.opened(), contract.paused())
    (record,) = await published(notification_store)
    assert record["data"]["channels"] == ["in_app", "webhook"]

    seen: list[httpx.Request] = []
    dispatcher = WebhookDispatcher(notification_store, DeliveryPolicy(max_attempts=5, retry_base_seconds=0.01), targets)
    async with httpx.AsyncClient(transport=flaky(2, seen)) as client:
        await deliver_until_quiet(dispatcher, client)
    assert len(seen) == 3 and dispatcher.delivered == 1
    assert [request.headers["X-Webhook-Attempt"] for request in seen] == ["1", "2", "3"]
    last = seen[-1]
    # sent to the address that was checked, named as subscribed
    assert last.url == httpx.URL(f"https://{PUBLIC}/in") and last.headers["host"] == "hooks.example"
    assert last.extensions["sni_hostname"] == "hooks.example"
    assert Webhook(secret).verify(last.content, dict(last.headers)) == json.loads(last.content)
    assert json.loads(last.content)["data"]["notification_id"] == last.headers["webhook-id"]
    assert json.loads(last.content)["id"] == record["id"]
    assert not any(name.lower().startswith("x-signature") for name in last.headers)


async def test_a_webhook_that_keeps_failing_is_dead_lettered_after_the_last_attempt(notification_store, http, targets):
    await subscribe(http, "https://down.example/in")  # every recipient
    contract = ContractStory("c-1", "client-1", "fl-1")
    await take(notification_store, contract.opened(), contract.paused())

    seen: list[httpx.Request] = []
    dispatcher = WebhookDispatcher(notification_store, DeliveryPolicy(max_attempts=3, retry_base_seconds=0.01), targets)
    async with httpx.AsyncClient(transport=flaky(1000, seen)) as client:
        await deliver_until_quiet(dispatcher, client)
    assert len(seen) == 3 and dispatcher.dead_lettered == 1
    (dead,) = (await http.get("/webhooks/dead-letters", headers=OPERATOR)).json()["dead_letters"]
    assert dead["recipient_id"] == "fl-1" and dead["attempts"] == 3 and dead["last_error"] == "HTTP 500"
    assert dead["url"] == "https://down.example/in" and "secret" not in dead


async def test_an_unreachable_webhook_is_an_outcome_like_any_other(notification_store, http, targets):
    await subscribe(http, "https://unreachable.example/in")
    contract = ContractStory("c-1", "client-1", "fl-1")
    await take(notification_store, contract.opened(), contract.paused())

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    dispatcher = WebhookDispatcher(notification_store, DeliveryPolicy(max_attempts=2, retry_base_seconds=0.01), targets)
    async with httpx.AsyncClient(transport=httpx.MockTransport(refuse)) as client:
        await deliver_until_quiet(dispatcher, client)
    (dead,) = (await http.get("/webhooks/dead-letters", headers=OPERATOR)).json()["dead_letters"]
    assert dead["last_error"].startswith("ConnectError")


async def test_a_delivery_claimed_by_one_worker_is_not_taken_by_another(notification_store, http):
    await subscribe(http, "https://hooks.example/in")
    contract = ContractStory("c-1", "client-1", "fl-1")
    await take(notification_store, contract.opened(), contract.paused())
    async with notification_store.reading() as connection:
        (due,) = await webhook_store.due_deliveries(connection, datetime.now(UTC), 10)
    later = datetime(2100, 1, 1, tzinfo=UTC)
    async with notification_store.transaction() as tx:
        first = await webhook_store.claim_delivery(tx.connection, due.delivery_id, due.next_attempt_at, later)
        second = await webhook_store.claim_delivery(tx.connection, due.delivery_id, due.next_attempt_at, later)
    assert (first, second) == (True, False)


async def test_a_request_id_is_taken_once_and_the_nudge_is_remembered_in_the_store(notification_store):
    contract = ContractStory("c-1", "client-1", "fl-1")
    await take(notification_store, contract.opened(), problem_opened("client-1", "payment_failed", "Declined."),
               contract.paused(("platform",)))
    first = support_requested("c-1", "fl-1", request_id="req-1")
    await take(notification_store, first, support_requested("c-1", "fl-1", request_id="req-1"),
               support_requested("c-1", "fl-1", request_id="req-2"))
    kinds = [(e["key"], e["data"]["kind"]) for e in await published(notification_store) if e["topic"] == "notifications"]
    assert kinds.count(("client-1", "freelancer_waiting")) == 1
    assert kinds.count(("support", "support_case")) == 2 and kinds.count(("fl-1", "support_request_received")) == 2
    async with notification_store.reading() as connection:
        cases = await store.support_queue(connection, 10)
        outcomes = (await connection.execute(select(store.support_inputs.c.input_id, store.support_inputs.c.outcome)
                                             .order_by(store.support_inputs.c.input_id))).all()
    assert [case["case_id"] for case in cases] == ["req-2", "req-1"]
    assert [case["client_nudged"] for case in cases] == [False, True]
    assert [tuple(row) for row in outcomes] == [("req-1", "support_case"), ("req-2", "support_case")]


async def test_a_refusal_is_recorded_with_its_reason(notification_store):
    await take(notification_store, support_requested("c-nowhere", "fl-1", request_id="req-9"))
    async with notification_store.reading() as connection:
        outcome = (await connection.execute(select(store.support_inputs.c.outcome))).scalar_one()
        assert await store.support_queue(connection, 10) == []
    assert outcome == "refused:unknown_contract"
