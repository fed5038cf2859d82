"""Several instances of a service over one PostgreSQL database: each instance is a Store of its own
(its own engine, its own process write lock), all on one fresh database. The interleavings an
operator trial with two instances per service ran into are played step by step: one instance holds
its transaction open while the other's starts."""

import asyncio
import json
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import pytest
from aiokafka import AIOKafkaProducer, ConsumerRecord
from sqlalchemy import MetaData, text
from sqlalchemy.exc import DBAPIError

from services.contract_state import handlers as contract_state
from services.contract_state import store as contract_state_store
from services.time_tracking import handlers as time_tracking
from services.time_tracking import store as time_tracking_store
from shared.consumer import EventIntake
from shared.store import transient
from shared.dead_letters import DeadLetters
from shared.events.billing import AccountSuspended, AccountSuspendedData
from shared.events.contracts import CONTRACT_COMMAND
from shared.metrics import Metrics
from shared.relay import OutboxRelay
from shared.store import Store
from shared.topics import CONTRACT_COMMANDS, Topic, ensure_topics
from tests.integration.time_tracking.helpers import Contract
from tests.support import TopicReader
from tests.unit.contract_state.builders import opening, pausing, problem_opened

# Long enough for a transaction that does not wait for the other one to finish meanwhile.
SETTLE_SECONDS = 0.5


@asynccontextmanager
async def instances(url: str, tables: MetaData, consumed: Sequence[Topic] = ()) -> AsyncIterator[list[Store]]:
    stores = [Store(url.replace("postgresql://", "postgresql+asyncpg://", 1), tables) for _ in range(2)]
    for store in stores:
        await store.open(consumed)
    try:
        yield stores
    finally:
        for store in stores:
            await store.close()


async def test_an_entry_judged_while_another_instance_learns_a_pause_loses_its_protection(postgres_database):
    contract = Contract()
    async with instances(postgres_database, time_tracking_store.tables) as (a, b):
        async with a.transaction() as tx:
            await time_tracking.on_contract_event(tx, contract.version(1, "active", 0))
        submission = contract.submitted(2, 4)
        async with a.transaction() as judging:
            (recording,) = await time_tracking.submit_all(judging, [submission])
            assert recording.entry.payment_protection == "eligible", "judged before the pause was known"
            paused = contract.version(2, "paused", 3)
            learning = asyncio.create_task(_apply(b, time_tracking.on_contract_events, [paused]))
            await asyncio.sleep(SETTLE_SECONDS)
            learned_early = learning.done()
        await learning
        async with a.reading() as connection:
            entry = await time_tracking_store.load_entry(connection, submission.data.entry_id)
    assert entry.protection_revoked, "work during the pause kept its payment protection"
    assert not learned_early, "the pause was learned while the entry judged without it was not committed"


async def test_an_entry_submitted_while_another_instance_learns_a_pause_is_judged_with_the_pause(postgres_database):
    contract = Contract()
    async with instances(postgres_database, time_tracking_store.tables) as (a, b):
        async with a.transaction() as tx:
            await time_tracking.on_contract_event(tx, contract.version(1, "active", 0))
        submission = contract.submitted(2, 4)
        async with b.transaction() as learning:
            await time_tracking.on_contract_event(learning, contract.version(2, "paused", 3))
            judging = asyncio.create_task(_apply(a, time_tracking.submit_all, [submission]))
            await asyncio.sleep(SETTLE_SECONDS)
            judged_early = judging.done()
        await judging
        async with a.reading() as connection:
            entry = await time_tracking_store.load_entry(connection, submission.data.entry_id)
    assert entry.rejection == "contract_paused", "work during a pause was accepted"
    assert not judged_early, "the entry was judged while the pause was being learned"


