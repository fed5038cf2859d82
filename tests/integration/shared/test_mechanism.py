"""The mechanism every service stands on, against the real broker: inbox, outbox, relay, dead letters."""

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import MetaData

from shared.events.contracts import CONTRACT_COMMAND, ContractOpened, ContractSnapshot, OpenContract, OpenContractData
from shared.settings import BaseServiceSettings
from shared.service import Service
from shared.store import Transaction
from shared.topics import Topic, ensure_topics
from tests.support import TopicReader, publish, publish_raw, running

ECHO_APP = "tests.integration.shared.echo_app"
REPO = Path(__file__).parents[3]


def opening(contract_id: str, event_id: str | None = None) -> OpenContract:
    data = OpenContractData(contract_id=contract_id, client_id="client-1", freelancer_id="fl-1", kind="hourly")
    return OpenContract.new(data, source="test", time=datetime.now(UTC), event_id=event_id)


@pytest.fixture
async def echo_topics(kafka_bootstrap: str) -> tuple[Topic, Topic]:
    suffix = uuid.uuid4().hex[:8]
    commands = Topic(f"test.commands.{suffix}", key="contract_id", partitions=2, has_dlq=True)
    events = Topic(f"test.events.{suffix}", key="contract_id", partitions=2)
    await ensure_topics(kafka_bootstrap, topics=(commands, commands.dlq, events))
    return commands, events


def echo_service(bootstrap: str, database: Path, commands: Topic, events: Topic) -> Service:
    """A minimal service: every `contract.open` command yields one `contract.opened` event."""
    settings = BaseServiceSettings(
        service_name=f"echo-{commands.name}", kafka_bootstrap_servers=bootstrap, database_url=f"sqlite:///{database}"
    )
    service = Service(settings, MetaData())

    async def open_contract(tx: Transaction, command: OpenContract) -> None:
        snapshot = ContractSnapshot(
            **command.data.model_dump(exclude={"weekly_limit_hours"}),
            status="active", holds=[], version=1, changed_at=command.time,
        )
        await tx.emit(events, ContractOpened.derived_from(command, snapshot, source="echo", time=command.time))

    service.consume(commands, CONTRACT_COMMAND, open_contract)
    return service


async def test_a_duplicated_input_is_applied_once(kafka_bootstrap, echo_topics, tmp_path):
    commands, events = echo_topics
    command = opening("c-dup")
    async with TopicReader.opened(kafka_bootstrap, events) as reader:
        async with running(echo_service(kafka_bootstrap, tmp_path / "echo.db", commands, events)) as service:
            await publish(kafka_bootstrap, commands, [command, command, command])
            outputs = await reader.wait_for(lambda e: e["causationid"] == command.id)
            await reader.settle()
        assert len(reader.events(lambda e: e["causationid"] == command.id)) == 1
        assert outputs[0]["correlationid"] == command.id
        assert service.intakes[0].duplicates == 2


async def test_a_malformed_message_is_dead_lettered_and_the_partition_moves_on(kafka_bootstrap, echo_topics, tmp_path):
    commands, events = echo_topics
    good = opening("c-dlq")
    unknown_type = good.to_json().replace(b'"contract.open"', b'"contract.explode"')
    async with (
        TopicReader.opened(kafka_bootstrap, events) as outputs,
        TopicReader.opened(kafka_bootstrap, commands.dlq) as dead,
    ):
        async with running(echo_service(kafka_bootstrap, tmp_path / "echo.db", commands, events)):
            # Same key, so the same partition: the bad messages come first.
            await publish_raw(kafka_bootstrap, commands, "c-dlq", [b"{not json", unknown_type, good.to_json()])
            await outputs.wait_for(lambda e: e["causationid"] == good.id)
            parked = await dead.wait_for_records(2)
    reasons = [dict(record.headers)["x-dlq-reason"].decode() for record in dead.records]
    assert reasons == ["invalid_json", "unknown_type"]
    first = dead.records[0]
    assert first.value == b"{not json" and first.key == b"c-dlq"
    assert b"contract.explode" in dict(dead.records[1].headers)["x-dlq-error"]
    assert dict(first.headers)["x-dlq-source-topic"].decode() == commands.name
    assert len(parked) == 2


async def test_an_output_committed_before_a_crash_is_published_once_on_restart(
    kafka_bootstrap, echo_topics, tmp_path
):
    """The process dies after the database commit and before the publish (it never publishes):
    the restarted process publishes the output, with the id it was given before the crash."""
    commands, events = echo_topics
    database = tmp_path / "echo.db"
    command = opening("c-crash")
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap, "LOG_FORMAT": "json"}
    argv = [sys.executable, "-m", ECHO_APP, commands.name, events.name, str(database)]
    async with TopicReader.opened(kafka_bootstrap, events) as reader:
        await publish(kafka_bootstrap, commands, [command])
        crashed = subprocess.run([*argv, "--die-after-commit"], env=env, cwd=REPO, capture_output=True, timeout=60)
        assert crashed.returncode == 17, crashed.stderr.decode()[-2000:]
        await reader.settle(2)
        assert reader.events() == [], "nothing may be published before the restart"

        restarted = subprocess.Popen(argv, env=env, cwd=REPO, stderr=subprocess.DEVNULL)
        try:
            published = await reader.wait_for(lambda e: e["causationid"] == command.id)
            await reader.settle(2)
        finally:
            restarted.send_signal(signal.SIGTERM)
            restarted.wait(timeout=30)
    assert len(reader.events()) == 1
    assert published[0]["id"] == ContractOpened.derived_from(
        command, ContractOpened.model_validate(published[0]).data, source="echo", time=command.time
    ).id
    assert (tmp_path / "echo.committed-id").read_text() == published[0]["id"]
