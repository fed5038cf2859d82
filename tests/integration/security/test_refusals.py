"""What the secured broker refuses, and how a service takes it: a topic it may not write (it keeps
running, keeps the rows, says so once, and publishes them once allowed) and a wrong password (one
clear line and a non-zero exit, not a retry loop)."""

import asyncio
import dataclasses
import inspect
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from ops.acls import acl_bindings, apply_acls
from ops.kafka_local import free_port
from ops.operate import billing_event
from services.billing_monitor.app import Settings, build
from shared.topics import BILLING_EVENTS, BILLING_PROBLEMS
from tests.integration.security.conftest import PRODUCER, UNDERPRIVILEGED, publish_as, reading
from tests.support import running

pytestmark = pytest.mark.kafka

REPO = Path(__file__).parents[3]


async def test_a_service_refused_its_output_topic_keeps_running_keeps_the_rows_and_sends_them_once_allowed(
    secured_kafka, secured_settings
):
    billing_monitor = [b for b in acl_bindings() if b.principal == "User:billing-monitor"]
    as_underprivileged = [dataclasses.replace(b, principal=f"User:{UNDERPRIVILEGED}") for b in billing_monitor]
    everything_but_writing_problems = [
        b for b in as_underprivileged if not (b.operation == "WRITE" and b.resource_name == BILLING_PROBLEMS.name)
    ]
    await apply_acls(secured_kafka.bootstrap_servers, everything_but_writing_problems, **secured_kafka.client_options())
    clients = [f"client-{uuid.uuid4().hex[:8]}" for _ in range(2)]
    failures = [billing_event("payment_failed", {"client_id": client, "payment_method_id": "pm-1", "attempt": 1})
                for client in clients]

    with capture_logs() as logs:
        async with reading(secured_kafka, BILLING_PROBLEMS) as problems:
            async with running(build(secured_settings(Settings, user=UNDERPRIVILEGED))) as service:
                await publish_as(secured_kafka, PRODUCER, BILLING_EVENTS, failures[:1])
                await _until(lambda: _refusals(logs), "the relay's refusal line")
                await publish_as(secured_kafka, PRODUCER, BILLING_EVENTS, failures[1:])
                await _until(lambda: _backlog_is(service, 2), "both rows in the outbox")  # still consuming
                await problems.settle(2)
                assert problems.events() == []

                await apply_acls(secured_kafka.bootstrap_servers, as_underprivileged, **secured_kafka.client_options())
                opened = await problems.wait_for(lambda e: e["data"]["client_id"] in clients, count=2, timeout=45)
                await _until(lambda: _backlog_is(service, 0), "the outbox marked sent")

    assert sorted(e["data"]["client_id"] for e in opened) == sorted(clients)
    refusals = _refusals(logs)
    assert len(refusals) == 1, f"one line per refused topic, not one per retry: {refusals}"
    assert BILLING_PROBLEMS.name in str(refusals[0])


def _refusals(logs: list[dict]) -> list[dict]:
    return [entry for entry in logs if "not authorized" in entry["event"]]


async def _backlog_is(service, rows: int) -> bool:
    return await service.store.backlog() == rows


async def _until(condition, what: str, timeout: float = 20) -> None:
    """Wait until `condition()` (a value or an awaitable) is true."""
    deadline = time.monotonic() + timeout
    while True:
        outcome = condition()
        if inspect.isawaitable(outcome):
            outcome = await outcome
        if outcome:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"no {what} within {timeout}s")
        await asyncio.sleep(0.1)


def test_a_wrong_password_stops_the_service_with_one_clear_line(secured_kafka, tmp_path):
    wrong = "not-the-" + uuid.uuid4().hex
    environment = {
        **os.environ, **secured_kafka.client_environment("billing-monitor"),
        "KAFKA_SASL_PASSWORD": wrong, "DATABASE_URL": f"sqlite:///{tmp_path / 'billing-monitor'}.db",
        "HTTP_PORT": str(free_port()), "HTTP_API": "false", "LOG_FORMAT": "json",
    }
    started = time.monotonic()
    try:
        finished = subprocess.run([sys.executable, "-m", "services.billing_monitor"], env=environment, cwd=REPO,
                                  capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as still_running:
        raise AssertionError(f"still running after 30 s; it said: {still_running.stderr}") from None
    stderr = finished.stderr.strip()

    assert finished.returncode != 0
    assert time.monotonic() - started < 30
    said = [line for line in stderr.splitlines() if line.startswith("billing-monitor: ")]
    assert len(said) == 1, f"one plain line naming the service, saw: {stderr}"
    assert "authenticat" in said[0].lower() and "KAFKA_SASL_PASSWORD" in said[0], said[0]
    assert "Traceback" not in stderr, f"a traceback besides the one line: {stderr}"
    assert wrong not in stderr + finished.stdout