async def test_a_command_batch_and_a_billing_fan_out_over_one_clients_contracts_do_not_deadlock(postgres_database):
    client = f"client-{uuid.uuid4().hex[:8]}"
    first, second = f"{client}-contract-a", f"{client}-contract-b"
    async with instances(postgres_database, contract_state_store.tables) as (a, b):
        async with a.transaction() as tx:
            await contract_state.on_contract_commands(tx, [opening(first, client), opening(second, client)])
        # The command batch takes its contracts in partition order (second, then first); the fan-out
        # takes them by id (first, then second). Row locks alone deadlock here.
        async with a.transaction() as commands:
            await contract_state.on_contract_command(commands, pausing(client, second))
            fan_out = asyncio.create_task(_apply(b, contract_state.on_billing_problems, [problem_opened(client)]))
            await asyncio.sleep(SETTLE_SECONDS)
            await contract_state.on_contract_command(commands, pausing(client, first))
        await fan_out
        async with a.reading() as connection:
            contracts = [await contract_state_store.load_contract(connection, contract_id, for_update=False)
                         for contract_id in (first, second)]
    assert [sorted(contract.holds) for contract in contracts] == [["client", "platform"]] * 2
    assert [contract.version for contract in contracts] == [3, 3]


async def test_a_contract_opened_while_another_instance_fans_out_its_clients_first_problem_is_paused(
    postgres_database,
):
    client = f"client-{uuid.uuid4().hex[:8]}"
    contract = f"{client}-contract"
    async with instances(postgres_database, contract_state_store.tables) as (a, b):
        async with a.transaction() as opening_it:
            await contract_state.on_contract_commands(opening_it, [opening(contract, client)])
            fan_out = asyncio.create_task(_apply(b, contract_state.on_billing_problems, [problem_opened(client)]))
            await asyncio.sleep(SETTLE_SECONDS)
            fanned_out_early = fan_out.done()
        await fan_out
        async with a.reading() as connection:
            opened = await contract_state_store.load_contract(connection, contract, for_update=False)
    assert opened.holds == {"platform"}, "a contract of a client with an open billing problem stayed active"
    assert not fanned_out_early, "the fan-out did not wait for the contract being opened"


async def test_a_deadlock_between_instances_is_left_to_kafka_to_redeliver_never_dead_lettered(postgres_database):
    async with instances(postgres_database, MetaData()) as (a, b):
        deadlock = await _deadlock(a, b)
        assert transient(deadlock), deadlock
        command = opening(f"contract-{uuid.uuid4().hex[:8]}")
        attempts = []

        async def apply(_tx, event) -> None:  # noqa: ANN001
            attempts.append(event.id)
            if len(attempts) == 1:
                raise deadlock

        metrics = Metrics()
        intake = EventIntake(CONTRACT_COMMANDS, CONTRACT_COMMAND, apply, store=a, metrics=metrics,
                             dead_letters=DeadLetters(_refuse, "test", metrics))
        batch = [ConsumerRecord(CONTRACT_COMMANDS.name, 0, 0, 0, 0, command.data.contract_id.encode(),
                                command.to_json(), None, 0, 0, ())]
        with pytest.raises(DBAPIError):  # the offset stays uncommitted: Kafka hands the batch over again
            await intake.take(batch)
        await intake.take(batch)
    assert attempts == [command.id, command.id] and intake.applied == 1


async def test_first_times_answers_what_this_transaction_inserted_while_another_instance_races(postgres_database):
    async with instances(postgres_database, MetaData()) as (a, b):
        async with a.transaction() as tx:
            assert await tx.first_times(CONTRACT_COMMANDS, ["e1", "e2"]) == {"e1", "e2"}
            racing = asyncio.create_task(_first_times(b, ["e2", "e3"]))
            await asyncio.sleep(SETTLE_SECONDS)
            assert not racing.done(), "the other instance judged e2 before this one committed or gave it up"
        assert await racing == {"e3"}

        gave_up = RuntimeError("rolled back")
        try:
            async with a.transaction() as tx:
                assert await tx.first_times(CONTRACT_COMMANDS, ["e4"]) == {"e4"}
                racing = asyncio.create_task(_first_times(b, ["e4"]))
                await asyncio.sleep(SETTLE_SECONDS)
                raise gave_up
        except RuntimeError as error:
            assert error is gave_up
        assert await racing == {"e4"}, "an input recorded by a rolled-back transaction was not handled"


