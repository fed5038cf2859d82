"""A record whose header *name* is not UTF-8 (issue 9, beyond header values): the wire allows it and
aiokafka's consumer cannot parse it, so it never reaches the intake. It must still not stall its
partition: it is dead-lettered (invalid_header) at its offset, its neighbours are applied.

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


async def through_echo(kafka_bootstrap: str, tmp_path: Path) -> tuple[set[str], set[str], list, list[str], bytes]:
    """Valid commands, the record with a bad header name, valid commands, all on one partition of
    throwaway topics: (causes applied, causes sent, dead letters, dead consumer tasks, the record's bytes)."""
    suffix = uuid.uuid4().hex[:8]
    commands = Topic(f"hostile.commands.{suffix}", key="contract_id", partitions=1, has_dlq=True)
    events = Topic(f"hostile.events.{suffix}", key="contract_id", partitions=1)
    await ensure_topics(kafka_bootstrap, topics=(commands, commands.dlq, events))
    before, after = [opening("c-hdr", f"before-{n}-{suffix}") for n in range(3)], \
        [opening("c-hdr", f"after-{n}-{suffix}") for n in range(3)]
    poison = opening("c-hdr", f"poison-{suffix}").to_json()
    value_file = tmp_path / "value.json"
    value_file.write_bytes(poison)
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
        await dead.settle(1)
        return {e["causationid"] for e in outputs.events()} & causes, causes, dead.records, deaths(service), poison


async def test_a_header_name_that_is_not_utf8_does_not_stall_its_partition(kafka_bootstrap, tmp_path):
    applied, causes, letters, died, _ = await through_echo(kafka_bootstrap, tmp_path)
    assert applied == causes, (
        f"{len(causes - applied)} valid commands around the record were never applied: "
        f"the partition is stalled behind a header name that is not UTF-8; consumer tasks: {died}")
    (letter,) = letters
    headers = dict(letter.headers)
    assert headers["x-dlq-reason"] == b"invalid_header", headers
    assert (int(headers["x-dlq-source-partition"]), int(headers["x-dlq-source-offset"])) == (0, 3)


async def test_the_dead_letter_of_an_unparsable_record_says_its_original_is_unavailable(kafka_bootstrap, tmp_path):
    """DESIGN.md, Topics: `<topic>.dlq` carries the original key and bytes. aiokafka cannot parse this
    record, so there are none to carry: the dead letter says so, and names where the original lies."""
    _, _, letters, _, _ = await through_echo(kafka_bootstrap, tmp_path)
    (letter,) = letters
    headers = dict(letter.headers)
    assert headers["x-dlq-original-unavailable"] == b"true", headers
    assert (letter.key, letter.value) == (None, b"")
