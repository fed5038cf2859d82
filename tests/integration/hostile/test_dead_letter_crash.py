"""The dead-letter path is safe to crash in (issue 9): billing-monitor, as its own process, is killed
with SIGKILL in the middle of dead-lettering a burst of bad records — once just after Kafka
acknowledged a dead letter (before the offset commit), once before the dead letter was even sent —
and restarted. Every bad record is in the DLQ at least once (some twice: redelivered after the
kill), every valid record is applied exactly once, nothing is lost."""

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from benchmarks.hostile_inputs import Input, encode
from benchmarks.hostile_ledger import DeadLetter, DeadLetterReader, publish_inputs
from shared.topics import BILLING_EVENTS, BILLING_PROBLEMS
from tests.integration.hostile.cases import bad, event_of, payment_failed, run_id
from tests.support import TopicReader

REPO = Path(__file__).parents[3]
VALID, BAD_PER_VALID = 30, 8


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start(bootstrap: str, database: Path, log: Path, **env: str) -> subprocess.Popen:
    environment = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": bootstrap, "DATABASE_URL": f"sqlite:///{database}",
                   "HTTP_PORT": str(free_port()), "LOG_FORMAT": "json", **env}
    return subprocess.Popen([sys.executable, "-m", "tests.integration.hostile.dying_service"], cwd=REPO,
                            env=environment, stdout=log.open("ab"), stderr=subprocess.STDOUT)


async def wait_exit(process: subprocess.Popen, timeout: float, log: Path) -> int:
    deadline = time.monotonic() + timeout
    while process.poll() is None:
        if time.monotonic() > deadline:
            process.kill()
            process.wait()
            raise AssertionError(f"the service did not die within {timeout}s:\n{log.read_text()[-3000:]}")
        await asyncio.sleep(0.1)
    return process.returncode


def burst(valid: int, bad_per_valid: int) -> tuple[list[str], list[Input]]:
    """Valid `account_suspended` for fresh clients, each followed by bad records on its key."""
    clients = [run_id("client") for _ in range(valid)]
    inputs: list[Input] = []
    for client in clients:
        event = event_of(BILLING_EVENTS.name, client, "billing.account_suspended", {"reason": "unpaid"})
        inputs.append(Input(BILLING_EVENTS.name, "valid", client.encode(), encode(event), (), event["id"],
                            frozenset(), True))
        inputs += [bad(BILLING_EVENTS.name, payment_failed(client, attempt="3"), "schema_violation")
                   for _ in range(bad_per_valid)]
    return clients, inputs


def ours(letters: DeadLetterReader) -> list[DeadLetter]:
    return [letter for letter in letters.letters
            if letter.source[0] == BILLING_EVENTS.name and letter.source[3] == "billing-monitor"]


async def until_all_through(letters: DeadLetterReader, problems: TopicReader, wanted: set[tuple[int, int]],
                            clients: list[str], log: Path, timeout: float = 120) -> None:
    """Every bad record dead-lettered at least once, every valid one applied."""
    deadline = time.monotonic() + timeout
    while True:
        await letters.read_to_end()
        found = {(letter.source[1], letter.source[2]) for letter in ours(letters)}
        await problems.poll(0.2)
        told = {json.loads(record.value)["data"]["client_id"] for record in problems.records}
        if wanted <= found and set(clients) <= told:
            return
        assert time.monotonic() < deadline, (
            f"after the restart: {len(wanted - found)} bad records not dead-lettered, "
            f"{len(set(clients) - told)} valid ones not applied\n{log.read_text()[-3000:]}")
        await asyncio.sleep(0.3)


def applied_once(problems: TopicReader, clients: list[str]) -> dict[str, int]:
    """Per client, how many different problem_opened events (by id) were published."""
    by_client: dict[str, set[str]] = {client: set() for client in clients}
    for record in problems.records:
        event = json.loads(record.value)
        if event["data"]["client_id"] in by_client:
            by_client[event["data"]["client_id"]].add(event["id"])
    return {client: len(ids) for client, ids in by_client.items()}


