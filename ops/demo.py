"""`contract-pause demo`: the story the product exists for, played against the running system.

A client with two hourly contracts; time is logged; the client's payment fails; both contracts
pause; new time is refused; everyone is told (the freelancers without billing details); a
freelancer presses Get Support and the client is nudged on her behalf; the client also pauses
one contract; the payment method is updated; one contract resumes, the other stays paused until
the client resumes it; time is accepted again. Each step waits for its outcome on the real topics
and the timeline of everything that happened is printed as it happens.
On the way a freelancer reads their inbox over notification's HTTP API with their own token (a
development token, ops.dev_tokens), and a request without one is refused.
"""

import asyncio
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from ops import dev_tokens
from ops.operate import billing_event, contract_command, parse_event, publish, support_event, time_entry
from ops.timeline import Filter, summary
from shared.topics import (
    BILLING_EVENTS, CONTRACT_COMMANDS, MAIN_TOPICS, SUPPORT_REQUESTS, TIME_ENTRIES_SUBMITTED, partitions_of,
)

Event = dict[str, Any]
BILLING_WORDS = ("payment_failed", "payment_method", "declined", "insufficient", "decline", "card")


class StoryFailed(AssertionError):
    pass


@dataclass
class Watch:
    """Everything published on the main topics about one client, from the moment the watch began."""

    bootstrap: str
    about: Filter
    say: Callable[[str], None]
    events: list[tuple[str, Event]] = field(default_factory=list)
    positions: dict[str, tuple[TopicPartition, int]] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)
    _consumer: AIOKafkaConsumer | None = None

    async def __aenter__(self) -> "Watch":
        self._consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, enable_auto_commit=False)
        await self._consumer.start()
        partitions = [TopicPartition(t.name, p) for t in MAIN_TOPICS for p in await partitions_of(self.bootstrap, t.name)]
        self._consumer.assign(partitions)
        for partition, offset in (await self._consumer.end_offsets(partitions)).items():
            self._consumer.seek(partition, offset)
        return self

    async def __aexit__(self, *_: object) -> None:
        await self._consumer.stop()

    async def expect(self, what: str, where: Callable[[str, Event], bool], count: int = 1, timeout: float = 30) -> list[Event]:
        deadline = time.monotonic() + timeout
        while len(found := [e for t, e in self.events if where(t, e)]) < count:
            if time.monotonic() > deadline:
                raise StoryFailed(f"waited {timeout:.0f}s for {count} × {what}, saw {len(found)}")
            await self._poll()
        return found

    async def applied_by(self, group: str, event: Event, timeout: float = 30) -> None:
        """Wait until a consumer group has committed past `event`: the service has applied it.
        (A service reads each topic on its own; this is how a client knows it may rely on it.)"""
        partition, offset = self.positions[event["id"]]
        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap)
        await admin.start()
        try:
            deadline = time.monotonic() + timeout
            while (committed := (await admin.list_consumer_group_offsets(group)).get(partition)) is None \
                    or committed.offset <= offset:
                if time.monotonic() > deadline:
                    raise StoryFailed(f"{group} did not apply {event['type']} within {timeout:.0f}s")
                await asyncio.sleep(0.05)
        finally:
            await admin.close()

    async def _poll(self) -> None:
        batches = await self._consumer.getmany(timeout_ms=200)
        for record in sorted((r for rs in batches.values() for r in rs), key=lambda r: r.timestamp):
            event = parse_event(record.value)
            if event and self.about.keeps(event):
                self.events.append((record.topic, event))
                self.positions[event.get("id")] = (TopicPartition(record.topic, record.partition), record.offset)
                elapsed = time.monotonic() - self.started
                self.say(f"  {elapsed * 1000:8.0f} ms  {record.topic:<23} {summary(event)}")


def of_type(event_type: str, **data: Any) -> Callable[[str, Event], bool]:
    def matches(_topic: str, event: Event) -> bool:
        return event.get("type") == event_type and all(event["data"].get(k) == v for k, v in data.items())

    return matches


def notice(kind: str, recipient: str) -> Callable[[str, Event], bool]:
    return of_type("notification.created", kind=kind, recipient_id=recipient)


