"""EventIntake with `apply_batch`: one call per Kafka batch with its new events, each once, in order;
a failing batch falls back to `apply`, event by event, like an intake without one."""

import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime

from aiokafka import ConsumerRecord
from sqlalchemy import MetaData

from shared.consumer import EventIntake
from shared.dead_letters import DeadLetters
from shared.events.contracts import CONTRACT_COMMAND, OpenContract, OpenContractData
from shared.metrics import Metrics
from shared.store import Store, Transaction
from shared.topics import CONTRACT_COMMANDS


def opening(contract_id: str) -> OpenContract:
    data = OpenContractData(contract_id=contract_id, client_id="client-1", freelancer_id="fl-1", kind="hourly")
    return OpenContract.new(data, source="test", time=datetime.now(UTC))


def records(events: list[OpenContract]) -> list[ConsumerRecord]:
    return [
        ConsumerRecord(CONTRACT_COMMANDS.name, 0, offset, 0, 0, event.data.contract_id.encode(), event.to_json(),
                       None, 0, 0, ())
        for offset, event in enumerate(events)
    ]


@contextlib.asynccontextmanager
async def intake_for(tmp_path, apply, apply_batch) -> AsyncIterator[EventIntake]:  # noqa: ANN001
    store = Store(f"sqlite+aiosqlite:///{tmp_path / 'intake.db'}", MetaData())
    await store.open()

    async def publish(*_: object) -> None:
        raise AssertionError("nothing here is unreadable")

    metrics = Metrics()
    try:
        yield EventIntake(CONTRACT_COMMANDS, CONTRACT_COMMAND, apply, store=store,
                          dead_letters=DeadLetters(publish, "test", metrics), metrics=metrics, apply_batch=apply_batch)
    finally:
        await store.close()


async def test_each_new_event_reaches_the_batch_handler_once_in_order(tmp_path):
    alone, batches = [], []

    async def apply(_tx: Transaction, event: OpenContract) -> None:
        alone.append(event.id)

    async def apply_batch(_tx: Transaction, events: list[OpenContract]) -> None:
        batches.append([event.id for event in events])

    a, b, c = opening("c-a"), opening("c-b"), opening("c-c")
    async with intake_for(tmp_path, apply, apply_batch) as intake:
        await intake.take(records([a, b, a]))
        await intake.take(records([b, c, c]))
        await intake.take(records([a]))
    assert batches == [[a.id, b.id], [c.id]] and alone == []
    assert (intake.applied, intake.duplicates) == (3, 4)


async def test_a_failing_batch_is_applied_one_by_one(tmp_path):
    alone = []

    async def apply(_tx: Transaction, event: OpenContract) -> None:
        alone.append(event.id)

    async def apply_batch(_tx: Transaction, _events: list[OpenContract]) -> None:
        raise RuntimeError("batch handler bug")

    a, b = opening("c-a"), opening("c-b")
    async with intake_for(tmp_path, apply, apply_batch) as intake:
        await intake.take(records([a, b, a]))
    assert alone == [a.id, b.id]
