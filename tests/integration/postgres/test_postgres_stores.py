"""The PostgreSQL store path, on a real PostgreSQL server and the real broker: the shared mechanism
(inbox, outbox), contract-state's billing fan-out (bulk upserts, FOR UPDATE), time-tracking's gate
and notification's notices. Each test gets a fresh database (`postgres_database`)."""

import uuid

import pytest

from services.contract_state.app import Settings as ContractStateSettings
from services.contract_state.app import build as build_contract_state
from services.notification.app import Settings as NotificationSettings
from services.notification.app import build as build_notification
from services.time_tracking.app import Settings as TimeTrackingSettings
from services.time_tracking.app import build as build_time_tracking
from shared.topics import (
    BILLING_PROBLEMS,
    CONTRACT_COMMANDS,
    CONTRACT_EVENTS,
    NOTIFICATIONS,
    TIME_ENTRIES,
    TIME_ENTRIES_SUBMITTED,
    Topic,
    ensure_topics,
)
from tests.integration.contract_state.helpers import about, new_id, summary, wait_about
from tests.integration.shared.echo import echo_service, opening as echo_opening
from tests.integration.time_tracking.helpers import Contract, until_known, verdict_on
from tests.support import TopicReader, publish, running
from tests.unit.contract_state.builders import opening, problem_opened, problem_resolved
from tests.unit.notification.factories import ContractStory, unique

pytestmark = pytest.mark.postgres


def _on_postgres(service) -> None:  # noqa: ANN001
    assert service.store.engine.dialect.name == "postgresql", service.store.url


async def test_the_mechanism_applies_a_duplicated_input_once_on_postgres(kafka_bootstrap, postgres_database):
    suffix = uuid.uuid4().hex[:8]
    commands = Topic(f"test.commands.{suffix}", key="contract_id", partitions=2, has_dlq=True)
    events = Topic(f"test.events.{suffix}", key="contract_id", partitions=2)
    await ensure_topics(kafka_bootstrap, topics=(commands, commands.dlq, events))
    command = echo_opening("c-dup-pg")
    service = echo_service(kafka_bootstrap, None, commands, events, database_url=postgres_database)
    async with TopicReader.opened(kafka_bootstrap, events) as reader:
        async with running(service):
            _on_postgres(service)
            await publish(kafka_bootstrap, commands, [command, command, command])
            outputs = await reader.wait_for(lambda e: e["causationid"] == command.id)
            await reader.settle()
            backlog = await service.store.backlog()
    assert len(reader.events(lambda e: e["causationid"] == command.id)) == 1
    assert outputs[0]["correlationid"] == command.id
    assert service.intakes[0].duplicates == 2
    assert backlog == 0, "the relay marked the output sent"


async def test_contract_state_pauses_and_resumes_all_of_a_clients_contracts_on_postgres(
    registry_topics, postgres_database
):
    client, freelancer = new_id("client"), new_id("freelancer")
    held = [new_id("contract") for _ in range(20)]
    other = new_id("contract")
    settings = ContractStateSettings(kafka_bootstrap_servers=registry_topics, database_url=postgres_database)
    async with TopicReader.opened(registry_topics, CONTRACT_EVENTS) as events:
        async with running(build_contract_state(settings)) as service:
            _on_postgres(service)
            await publish(registry_topics, CONTRACT_COMMANDS, [
                *[opening(contract, client, freelancer) for contract in held],
                opening(other, new_id("client"), freelancer),
            ])
            await wait_about(events, *held, other, count=len(held) + 1)
            await publish(registry_topics, BILLING_PROBLEMS, [
                problem_opened(client, "payment_failed", minute=5),
                problem_opened(client, "chargeback", ["payment_failed", "chargeback"], minute=6),
                problem_resolved(client, "payment_failed", ["chargeback"], minute=7),
                problem_resolved(client, "chargeback", [], minute=8),
            ])
            published = await wait_about(events, *held, count=3 * len(held), timeout=60)
            await events.settle()
    for contract in held:
        assert summary(about(events, contract)) == [
            ("contract.opened", "active", [], 1),
            ("contract.paused", "paused", ["platform"], 2),
            ("contract.resumed", "active", [], 3),
        ], contract
    assert len(about(events, other)) == 1, "another client's contract was left alone"
    paused = [event for event in published if event["type"] == "contract.paused"]
    assert len({event["causationid"] for event in paused}) == 1, "one billing change paused them all"