async def play(
    bootstrap: str, say: Callable[[str], None] = print, notification_url: str | None = None
) -> list[tuple[str, Event]]:
    """Play the story; raises StoryFailed at the first outcome that does not come. Returns the timeline.
    With `notification_url`, a freelancer also reads their inbox over HTTP with a token."""
    run = uuid.uuid4().hex[:6]
    client, alice, bob = f"client-{run}", f"alice-{run}", f"bob-{run}"
    design, backend = f"design-{run}", f"backend-{run}"
    clock = datetime.now(UTC).replace(microsecond=0)
    step = _Steps(say)

    async with Watch(bootstrap, Filter(client=client), say) as watch:
        async def send(topic, event) -> None:  # noqa: ANN001
            await publish(bootstrap, topic, event)

        async def log_time(contract: str, freelancer: str, hours_ago: float, minutes: int) -> str:
            start = clock - timedelta(hours=hours_ago)
            entry = time_entry({"contract_id": contract, "freelancer_id": freelancer, "started_at": start,
                                "ended_at": start + timedelta(minutes=minutes), "source": "tracker",
                                "memo": "demo work"})
            await send(TIME_ENTRIES_SUBMITTED, entry)
            return entry.data.entry_id

        step(f"{client} opens two hourly contracts: {design} with {alice}, {backend} with {bob}")
        for contract, freelancer in ((design, alice), (backend, bob)):
            await send(CONTRACT_COMMANDS, contract_command("open", {"contract_id": contract, "client_id": client,
                                                                    "freelancer_id": freelancer, "kind": "hourly"}))
        for opened in await watch.expect("contract.opened", of_type("contract.opened", status="active"), 2):
            await watch.applied_by("time-tracking", opened)

        step("Both freelancers log an hour of work")
        first = await log_time(design, alice, 3, 60)
        await log_time(backend, bob, 3, 60)
        await watch.expect("time accepted", of_type("time_entry.accepted", payment_protection="eligible"), 2)

        step(f"{client}'s card payment fails")
        await send(BILLING_EVENTS, billing_event("payment_failed", {
            "client_id": client, "payment_method_id": "pm-visa-4242", "attempt": 1,
            "decline_code": "insufficient_funds", "amount_due": 480.00}))
        for paused in await watch.expect("both contracts paused", of_type("contract.paused", holds=["platform"]), 2):
            await watch.applied_by("time-tracking", paused)
        await watch.expect("the client's billing notice", notice("billing_action_required", client))
        for freelancer in (alice, bob):
            await watch.expect(f"{freelancer}'s pause notice", notice("contract_paused", freelancer))
        if notification_url:
            step(f"{alice} opens her inbox in the app (HTTP, with her own token)")
            await _read_inbox_over_http(notification_url, alice, bob, say)

        step(f"{alice} tries to log time during the pause")
        await log_time(design, alice, 0.5, 20)
        await watch.expect("the entry refused", of_type("time_entry.rejected", reason="contract_paused"))
        await watch.expect(f"{alice} told the time is blocked", notice("time_entry_blocked", alice))

        step(f"{client} does not answer; {alice} presses Get Support on {design}")
        await send(SUPPORT_REQUESTS, support_event("requested", {
            "contract_id": design, "requester_id": alice, "topic": "contract_paused",
            "message": "My client doesn't answer; could you reach out to them?"}))
        await watch.expect(f"{alice} told support has her request", notice("support_request_received", alice))
        await watch.expect("a case in the support queue", notice("support_case", "support"))
        await watch.expect(f"{client} nudged: their freelancer is waiting", notice("freelancer_waiting", client))
        if notification_url:
            await _read_support_queue(notification_url, design, say)

        step(f"{client} also pauses {backend} themselves")
        await send(CONTRACT_COMMANDS, contract_command("pause", {"contract_id": backend, "actor_id": client,
                                                                 "message": "Waiting for the new spec"}))
        await watch.expect("both holds on backend", of_type("contract.holds_changed", contract_id=backend))

        step(f"{client} updates the payment method")
        await send(BILLING_EVENTS, billing_event("payment_method_updated", {"client_id": client,
                                                                            "payment_method_id": "pm-visa-1881"}))
        (resumed,) = await watch.expect(f"{design} resumed", of_type("contract.resumed", contract_id=design))
        await watch.expect(f"{backend} still paused by the client",
                           of_type("contract.holds_changed", contract_id=backend, holds=["client"]))
        await watch.expect("the client told one contract stays paused", notice("still_paused", client))

        step(f"{alice} uploads this morning's time again; {bob} cannot yet")
        await watch.applied_by("time-tracking", resumed)
        await log_time(design, alice, 0.2, 10)
        await log_time(backend, bob, 0.2, 10)
        await watch.expect("alice's new entry accepted", of_type("time_entry.accepted", contract_id=design), 2)
        await watch.expect("bob's entry refused", of_type("time_entry.rejected", contract_id=backend))

        step(f"{client} resumes {backend}")
        await send(CONTRACT_COMMANDS, contract_command("resume", {"contract_id": backend, "actor_id": client}))
        (resumed,) = await watch.expect(f"{backend} resumed", of_type("contract.resumed", contract_id=backend))
        await watch.expect(f"{bob} told work can continue", notice("contract_resumed", bob))
        await watch.applied_by("time-tracking", resumed)
        await log_time(backend, bob, 0.1, 5)
        await watch.expect("bob's entry accepted", of_type("time_entry.accepted", contract_id=backend), 2)

        _freelancers_heard_no_billing_details(watch.events, {alice, bob})
        if revoked := [e for _, e in watch.events if e["type"] == "time_entry.protection_revoked"]:
            raise StoryFailed(f"time logged before the pause lost its protection: {revoked}")
        step(f"Done in {time.monotonic() - watch.started:.1f} s; the first hour ({first}) stayed eligible.")
        return watch.events


