"""Webhook delivery from the running service to a real HTTP server on this machine
(WEBHOOKS_ALLOW_PRIVATE=true: the receiver is plain http on 127.0.0.1)."""

import asyncio
import json
import time

import httpx
import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from shared.topics import CONTRACT_EVENTS, NOTIFICATIONS
from services.notification.app import Settings, build
from services.notification.webhooks import new_secret
from tests.integration.notification.receiver import receiving
from tests.support import TopicReader, bearer, publish, running
from tests.unit.notification.factories import ContractStory, unique

FLAKY, DOWN = "/flaky", "/down"
OPERATOR = bearer("ops-1", "operator")


def fails_twice_then_succeeds_or_always_fails(path: str, earlier_calls: int) -> int:
    if path == FLAKY:
        return 500 if earlier_calls < 2 else 200
    return 503


async def test_a_flaky_subscriber_gets_each_notification_once_signed_and_a_dead_one_is_dead_lettered(settings_for):
    settings = settings_for(
        Settings, webhook_max_attempts=5, webhook_retry_base_seconds=0.05, webhook_poll_seconds=0.05,
        webhooks_allow_private=True,
    )
    reliable = ContractStory(unique("c"), unique("client"), unique("fl"))
    unlucky = ContractStory(unique("c"), unique("client"), unique("fl"))
    async with (
        receiving(fails_twice_then_succeeds_or_always_fails) as receiver,
        TopicReader.opened(settings.kafka_bootstrap_servers, NOTIFICATIONS) as notices,
        running(build(settings)) as service,
    ):
        transport = httpx.ASGITransport(app=service.http_app())
        async with httpx.AsyncClient(transport=transport, base_url="http://notification", headers=OPERATOR) as http:
            # the freelancer subscribes themselves; an operator subscribes for the other one
            mine = {"recipient_id": reliable.freelancer_id, "url": receiver.url(FLAKY)}
            flaky = await http.post("/webhooks", json=mine, headers=bearer(reliable.freelancer_id, "freelancer"))
            down = await http.post("/webhooks", json={"recipient_id": unlucky.freelancer_id, "url": receiver.url(DOWN)})
            assert flaky.status_code == down.status_code == 201
            secret = flaky.json()["secret"]

            await publish(settings.kafka_bootstrap_servers, CONTRACT_EVENTS,
                          [reliable.opened(), reliable.paused(), unlucky.opened(), unlucky.paused()])
            (notification,) = await notices.wait_for(lambda e: e["data"]["recipient_id"] == reliable.freelancer_id)
            await receiver.wait_for(FLAKY, 3)
            await receiver.wait_for(DOWN, 5)
            dead = await _dead_letters(http, count=1)

            # The service keeps consuming and delivering after a subscriber gave up on it.
            await publish(settings.kafka_bootstrap_servers, CONTRACT_EVENTS, [reliable.resumed()])
            await notices.wait_for(lambda e: e["data"]["recipient_id"] == reliable.freelancer_id, count=2)
            await receiver.wait_for(FLAKY, 4)
            await notices.settle(1.0)
        flaky_calls, down_calls = receiver.calls_to(FLAKY), receiver.calls_to(DOWN)  # nothing more came

    assert [call.status for call in flaky_calls] == [500, 500, 200, 200]
    notification_id = notification["data"]["notification_id"]
    first_notification = [call for call in flaky_calls if call.headers["webhook-id"] == notification_id]
    assert [call.status for call in first_notification] == [500, 500, 200]  # delivered exactly once
    for call in flaky_calls:  # as a receiver checks them: with the Standard Webhooks library
        assert Webhook(secret).verify(call.body, call.headers) == json.loads(call.body)
        assert call.headers["webhook-signature"].startswith("v1,")
        assert call.headers["content-type"] == "application/json"
        assert not [name for name in call.headers if name.startswith("x-signature")]
    assert json.loads(first_notification[-1].body) == notification
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(flaky_calls[0].body, flaky_calls[0].headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(flaky_calls[0].body.replace(b"}", b" }", 1), flaky_calls[0].headers)

    assert len(down_calls) == 5 and {call.status for call in down_calls} == {503}
    Webhook(down.json()["secret"]).verify(down_calls[0].body, down_calls[0].headers)
    assert dead[0]["recipient_id"] == unlucky.freelancer_id and dead[0]["attempts"] == 5
    assert dead[0]["last_error"] == "HTTP 503" and dead[0]["url"] == receiver.url(DOWN)
    assert secret not in json.dumps(dead) and down.json()["secret"] not in json.dumps(dead)


async def _dead_letters(http: httpx.AsyncClient, count: int) -> list[dict]:
    deadline = time.monotonic() + 30
    while len(dead := (await http.get("/webhooks/dead-letters")).json()["dead_letters"]) < count:
        assert time.monotonic() < deadline, f"no dead letter after 30s: {dead}"
        await asyncio.sleep(0.05)
    return dead


async def test_without_allow_private_a_subscription_to_this_machine_is_refused(settings_for):
    service = build(settings_for(Settings))  # WEBHOOKS_ALLOW_PRIVATE defaults to false
    transport = httpx.ASGITransport(app=service.http_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://notification", headers=OPERATOR) as http:
        for url in ("http://127.0.0.1:8080/hook", "https://127.0.0.1:8443/hook", "https://localhost/hook"):
            answer = await http.post("/webhooks", json={"url": url})
            assert answer.status_code == 422 and answer.json()["error"] == "target_refused", answer.text
