"""A record whose header *name* is not UTF-8 (issue 9, beyond header values): the wire allows it and
aiokafka's consumer cannot parse it, so it never reaches the intake. It must still not stall its
partition: dead-lettered (invalid_header) or at least skipped, its neighbours applied.

Run on the shared mechanism's echo service with throwaway topics, so that if the partition does
stall, no other test's consumer group is left stuck behind the record.
"""

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

from benchmarks.hostile_ledger import deaths
from shared.topics import Topic, ensure_topics
from tests.integration.shared.echo import echo_service, opening
from tests.support import TopicReader, publish, running

REPO = Path(__file__).parents[3]


async def test_a_header_name_that_is_not_utf8_does_not_stall_its_partition(kafka_bootstrap, tmp_path):
    suffix = uuid.uuid4().hex[:8]
    commands = Topic(f"hostile.commands.{suffix}", key="contract_id", partitions=1, has_dlq=True)
    events = Topic(f"hostile.events.{suffix}", key="contract_id", partitions=1)
    await ensure_topics(kafka_bootstrap, topics=(commands, commands.dlq, events))
    before, after = [opening("c-hdr", f"before-{n}-{suffix}") for n in range(3)], \
        [opening("c-hdr", f"after-{n}-{suffix}") for n in range(3)]
    poison = opening("c-hdr", f"poison-{suffix}")
    value_file = tmp_path / "value.json"
    value_file.write_bytes(poison.to_json())

    async with (
        TopicReader.opened(kafka_bootstrap, events) as outputs,
        TopicReader.opened(kafka_bootstrap, commands.dlq) as dead,
        running(echo_service(kafka_bootstrap, tmp_path / "echo.db", commands, events)) as service,
    ):
        await publish(kafka_bootstrap, commands, before)
        produced = subprocess.run(
            [sys.executable, "-m", "tests.integration.hostile.raw_header_name", kafka_bootstrap, commands.name,
             "c-hdr", str(value_file)],
            cwd=REPO, env={**os.environ, "AIOKAFKA_NO_EXTENSIONS": "1"}, capture_output=True, timeout=60)
        assert produced.returncode == 0, produced.stderr.decode()[-2000:]
        await publish(kafka_bootstrap, commands, after)
        causes = {command.id for command in before + after}
        deadline = time.monotonic() + 30
        while {e["causationid"] for e in outputs.events()} < causes and time.monotonic() < deadline:
            await outputs.poll(0.2)
        applied = {e["causationid"] for e in outputs.events()} & causes
        await dead.settle(1)
        died = deaths(service)
    assert applied == causes, (
        f"{len(causes - applied)} of the {len(after)} valid commands after the record were never applied: "
        f"the partition is stalled behind a header name that is not UTF-8; consumer tasks: {died}")
    reasons = [dict(record.headers).get("x-dlq-reason") for record in dead.records]
    assert reasons in ([b"invalid_header"], []), reasons
