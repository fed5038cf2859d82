"""notification in-process against the real broker: fan-out, duplicates, once per pause, the inbox."""

import httpx

from shared.topics import BILLING_PROBLEMS, CONTRACT_EVENTS, NOTIFICATIONS, TIME_ENTRIES
from services.notification.app import Settings, build
from tests.support import TopicReader, bearer, publish, running
from tests.unit.notification.factories import ContractStory, problem_opened, problem_resolved, unique


def to(*recipients: str, kind: str | None = None):
    return lambda e: e["data"]["recipient_id"] in recipients and (kind is None or e["data"]["kind"] == kind)


async def test_a_client_with_many_contracts_gets_one_notice_per_problem_and_each_freelancer_one_per_contract(
    settings_for,
):
    client = unique("client")
    contracts = [ContractStory(unique("c"), client, unique("fl")) for _ in range(6)]
    freelancers = [contract.freelancer_id for contract in contracts]
    async with TopicReader.opened(settings_for(Settings).kafka_bootstrap_servers, NOTIFICATIONS) as notices:
        async with running(build(settings_for(Settings))) as service:
            bootstrap = service.settings.kafka_bootstrap_servers
            await publish(bootstrap, CONTRACT_EVENTS, [contract.opened() for contract in contracts])
            await publish(bootstrap, BILLING_PROBLEMS, [problem_opened(client, "payment_failed", "Card declined.")])
            await publish(bootstrap, CONTRACT_EVENTS, [contract.paused(("platform",)) for contract in contracts])
            paused = await notices.wait_for(to(*freelancers, kind="contract_paused"), count=6)
            billing = await notices.wait_for(to(client), count=1)

            await publish(bootstrap, BILLING_PROBLEMS, [problem_resolved(client, "payment_failed")])
            await publish(bootstrap, CONTRACT_EVENTS, [contract.resumed() for contract in contracts])
            resumed = await notices.wait_for(to(client, *freelancers, kind="contract_resumed"), count=12)
            await notices.settle()

    assert sorted(e["data"]["recipient_id"] for e in paused) == sorted(freelancers)
    assert [e["data"]["kind"] for e in billing] == ["billing_action_required"]
    everything_to_the_client = notices.events(to(client))
    assert [e["data"]["kind"] for e in everything_to_the_client].count("billing_action_required") == 1
    assert not [e for e in everything_to_the_client if e["data"]["kind"] == "contract_paused"]
    assert sorted(e["data"]["recipient_role"] for e in resumed) == ["client"] * 6 + ["freelancer"] * 6
    keys = {record.key.decode() for record in notices.records}
    assert {client, *freelancers} <= keys  # keyed by recipient
    assert len(notices.events(to(client, *freelancers))) == 6 + 1 + 12


async def test_a_duplicated_input_notifies_once(settings_for):
    contract = ContractStory(unique("c"), unique("client"), unique("fl"))
    opened, paused = contract.opened(), contract.paused(("client",), message="Back on Monday")
    problem = problem_opened(contract.client_id, "chargeback", "A payment is disputed.")
    async with TopicReader.opened(settings_for(Settings).kafka_bootstrap_servers, NOTIFICATIONS) as notices:
        async with running(build(settings_for(Settings))) as service:
            bootstrap = service.settings.kafka_bootstrap_servers
            await publish(bootstrap, CONTRACT_EVENTS, [opened, paused, paused, opened, paused])
            await publish(bootstrap, BILLING_PROBLEMS, [problem, problem])
            await notices.wait_for(to(contract.freelancer_id, contract.client_id), count=3)
            await notices.settle()
            intakes = {intake.topic.name: intake for intake in service.intakes}
    sent = notices.events(to(contract.freelancer_id, contract.client_id))
    assert sorted(e["data"]["kind"] for e in sent) == ["billing_action_required", "contract_paused", "contract_paused"]
    assert len({e["id"] for e in sent}) == 3
    assert intakes[CONTRACT_EVENTS.name].duplicates == 3 and intakes[BILLING_PROBLEMS.name].duplicates == 1


async def test_blocked_time_is_told_once_per_pause_even_when_time_entries_run_ahead_of_the_pause(settings_for):
    contract = ContractStory(unique("c"), unique("client"), unique("fl"))
    blocked = to(contract.freelancer_id, kind="time_entry_blocked")
    async with TopicReader.opened(settings_for(Settings).kafka_bootstrap_servers, NOTIFICATIONS) as notices:
        async with running(build(settings_for(Settings))) as service:
            bootstrap = service.settings.kafka_bootstrap_servers
            await publish(bootstrap, CONTRACT_EVENTS, [contract.opened()])
            first_pause = contract.paused(("platform",))
            # time-tracking already rejects while we have not read the pause yet
            await publish(bootstrap, TIME_ENTRIES, [contract.rejection() for _ in range(4)])
            await notices.wait_for(blocked, count=1)
            await publish(bootstrap, CONTRACT_EVENTS, [first_pause])
            await publish(bootstrap, TIME_ENTRIES, [contract.rejection() for _ in range(4)])
            await notices.wait_for(to(contract.freelancer_id, kind="contract_paused"), count=1)
            await notices.settle()
            assert len(notices.events(blocked)) == 1

            await publish(bootstrap, CONTRACT_EVENTS, [contract.resumed(), contract.paused(("client",))])
            await publish(bootstrap, TIME_ENTRIES, [contract.rejection() for _ in range(5)])
            await notices.wait_for(blocked, count=2)
            await notices.settle()
    assert len(notices.events(blocked)) == 2
    assert len(notices.events(to(contract.freelancer_id, kind="contract_paused"))) == 2


async def test_the_inbox_serves_what_was_published(settings_for):
    contract = ContractStory(unique("c"), unique("client"), unique("fl"))
    async with TopicReader.opened(settings_for(Settings).kafka_bootstrap_servers, NOTIFICATIONS) as notices:
        async with running(build(settings_for(Settings))) as service:
            await publish(service.settings.kafka_bootstrap_servers, CONTRACT_EVENTS,
                          [contract.opened(), contract.paused(("client",)), contract.resumed()])
            published = await notices.wait_for(to(contract.freelancer_id), count=2)
            transport = httpx.ASGITransport(app=service.http_app())
            freelancer = bearer(contract.freelancer_id, "freelancer")
            async with httpx.AsyncClient(transport=transport, base_url="http://notification",
                                         headers=freelancer) as http:
                inbox = (await http.get(f"/recipients/{contract.freelancer_id}/notifications")).json()
                first = inbox["notifications"][-1]["notification_id"]
                await http.post(f"/recipients/{contract.freelancer_id}/notifications/{first}/read")
                after = (await http.get(f"/recipients/{contract.freelancer_id}/notifications")).json()
                others = await http.get(f"/recipients/{contract.client_id}/notifications")
    assert [n["notification_id"] for n in inbox["notifications"]] == [
        e["data"]["notification_id"] for e in reversed(published)
    ]
    assert inbox["unread"] == 2 and after["unread"] == 1
    assert others.status_code == 403