async def test_a_kill_mid_dead_lettering_loses_nothing_and_applies_nothing_twice(registry_topics, tmp_path):
    clients, inputs = burst(VALID, BAD_PER_VALID)
    database, log = tmp_path / "billing-monitor.db", tmp_path / "billing-monitor.log"
    async with (
        DeadLetterReader.opened(registry_topics, [BILLING_EVENTS.name]) as letters,
        TopicReader.opened(registry_topics, BILLING_PROBLEMS) as problems,
    ):
        sent = await publish_inputs(registry_topics, inputs)
        wanted = {(s.partition, s.offset) for s in sent if s.input.category != "valid"}

        after_ack = start(registry_topics, database, log, HOSTILE_DIE_AFTER_DLQ="40", HOSTILE_DIE_MODE="after_ack")
        assert await wait_exit(after_ack, 90, log) == -signal.SIGKILL
        await letters.read_to_end()
        assert len(ours(letters)) >= 40

        before_ack = start(registry_topics, database, log, HOSTILE_DIE_AFTER_DLQ="25", HOSTILE_DIE_MODE="before_ack")
        assert await wait_exit(before_ack, 90, log) == -signal.SIGKILL

        survivor = start(registry_topics, database, log)
        try:
            await until_all_through(letters, problems, wanted, clients, log)
            await problems.settle(2)
        finally:
            survivor.send_signal(signal.SIGTERM)
            survivor.wait(timeout=60)

    parked = [letter for letter in ours(letters) if (letter.source[1], letter.source[2]) in wanted]
    copies = Counter((letter.source[1], letter.source[2]) for letter in parked)
    assert set(copies) == wanted
    assert max(copies.values()) >= 2, "the kill after a dead letter's ack came before the offset commit: " \
                                      "those records come again and are dead-lettered again"
    assert all(letter.reason == "schema_violation" for letter in parked)
    assert applied_once(problems, clients) == {client: 1 for client in clients}, \
        "each valid record applied once: one problem_opened (by id) per client"
    print(f"{len(wanted)} bad records, {len(parked)} dead letters ({sum(c - 1 for c in copies.values())} repeated); "
          f"{len(clients)} valid records applied once")


async def test_kill_9_from_outside_while_a_burst_is_dead_lettered(registry_topics, tmp_path):
    """The same from outside: the test sends SIGKILL once the dead letters started flowing."""
    clients, inputs = burst(20, 100)
    database, log = tmp_path / "billing-monitor.db", tmp_path / "billing-monitor.log"
    async with (
        DeadLetterReader.opened(registry_topics, [BILLING_EVENTS.name]) as letters,
        TopicReader.opened(registry_topics, BILLING_PROBLEMS) as problems,
    ):
        sent = await publish_inputs(registry_topics, inputs)
        wanted = {(s.partition, s.offset) for s in sent if s.input.category != "valid"}
        victim = start(registry_topics, database, log)
        try:
            deadline = time.monotonic() + 90
            while len(ours(letters)) < 20:
                assert time.monotonic() < deadline and victim.poll() is None, log.read_text()[-3000:]
                await letters.read_to_end()
                await asyncio.sleep(0.02)
        finally:
            victim.send_signal(signal.SIGKILL)
            victim.wait(timeout=30)
        await letters.read_to_end()
        killed_at = len(ours(letters))

        survivor = start(registry_topics, database, log)
        try:
            await until_all_through(letters, problems, wanted, clients, log)
            await problems.settle(2)
        finally:
            survivor.send_signal(signal.SIGTERM)
            survivor.wait(timeout=60)
    copies = Counter((l.source[1], l.source[2]) for l in ours(letters) if (l.source[1], l.source[2]) in wanted)
    assert set(copies) == wanted
    assert applied_once(problems, clients) == {client: 1 for client in clients}
    print(f"killed after {killed_at} of {len(wanted)} dead letters; {sum(copies.values())} dead letters in all")
