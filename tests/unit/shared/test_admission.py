"""The intake's border, record by record: what cannot be taken is dead-lettered with its reason,
its neighbours are applied, and ids are deduplicated per topic. (On a real broker: tests/integration/hostile.)"""

import hashlib
import json
from datetime import UTC, datetime, timedelta

import pytest
from aiokafka import ConsumerRecord
from sqlalchemy import MetaData

from shared.consumer import EventIntake
from shared.dead_letters import MAX_VALUE_BYTES, DeadLetters
from shared.events.contracts import CONTRACT_COMMAND, OpenContract, OpenContractData
from shared.metrics import Metrics
from shared.store import Store, Transaction
from shared.topics import CONTRACT_COMMANDS, Topic


def opening(contract_id: str, event_id: str | None = None) -> dict:
    data = OpenContractData(contract_id=contract_id, client_id="client-1", freelancer_id="fl-1", kind="hourly")
    event = OpenContract.new(data, source="test", time=datetime.now(UTC), event_id=event_id)
    return json.loads(event.to_json())


def record(value: dict | bytes, *, key: bytes | None = None, headers=(), offset: int = 0,
           topic: str = CONTRACT_COMMANDS.name) -> ConsumerRecord:
    raw = value if isinstance(value, bytes) else json.dumps(value).encode()
    if key is None and isinstance(value, dict):
        key = value["data"]["contract_id"].encode()
    return ConsumerRecord(topic, 0, offset, 0, 0, key, raw, None, len(raw), 0, tuple(headers))


@pytest.fixture
async def intake(tmp_path):
    store = Store(f"sqlite+aiosqlite:///{tmp_path / 'intake.db'}", MetaData())
    await store.open()
    applied: list[str] = []
    dead: list[tuple[bytes | None, bytes, dict]] = []

    async def apply(_tx: Transaction, event: OpenContract) -> None:
        applied.append(event.data.contract_id)

    async def publish(_topic: str, key: bytes | None, value: bytes, headers: dict) -> None:
        dead.append((key, value, headers))

    metrics = Metrics()
    taking = EventIntake(CONTRACT_COMMANDS, CONTRACT_COMMAND, apply, store=store,
                         dead_letters=DeadLetters(publish, "test", metrics), metrics=metrics)
    taking.applied_ids, taking.dead = applied, dead
    yield taking
    await store.close()


def future(hours: float) -> dict:
    event = opening("c-future")
    event["time"] = (datetime.now(UTC) + timedelta(hours=hours)).isoformat()
    return event


def mutated(**changes) -> dict:
    event = opening("c-bad")
    for path, value in changes.items():
        *parents, leaf = path.split("__")
        target = event
        for parent in parents:
            target = target[parent]
        if value is KeyError:
            target.pop(leaf)
        else:
            target[leaf] = value
    return event


BAD = {
    "invalid_header": record(opening("c-bad"), headers=[("trace", b"\xff\xfe")]),
    "null header": record(opening("c-bad"), headers=[("trace", None)]),
    "too_large": record(b"{" + b" " * (70 * 1024) + b"}", key=b"c-bad"),
    "invalid_json": record(b"{not json", key=b"c-bad"),
    "unknown_type": record(mutated(type="contract.explode")),
    "no specversion": record(mutated(specversion=KeyError)),
    "string for number": record(mutated(data__weekly_limit_hours="3")),
    "bool for number": record(mutated(data__weekly_limit_hours=True)),
    "unix time": record(mutated(time=1_700_000_000)),
    "time before UTC": record(mutated(time="0001-01-01T00:00:00+01:00")),
    "time after UTC": record(mutated(time="9999-12-31T23:59:59-01:00")),
    "long id": record(mutated(id="x" * 201)),
    "time_in_future": record(future(25)),
    "key_mismatch": record(opening("c-bad"), key=b"c-other"),
    "no key": record(opening("c-bad"), key=b""),
    "subject mismatch": record(mutated(subject="c-other")),
}
REASONS = {
    "null header": "invalid_header", "no specversion": "schema_violation", "string for number": "schema_violation",
    "bool for number": "schema_violation", "unix time": "schema_violation", "time before UTC": "schema_violation",
    "time after UTC": "schema_violation", "long id": "schema_violation", "no key": "key_mismatch",
    "subject mismatch": "key_mismatch",
}


@pytest.mark.parametrize("case", BAD)
async def test_a_record_that_cannot_be_taken_is_dead_lettered_and_its_neighbours_applied(intake, case):
    before, after = record(opening("c-before"), offset=0), record(opening("c-after"), offset=2)
    bad = BAD[case]
    await intake.take([before, bad, after])
    assert intake.applied_ids == ["c-before", "c-after"]
    ((key, value, headers),) = intake.dead
    assert headers["x-dlq-reason"] == REASONS.get(case, case)
    assert (key, value) == (bad.key, bad.value)


async def test_a_time_within_the_allowed_skew_is_taken(intake):
    await intake.take([record(future(23))])
    assert intake.applied_ids == ["c-future"] and intake.dead == []


async def test_a_record_too_large_for_a_dead_letter_goes_truncated_with_its_size_and_digest(intake):
    huge = b'{"pad": "' + b"x" * (MAX_VALUE_BYTES + 1000) + b'"}'
    await intake.take([record(huge, key=b"k" * 5000)])
    ((key, value, headers),) = intake.dead
    assert headers["x-dlq-reason"] == "too_large" and headers["x-dlq-truncated"] == "true"
    assert len(value) == MAX_VALUE_BYTES and value == huge[:MAX_VALUE_BYTES] and len(key) == 1024
    assert headers["x-dlq-original-size"] == str(len(huge))
    assert headers["x-dlq-original-sha256"] == hashlib.sha256(huge).hexdigest()


async def test_an_id_seen_on_another_topic_is_not_a_duplicate(intake):
    elsewhere = Topic("contracts.events", key="contract_id")
    async with intake.store.transaction() as tx:
        assert await tx.first_times(elsewhere, ["shared-id"]) == {"shared-id"}
    await intake.take([record(opening("c-1", event_id="shared-id")), record(opening("c-2", event_id="shared-id"))])
    assert intake.applied_ids == ["c-1"] and intake.duplicates == 1
