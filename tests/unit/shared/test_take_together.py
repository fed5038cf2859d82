"""A poll holding several topics is taken in one transaction on a store with one writer; if that
transaction fails, each topic is taken on its own, so one topic's bad event costs the others nothing."""

import contextlib
import gc
from datetime import UTC, datetime

from aiokafka import ConsumerRecord
from sqlalchemy import MetaData

from shared.consumer import EventIntake, take_together
from shared.dead_letters import DeadLetters
from shared.events.contracts import CONTRACT_COMMAND, OpenContract, OpenContractData
from shared.metrics import Metrics
from shared.store import Store, Transaction
from shared.topics import CONTRACT_COMMANDS, Topic

OTHER_COMMANDS = Topic("other.commands", key="contract_id")


def opening(contract_id: str) -> OpenContract:
    data = OpenContractData(contract_id=contract_id, client_id="client-1", freelancer_id="fl-1", kind="hourly")
    return OpenContract.new(data, source="test", time=datetime.now(UTC))


def records(topic: Topic, events: list[OpenContract]) -> list[ConsumerRecord]:
    return [ConsumerRecord(topic.name, 0, offset, 0, 0, event.data.contract_id.encode(), event.to_json(), None, 0, 0, ())
            for offset, event in enumerate(events)]


class Counted(Store):
    """A store that counts the transactions begun on it."""

    transactions = 0

    @contextlib.asynccontextmanager
    async def transaction(self):  # noqa: ANN201
        self.transactions += 1
        async with super().transaction() as tx:
            yield tx


async def intakes(tmp_path):  # noqa: ANN001, ANN201
    store = Counted(f"sqlite:///{tmp_path / 'together.db'}", MetaData())
    await store.open([CONTRACT_COMMANDS, OTHER_COMMANDS])
    applied: list[tuple[str, str]] = []
    dead: list[str] = []

    async def dead_letter(_topic: str, _key: bytes | None, value: bytes, headers: dict[str, str]) -> None:
        dead.append(headers.get("dlq.reason", ""))

    metrics = Metrics()
    letters = DeadLetters(dead_letter, "test", metrics)

    def intake(topic: Topic) -> EventIntake:
        async def apply(tx: Transaction, event: OpenContract) -> None:
            if event.data.contract_id == "bad":
                raise RuntimeError("a handler bug on this one event")
            applied.append((topic.name, event.data.contract_id))

        return EventIntake(topic, CONTRACT_COMMAND, apply, store=store, dead_letters=letters, metrics=metrics)

    return store, intake(CONTRACT_COMMANDS), intake(OTHER_COMMANDS), applied, dead, metrics


async def test_the_topics_of_a_poll_commit_together_in_order(tmp_path):
    store, commands, others, applied, _, _ = await intakes(tmp_path)
    try:
        await take_together([(commands, records(CONTRACT_COMMANDS, [opening("a"), opening("b")])),
                              (others, records(OTHER_COMMANDS, [opening("c")]))])
        assert store.transactions == 1
        assert applied == [("contracts.commands", "a"), ("contracts.commands", "b"), ("other.commands", "c")]
    finally:
        await store.close()


async def test_a_failing_event_of_one_topic_leaves_the_other_topic_applied_and_is_dead_lettered(tmp_path):
    store, commands, others, applied, dead, metrics = await intakes(tmp_path)
    a, bad, c = opening("a"), opening("bad"), opening("c")
    try:
        await take_together([(commands, records(CONTRACT_COMMANDS, [a])), (others, records(OTHER_COMMANDS, [bad, c]))])
        # The joint transaction rolled back; then each topic on its own, and "bad" alone until dead-lettered.
        assert applied[-2:] == [("contracts.commands", "a"), ("other.commands", "c")] and len(dead) == 1
        async with store.transaction() as tx:  # taken, so a redelivery is skipped; "bad" only dead-lettered
            assert await tx.first_times(CONTRACT_COMMANDS, [a.id]) == set()
            assert await tx.first_times(OTHER_COMMANDS, [bad.id, c.id]) == {bad.id}
        # Counted once, as committed: the rolled-back joint attempt counts nothing.
        assert (commands.applied, others.applied) == (1, 1)
        assert metrics.registry.get_sample_value(
            "contract_pause_events_consumed_total", {"topic": CONTRACT_COMMANDS.name, "type": a.type}) == 1
    finally:
        await store.close()


async def test_several_writers_take_each_topic_in_a_transaction_of_its_own(tmp_path, monkeypatch):
    store, commands, others, applied, _, _ = await intakes(tmp_path)
    monkeypatch.setattr(Counted, "single_writer", False)  # as on PostgreSQL shared by instances
    try:
        await take_together([(commands, records(CONTRACT_COMMANDS, [opening("a")])),
                             (others, records(OTHER_COMMANDS, [opening("c")]))])
        assert store.transactions == 2 and len(applied) == 2
    finally:
        await store.close()


async def test_the_collector_rests_while_a_batch_is_applied_and_runs_again_after_it_even_when_it_failed(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'collector.db'}", MetaData())
    await store.open([CONTRACT_COMMANDS])
    collecting: list[tuple[str, bool]] = []

    async def apply(tx: Transaction, event: OpenContract) -> None:
        collecting.append((event.data.contract_id, gc.isenabled()))
        if event.data.contract_id == "bad":
            raise RuntimeError("a handler bug on this one event")

    async def dead_letter(*_: object) -> None:
        pass

    metrics = Metrics()
    intake = EventIntake(CONTRACT_COMMANDS, CONTRACT_COMMAND, apply, store=store,
                         dead_letters=DeadLetters(dead_letter, "test", metrics), metrics=metrics)
    try:
        await intake.take(records(CONTRACT_COMMANDS, [opening("a"), opening("bad")]))
        assert collecting[:2] == [("a", False), ("bad", False)]  # the batch's transaction, which failed
        assert gc.isenabled()
        gc.disable()  # whoever runs the service turned it off: it stays off
        try:
            await intake.take(records(CONTRACT_COMMANDS, [opening("b")]))
            assert not gc.isenabled()
        finally:
            gc.enable()
    finally:
        await store.close()
