"""Privacy on the real broker, with notification as its own process logging at DEBUG.

Billing problems carry canary strings. After a full platform pause and resume, no canary may
appear in anything addressed to a freelancer (records on `notifications`, the inbox, webhook
bodies) nor anywhere in the service's log lines, at any level: it never logs them at all.
"""

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from uuid import uuid4

import httpx
import pytest

from shared.topics import BILLING_PROBLEMS, CONTRACT_EVENTS, NOTIFICATIONS, TIME_ENTRIES
from tests.integration.notification.receiver import receiving
from tests.support import TopicReader, bearer, publish
from tests.unit.notification.factories import ContractStory, problem_opened, problem_resolved, unique

REPO = Path(__file__).parents[3]
DECLINE_CODE = "CANARY_DECLINE_7781"
AMOUNT = "98765.43"
BILLING_WORDS = ("payment_failed", "declined", "card")
FREELANCER_HOOK, CLIENT_HOOK, OPERATIONS_HOOK = "/freelancer", "/client", "/operations-down"
OPERATOR = bearer("ops-1", "operator")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def notification_process(registry_topics, tmp_path):
    """`python -m services.notification` as run in production, its log lines going to a file."""
    port = free_port()
    log_file = tmp_path / "notification.log"
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": registry_topics,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'notification.db'}",
        "HTTP_PORT": str(port),
        "LOG_LEVEL": "DEBUG",
        "LOG_FORMAT": "json",
        "WEBHOOK_MAX_ATTEMPTS": "2",
        "WEBHOOK_RETRY_BASE_SECONDS": "0.05",
        "WEBHOOK_POLL_SECONDS": "0.05",
        "WEBHOOKS_ALLOW_PRIVATE": "true",  # the receiver is plain http on this machine
    }
    with log_file.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "services.notification"], env=env, cwd=REPO, stdout=sink, stderr=subprocess.STDOUT
        )
        try:
            yield f"http://127.0.0.1:{port}", process, log_file
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                process.wait(timeout=30)


async def until_ready(http: httpx.AsyncClient, process: subprocess.Popen, log_file: Path) -> None:
    deadline = time.monotonic() + 60
    while True:
        assert process.poll() is None, f"notification exited: {log_file.read_text()[-3000:]}"
        try:
            if (await http.get("/health")).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, f"notification not ready: {log_file.read_text()[-3000:]}"
        await asyncio.sleep(0.2)


async def until(condition, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not await condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.1)


def leaks(text: str, canaries: tuple[str, ...]) -> list[str]:
    return [canary for canary in canaries if canary in text]


async def test_no_billing_specifics_reach_a_freelancer_or_the_logs(notification_process, registry_topics):
    base_url, process, log_file = notification_process
    detail_canary = f"CANARY_DETAIL_{uuid4().hex[:10]}"
    canaries = (DECLINE_CODE, detail_canary, AMOUNT)
    detail = f"Your card was declined ({DECLINE_CODE}); {AMOUNT} USD is due. {detail_canary}"
    client = unique("client")
    contracts = [ContractStory(unique("c"), client, unique("fl")) for _ in range(2)]
    freelancers = [contract.freelancer_id for contract in contracts]
    ours = lambda e: e["data"]["recipient_id"] in {client, *freelancers}  # noqa: E731

    async with (
        receiving(lambda path, _: 500 if path == OPERATIONS_HOOK else 200) as receiver,
        httpx.AsyncClient(base_url=base_url, headers=OPERATOR) as http,
        TopicReader.opened(registry_topics, NOTIFICATIONS) as notices,
    ):
        await until_ready(http, process, log_file)
        subscriptions = [
            *[(bearer(freelancer, "freelancer"), {"recipient_id": freelancer, "url": receiver.url(FREELANCER_HOOK)})
              for freelancer in freelancers],
            (bearer(client, "client"), {"recipient_id": client, "url": receiver.url(CLIENT_HOOK)}),
            (OPERATOR, {"url": receiver.url(OPERATIONS_HOOK)}),  # every recipient; always fails
        ]
        secrets = []
        for headers, subscription in subscriptions:
            answer = await http.post("/webhooks", json=subscription, headers=headers)
            assert answer.status_code == 201
            secrets.append(answer.json()["secret"])

        await publish(registry_topics, CONTRACT_EVENTS, [contract.opened() for contract in contracts])
        await publish(registry_topics, BILLING_PROBLEMS, [problem_opened(client, "payment_failed", detail)])
        await notices.wait_for(lambda e: e["data"]["recipient_id"] == client)
        await publish(registry_topics, CONTRACT_EVENTS, [contract.paused(("platform",)) for contract in contracts])
        await publish(registry_topics, TIME_ENTRIES, [c.rejection() for c in contracts for _ in range(2)])
        await notices.wait_for(lambda e: e["data"]["kind"] == "time_entry_blocked" and ours(e), count=2)
        await publish(registry_topics, BILLING_PROBLEMS, [problem_resolved(client, "payment_failed")])
        await publish(registry_topics, CONTRACT_EVENTS, [contract.resumed() for contract in contracts])
        # to each freelancer: paused, blocked, resumed; to the client: billing action, two resumes
        records = await notices.wait_for(ours, count=9)

        await receiver.wait_for(FREELANCER_HOOK, 6)
        await receiver.wait_for(CLIENT_HOOK, 3)
        await until(lambda: _dead_letter_count(http, 9), "every operations delivery dead-lettered")
        inboxes = {r: (await http.get(f"/recipients/{r}/notifications", headers=bearer(r, "freelancer"))).text
                   for r in freelancers}
        inboxes[client] = (await http.get(f"/recipients/{client}/notifications", headers=bearer(client, "client"))).text

    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0
    logs = log_file.read_text()

    to_freelancers = [e for e in records if e["data"]["recipient_role"] == "freelancer"]
    assert sorted(e["data"]["kind"] for e in to_freelancers) == sorted(
        ["contract_paused", "time_entry_blocked", "contract_resumed"] * 2
    )
    freelancer_texts = [
        *[json.dumps(e) for e in to_freelancers],
        *[inboxes[f] for f in freelancers],
        *[call.body.decode() for call in receiver.calls_to(FREELANCER_HOOK)],
        *[call.body.decode() for call in receiver.calls_to(OPERATIONS_HOOK)
          if json.loads(call.body)["data"]["recipient_role"] == "freelancer"],
    ]
    assert len(freelancer_texts) == 6 + 2 + 6 + 6 * 2
    for text in freelancer_texts:
        assert not leaks(text, canaries), text
        assert not [word for word in BILLING_WORDS if word in text.lower()], text
    assert "The platform has paused contract" in inboxes[freelancers[0]]

    assert not leaks(logs, canaries), [line for line in logs.splitlines() if leaks(line, canaries)]
    assert not leaks(logs, tuple(secrets)), "a webhook secret was logged"
    lines = [json.loads(line) for line in logs.splitlines() if line.startswith("{")]
    assert any(line["level"] == "debug" for line in lines), "the service did not log at DEBUG"
    assert sum(line["event"] == "notification created" for line in lines) >= 9
    assert any(line["event"] == "webhook delivery dead-lettered" and line["level"] == "warning" for line in lines)

    # The canaries did flow where they belong: the client reads the detail.
    assert detail_canary in inboxes[client]
    assert any(detail_canary in call.body.decode() for call in receiver.calls_to(CLIENT_HOOK))


async def _dead_letter_count(http: httpx.AsyncClient, count: int) -> bool:
    return len((await http.get("/webhooks/dead-letters?limit=500")).json()["dead_letters"]) >= count
