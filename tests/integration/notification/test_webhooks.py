"""Webhook delivery from the running service to a real HTTP server on this machine."""

import asyncio
import json
import time

import httpx
from starlette.applications import Starlette

from shared.topics import CONTRACT_EVENTS, NOTIFICATIONS
from services.notification.app import Settings, build
from services.notification.webhooks import verify
from tests.integration.notification.receiver import receiving
from tests.support import TopicReader, publish, running
from tests.unit.notification.factories import ContractStory, unique

FLAKY, DOWN = "/flaky", "/down"
SECRET = "flaky-subscriber-secret-1234"


def fails_twice_then_succeeds_or_always_fails(path: str, earlier_calls: int) -> int:
    if path == FLAKY:
        return 500 if earlier_calls < 2 else 200
    return 503


async def test_a_flaky_subscriber_gets_each_notification_once_signed_and_a_dead_one_is_dead_lettered(settings_for):
    settings = settings_for(
        Settings, webhook_max_attempts=5, webhook_retry_base_seconds=0.05, webhook_poll_seconds=0.05
    )
    reliable = ContractStory(unique("c"), unique("client"), unique("fl"))
    unlucky = ContractStory(unique("c"), unique("client"), unique("fl"))
    async with (
        receiving(fails_twice_then_succeeds_or_always_fails) as receiver,
        TopicReader.opened(settings.kafka_bootstrap_servers, NOTIFICATIONS) as notices,
        running(build(settings)) as service,
    ):
        transport = httpx.ASGITransport(app=Starlette(routes=service.routes))
        async with httpx.AsyncClient(transport=transport, base_url="http://notification") as http:
            flaky = await http.post("/webhooks", json={
                "recipient_id": reliable.freelancer_id, "url": receiver.url(FLAKY), "secret": SECRET,
            })
            down = await http.post("/webhooks", json={"recipient_id": unlucky.freelancer_id, "url": receiver.url(DOWN)})
            assert flaky.status_code == down.status_code == 201

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
    first_notification = [call for call in flaky_calls if call.headers["x-webhook-id"] == notification_id]
    assert [call.status for call in first_notification] == [500, 500, 200]  # delivered exactly once
    for call in flaky_calls:
        assert verify(SECRET, call.body, call.headers["x-signature-sha256"])
        assert call.headers["x-signature-sha256"].startswith("sha256=")
        assert call.headers["x-webhook-timestamp"].isdigit()
        assert call.headers["content-type"] == "application/json"
    assert json.loads(first_notification[-1].body) == notification
    assert not verify("someone-elses-secret-000", flaky_calls[0].body, flaky_calls[0].headers["x-signature-sha256"])

    assert len(down_calls) == 5 and {call.status for call in down_calls} == {503}
    assert verify(down.json()["secret"], down_calls[0].body, down_calls[0].headers["x-signature-sha256"])
    assert dead[0]["recipient_id"] == unlucky.freelancer_id and dead[0]["attempts"] == 5
    assert dead[0]["last_error"] == "HTTP 503" and dead[0]["url"] == receiver.url(DOWN)


async def _dead_letters(http: httpx.AsyncClient, count: int) -> list[dict]:
    deadline = time.monotonic() + 30
    while len(dead := (await http.get("/webhooks/dead-letters")).json()["dead_letters"]) < count:
        assert time.monotonic() < deadline, f"no dead letter after 30s: {dead}"
        await asyncio.sleep(0.05)
    return dead
