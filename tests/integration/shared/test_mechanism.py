"""The mechanism every service stands on, against the real broker: inbox, outbox, relay, dead letters."""

import os
import signal
import subprocess
import sys
from pathlib import Path

from shared.events.contracts import ContractOpened
from tests.integration.shared.echo import echo_service, opening
from tests.support import TopicReader, publish, publish_raw, running

ECHO_APP = "tests.integration.shared.echo_app"
REPO = Path(__file__).parents[3]


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