async def test_two_relays_on_one_outbox_publish_every_row_once_and_each_keys_rows_in_order(
    kafka_bootstrap, postgres_database
):
    topic = Topic(f"test.relays.{uuid.uuid4().hex[:8]}", key="client_id", partitions=3)
    await ensure_topics(kafka_bootstrap, topics=(topic,))
    keys = [f"client-{n}" for n in range(5)]
    async with instances(postgres_database, MetaData()) as stores:
        for chunk in range(10):  # several commits, as handlers make them
            async with stores[0].transaction() as tx:
                for n in range(30):
                    data = AccountSuspendedData(client_id=keys[n % len(keys)], reason=f"{chunk}-{n}")
                    await tx.emit(topic, AccountSuspended.new(data, source="test", time=datetime.now(UTC)))
        emitted = [row.payload for row in await stores[0].unsent(1000)]
        async with TopicReader.opened(kafka_bootstrap, topic) as reader, _producer(kafka_bootstrap) as producer:
            relays = [OutboxRelay(store, producer, Metrics(), batch_size=20) for store in stores]
            published = await asyncio.gather(*(relay.drain() for relay in relays))
            await reader.wait_for(count=len(emitted), timeout=60)
            await reader.settle()
        backlog = await stores[1].backlog()
    assert sum(published) == len(emitted) == 300 and backlog == 0
    assert all(published), "one relay did all the work; the test raced nothing"
    read = [record.value for record in reader.records]
    assert sorted(read) == sorted(emitted), "a row was published twice, or not at all"
    assert _by_key(read) == _by_key(emitted), "a key's rows were published out of order"


async def _apply(store: Store, apply, events) -> None:  # noqa: ANN001 - a handler and its input
    async with store.transaction() as tx:
        await apply(tx, events)


async def _deadlock(a: Store, b: Store) -> DBAPIError:
    """What PostgreSQL raises in one of two transactions that wait on each other's rows."""
    async with a.engine.begin() as connection:
        await connection.execute(text("CREATE TABLE pair (id int PRIMARY KEY)"))
        await connection.execute(text("INSERT INTO pair VALUES (1), (2)"))

    async def update_both(store: Store, first: int, second: int) -> None:
        async with store.engine.begin() as connection:
            await connection.execute(text("UPDATE pair SET id = id WHERE id = :id"), {"id": first})
            await asyncio.sleep(SETTLE_SECONDS)
            await connection.execute(text("UPDATE pair SET id = id WHERE id = :id"), {"id": second})

    outcomes = await asyncio.gather(update_both(a, 1, 2), update_both(b, 2, 1), return_exceptions=True)
    (deadlock,) = [outcome for outcome in outcomes if outcome is not None]
    assert isinstance(deadlock, DBAPIError), deadlock
    return deadlock


async def _refuse(*_: object) -> None:
    raise AssertionError("nothing is published or dead-lettered here")


async def _first_times(store: Store, event_ids: list[str]) -> set[str]:
    async with store.transaction() as tx:
        return await tx.first_times(CONTRACT_COMMANDS, event_ids)


@asynccontextmanager
async def _producer(bootstrap: str):  # noqa: ANN202 - yields a relay's send
    client = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await client.start()

    async def send(topic: str, key: bytes, payload: bytes) -> asyncio.Future:
        return await client.send(topic, payload, key=key)

    try:
        yield send
    finally:
        await client.stop()


def _by_key(payloads: list[bytes]) -> dict[str, list[bytes]]:
    keyed = defaultdict(list)
    for payload in payloads:
        keyed[json.loads(payload)["data"]["client_id"]].append(payload)
    return dict(keyed)