async def _read_inbox_over_http(base_url: str, freelancer: str, other: str, say: Callable[[str], None]) -> None:
    """The freelancer reads their own notices, without billing specifics; without a token, or for
    someone else's inbox, the API refuses."""
    inbox = f"{base_url}/recipients/{freelancer}/notifications"
    async with httpx.AsyncClient(timeout=10) as http:
        own = await http.get(inbox, headers=dev_tokens.headers(freelancer, "freelancer"))
        anonymous = await http.get(inbox)
        others = await http.get(f"{base_url}/recipients/{other}/notifications",
                                headers=dev_tokens.headers(freelancer, "freelancer"))
    if own.status_code != 200:
        raise StoryFailed(f"{freelancer} could not read her inbox: {own.status_code} {own.text[:200]}")
    notices = own.json()["notifications"]
    if not any(n["kind"] == "contract_paused" for n in notices):
        raise StoryFailed(f"{freelancer}'s inbox has no pause notice: {[n['kind'] for n in notices]}")
    for n in notices:
        if leaked := [word for word in BILLING_WORDS if word in f"{n['title']} {n['body']}".lower()]:
            raise StoryFailed(f"{freelancer}'s inbox mentions {leaked}: {n['title']!r}")
    say(f"  GET /recipients/{freelancer}/notifications with her token: {own.status_code}, "
        f"{own.json()['unread']} unread, newest: {notices[0]['title']!r} (no billing specifics)")
    if anonymous.status_code != 401:
        raise StoryFailed(f"the inbox answered {anonymous.status_code} to a request without a token")
    say(f"  the same request without a token: {anonymous.status_code} {anonymous.json().get('error')}")
    if others.status_code not in (403, 404):
        raise StoryFailed(f"{freelancer} read {other}'s inbox: {others.status_code}")
    say(f"  {freelancer}'s token on {other}'s inbox: {others.status_code} {others.json().get('error')}")


async def _read_support_queue(base_url: str, contract: str, say: Callable[[str], None]) -> None:
    """Support (the platform) sees the case with the client's open problem kinds."""
    async with httpx.AsyncClient(timeout=10) as http:
        cases = await http.get(f"{base_url}/support/cases", params={"contract_id": contract},
                               headers=dev_tokens.headers("support-demo", "support"))
    if cases.status_code != 200 or not cases.json()["cases"]:
        raise StoryFailed(f"support could not read the case: {cases.status_code} {cases.text[:200]}")
    case = cases.json()["cases"][0]
    say(f"  GET /support/cases as support: {case['requester_role']} {case['requester_id']} about "
        f"{case['topic']}, client's open problems {case['client_open_problems']}, "
        f"client nudged: {case['client_nudged']}")


def _freelancers_heard_no_billing_details(events: list[tuple[str, Event]], freelancers: set[str]) -> None:
    for _topic, event in events:
        data = event["data"]
        if event["type"] == "notification.created" and data["recipient_id"] in freelancers:
            text = f"{data['title']} {data['body']}".lower()
            if leaked := [word for word in BILLING_WORDS if word in text]:
                raise StoryFailed(f"a freelancer notice mentions {leaked}: {data['title']!r}")


class _Steps:
    def __init__(self, say: Callable[[str], None]) -> None:
        self._say = say
        self._number = 0

    def __call__(self, text: str) -> None:
        self._number += 1
        self._say(f"\n{self._number}. {text}")


def main(bootstrap: str, notification_url: str) -> int:
    try:
        dev_tokens.current_secret()
    except dev_tokens.NoSecret as missing:
        print(f"contract-pause demo: {missing}")
        return 1
    try:
        asyncio.run(play(bootstrap, notification_url=notification_url))
    except StoryFailed as failure:
        print(f"\nThe story did not play out: {failure}")
        return 1
    except httpx.TransportError as error:
        print(f"\nThe story did not play out: notification's API at {notification_url} does not answer "
              f"({type(error).__name__}); is `contract-pause run` running?")
        return 1
    return 0
