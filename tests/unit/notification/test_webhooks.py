"""Webhook delivery over real sockets on this machine: the target checked again at each attempt and
connected to as checked, no redirects, a deadline, a bounded answer, TLS verified by name."""

import asyncio

import httpx
import pytest
from standardwebhooks import Webhook

from services.notification.targets import Targets
from services.notification.webhooks import MAX_RESPONSE_BYTES, DeliveryPolicy, WebhookDispatcher
from tests.integration.notification.receiver import REDIRECTED, receiving, throwaway_tls
from tests.support import bearer
from tests.unit.notification.conftest import PUBLIC
from tests.unit.notification.factories import ContractStory
from tests.unit.notification.test_handlers import deliver_until_quiet, subscribe, take

POLICY = DeliveryPolicy(max_attempts=2, retry_base_seconds=0.01, timeout_seconds=2)


@pytest.fixture
def targets(dns) -> Targets:
    """The API of these tests lets subscriptions point at this machine, where the receivers are."""
    return Targets(allow_private=True, resolve=dns)


async def a_notification_for(notification_store, freelancer_id: str = "fl-1", contract_id: str = "c-1") -> None:
    contract = ContractStory(contract_id, "client-1", freelancer_id)
    await take(notification_store, contract.opened(), contract.paused())


async def dead_letters(http: httpx.AsyncClient) -> list[dict]:
    return (await http.get("/webhooks/dead-letters", headers=bearer("ops-1", "operator"))).json()["dead_letters"]


async def test_a_name_that_resolves_to_this_machine_at_delivery_is_never_sent_to(notification_store, http, dns):
    strict = Targets(resolve=dns)
    async with receiving(lambda _path, _calls: 200) as receiver:
        url = f"https://rebind.example:{receiver.port}/hook"
        dns.answers["rebind.example"] = [PUBLIC]  # what it answers while the subscription is checked
        await strict.check(url)
        await subscribe(http, url, "fl-1")
        dns.answers["rebind.example"] = ["127.0.0.1"]  # and then: DNS rebinding
        await a_notification_for(notification_store)

        dispatcher = WebhookDispatcher(notification_store, POLICY, strict)
        async with POLICY.client() as client:
            await deliver_until_quiet(dispatcher, client, rounds=10)
    assert receiver.calls == [] and dispatcher.dead_lettered == 1 and dispatcher.delivered == 0
    (dead,) = await dead_letters(http)
    assert dead["last_error"].startswith("target refused: rebind.example (127.0.0.1) is a loopback address")
    assert dns.asked.count("rebind.example") == 2 + POLICY.max_attempts  # checked again at every attempt


async def test_a_redirect_is_not_followed(notification_store, http, targets):
    async with receiving(lambda _path, _calls: 307) as receiver:
        await subscribe(http, receiver.url("/hook"), "fl-1")
        await a_notification_for(notification_store)
        dispatcher = WebhookDispatcher(notification_store, POLICY, targets)
        async with POLICY.client() as client:
            await deliver_until_quiet(dispatcher, client, rounds=10)
    assert [call.path for call in receiver.calls] == ["/hook", "/hook"]  # each attempt once, never REDIRECTED
    assert not receiver.calls_to(REDIRECTED)
    assert (await dead_letters(http))[0]["last_error"] == "HTTP 307"


async def test_an_endless_answer_is_read_only_so_far(notification_store, http, targets):
    pulled = 0

    class Endless(httpx.AsyncByteStream):
        async def __aiter__(self):
            nonlocal pulled
            while True:
                pulled += 4096
                yield b"x" * 4096

    await subscribe(http, "https://hooks.example/in", "fl-1")
    await a_notification_for(notification_store)
    dispatcher = WebhookDispatcher(notification_store, POLICY, targets)
    transport = httpx.MockTransport(lambda request: httpx.Response(200, stream=Endless()))
    async with httpx.AsyncClient(transport=transport) as client:
        await asyncio.wait_for(deliver_until_quiet(dispatcher, client, rounds=3), timeout=10)
    assert dispatcher.delivered == 1 and MAX_RESPONSE_BYTES <= pulled <= MAX_RESPONSE_BYTES + 4096


async def test_a_subscriber_that_never_answers_times_out(notification_store, http, targets):
    async def silent(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(3600)
        raise AssertionError("unreachable")

    await subscribe(http, "https://hooks.example/in", "fl-1")
    await a_notification_for(notification_store)
    policy = DeliveryPolicy(max_attempts=1, timeout_seconds=0.2)
    dispatcher = WebhookDispatcher(notification_store, policy, targets)
    async with httpx.AsyncClient(transport=httpx.MockTransport(silent)) as client:
        await asyncio.wait_for(dispatcher.deliver_due(client), timeout=5)
    (dead,) = await dead_letters(http)
    assert dead["last_error"] == "timed out after 0.2s"


async def test_tls_is_verified_for_the_subscribed_name_while_connecting_to_the_checked_address(
    notification_store, http, dns, targets, tmp_path
):
    pytest.importorskip("cryptography")
    tls = throwaway_tls("hooks.test", tmp_path)
    dns.answers.update({"hooks.test": ["127.0.0.1"], "impostor.test": ["127.0.0.1"]})
    async with receiving(lambda _path, _calls: 204, tls=tls.server) as receiver:
        secret = (await subscribe(http, receiver.url("/hook", host="hooks.test"), "fl-1"))["secret"]
        await subscribe(http, receiver.url("/impostor", host="impostor.test"), "fl-2")
        await subscribe(http, receiver.url("/by-address"), "fl-3")
        for number in (1, 2, 3):
            await a_notification_for(notification_store, f"fl-{number}", f"c-{number}")

        dispatcher = WebhookDispatcher(notification_store, POLICY, targets)
        async with POLICY.client(verify=tls.client) as client:
            await deliver_until_quiet(dispatcher, client, rounds=10)
    (call,) = receiver.calls
    assert call.path == "/hook" and call.headers["host"] == f"hooks.test:{receiver.port}"
    assert Webhook(secret).verify(call.body, call.headers)["data"]["recipient_id"] == "fl-1"
    assert dispatcher.delivered == 1 and dispatcher.dead_lettered == 2
    errors = {dead["url"].rsplit("/", 1)[1]: dead["last_error"] for dead in await dead_letters(http)}
    assert errors.keys() == {"impostor", "by-address"}  # the certificate names neither
    assert all("CERTIFICATE_VERIFY_FAILED" in error for error in errors.values()), errors