async def test_time_tracking_rejects_time_during_a_pause_on_postgres(registry_topics, postgres_database):
    contract = Contract()
    while_paused = contract.submitted(3, 4)
    settings = TimeTrackingSettings(kafka_bootstrap_servers=registry_topics, database_url=postgres_database)
    async with running(build_time_tracking(settings)) as service:
        _on_postgres(service)
        async with TopicReader.opened(registry_topics, TIME_ENTRIES) as verdicts:
            await publish(registry_topics, CONTRACT_EVENTS,
                          [contract.version(1, "active", 0), contract.version(2, "paused", 2)])
            await until_known(service, contract.contract_id, 1, 2)
            await publish(registry_topics, TIME_ENTRIES_SUBMITTED, [while_paused, while_paused])
            rejected = await verdict_on(verdicts, while_paused.data.entry_id)

            # Resumed: time after the resume is accepted, time inside the pause still is not.
            after, during = contract.submitted(4, 5), contract.submitted(2.5, 3.5)
            await publish(registry_topics, CONTRACT_EVENTS, [contract.version(3, "active", 3)])
            await until_known(service, contract.contract_id, 3)
            await publish(registry_topics, TIME_ENTRIES_SUBMITTED, [after, during])
            accepted = await verdict_on(verdicts, after.data.entry_id)
            refused = await verdict_on(verdicts, during.data.entry_id)
            await verdicts.settle()
    assert rejected["type"] == "time_entry.rejected" and rejected["data"]["reason"] == "contract_paused"
    assert len(verdicts.events(lambda e: e["data"]["entry_id"] == while_paused.data.entry_id)) == 1
    assert accepted["type"] == "time_entry.accepted" and accepted["data"]["payment_protection"] == "eligible"
    assert refused["type"] == "time_entry.rejected" and refused["data"]["reason"] == "contract_paused"


async def test_notification_tells_the_freelancer_of_a_pause_on_postgres(registry_topics, postgres_database):
    contract = ContractStory(unique("c"), unique("client"), unique("fl"))
    opened, paused = contract.opened(), contract.paused(("client",), message="Back on Monday")  # versions 1, 2
    settings = NotificationSettings(kafka_bootstrap_servers=registry_topics, database_url=postgres_database)
    to_freelancer = lambda e: e["data"]["recipient_id"] == contract.freelancer_id  # noqa: E731
    async with TopicReader.opened(registry_topics, NOTIFICATIONS) as notices:
        async with running(build_notification(settings)) as service:
            _on_postgres(service)
            await publish(registry_topics, CONTRACT_EVENTS, [opened, paused, paused])
            (notice,) = await notices.wait_for(to_freelancer)
            await notices.settle()
    assert notice["data"]["kind"] == "contract_paused"
    assert notice["data"]["recipient_role"] == "freelancer"
    assert len(notices.events(to_freelancer)) == 1, "a duplicated pause notifies once"


async def test_retention_prunes_in_slices_on_postgres(postgres_database):
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import MetaData, update

    from shared.store import Store, inbox, outbox

    store = Store(postgres_database.replace("postgresql://", "postgresql+asyncpg://", 1), MetaData())
    await store.open()
    long_ago = datetime.now(UTC) - timedelta(days=8)
    try:
        async with store.transaction() as tx:
            await tx.first_times(CONTRACT_EVENTS, [f"old-{n}" for n in range(25)] + ["recent"])
            await tx.connection.execute(update(inbox).where(inbox.c.event_id != "recent").values(received_at=long_ago))
            await tx.emit_all(CONTRACT_COMMANDS, [echo_opening(f"c-{n}") for n in range(3)])
        async with store.transaction() as tx:
            await tx.connection.execute(update(outbox).where(outbox.c.seq != 3).values(sent_at=long_ago))
        assert await store.prune(datetime.now(UTC) - timedelta(days=7), slice_rows=10) == (25, 2)
        async with store.transaction() as tx:
            assert await tx.first_times(CONTRACT_EVENTS, ["old-1", "recent"]) == {"old-1"}
    finally:
        await store.close()
