"""A restart mid-stream on the same database: the new instance carries on where the old one stopped,
nothing lost, nothing applied or published twice, versions continue."""

from collections import Counter
from datetime import UTC, datetime

from services.contract_state.app import Settings, build
from services.contract_state.domain import Contract, apply_billing_change, decide
from shared.topics import BILLING_PROBLEMS, CONTRACT_COMMANDS, CONTRACT_EVENTS
from tests.integration.contract_state.helpers import about, new_id
from tests.support import TopicReader, publish, running
from tests.unit.contract_state.builders import ending, opening, pausing, problem_opened, resuming

CONTRACTS = 6


def oracle(commands: list, problem) -> tuple[dict[str, list[str]], dict[str, Contract]]:
    """The event ids the rules give, per contract, for these commands (each id once) then the problem."""
    contracts: dict[str, Contract] = {}
    ids: dict[str, list[str]] = {}
    seen = set()
    for command in commands:
        if command.id in seen:
            continue
        seen.add(command.id)
        contract_id = command.data.contract_id
        outcome = decide(contracts.get(contract_id), None, command, datetime.now(UTC))
        if outcome.contract:
            contracts[contract_id] = outcome.contract
        if outcome.event:
            ids.setdefault(contract_id, []).append(outcome.event.id)
    outcome = apply_billing_change(None, contracts.values(), problem, datetime.now(UTC))
    for contract, event in zip(outcome.contracts, outcome.events, strict=True):
        contracts[contract.contract_id] = contract
        ids[contract.contract_id].append(event.id)
    return ids, contracts


async def test_a_new_instance_on_the_same_database_continues_without_loss_or_repeats(settings_for, registry_topics):
    client, freelancer = new_id("client"), new_id("freelancer")
    contracts = [new_id("contract") for _ in range(CONTRACTS)]
    before_stop = [opening(c, client, freelancer, minute=0) for c in contracts] + [
        pausing(client, c, minute=1, message=f"pause {n}") for n, c in enumerate(contracts[:4])]
    after_stop = [resuming(client, contracts[0], minute=2), ending(freelancer, contracts[1], minute=2),
                  pausing(client, contracts[4], minute=2)]
    # Commands the first instance saw come again after the restart: the inbox must remember them.
    again = before_stop[:2] + before_stop[-2:]
    problem = problem_opened(client, minute=5)
    expected, final = oracle(before_stop + after_stop + again, problem)
    expected_ids = {event_id for ids in expected.values() for event_id in ids}

    async with TopicReader.opened(registry_topics, CONTRACT_EVENTS) as events:
        async with running(build(settings_for(Settings, database="contract-state"))) as first:
            await publish(registry_topics, CONTRACT_COMMANDS, before_stop)
            # Stop as soon as anything came out: the first inputs may be only partly applied.
            await events.wait_for(lambda event: event["data"]["contract_id"] in contracts)

        await publish(registry_topics, CONTRACT_COMMANDS, after_stop + again)

        async with running(build(settings_for(Settings, database="contract-state"))) as restarted:
            command_events = len(expected_ids) - (CONTRACTS - 1)  # all but the billing fan-out
            await events.wait_for(lambda event: event["id"] in expected_ids, count=command_events, timeout=60)
            # Only now the billing change: its fan-out must see every contract as the commands left it.
            await publish(registry_topics, BILLING_PROBLEMS, [problem])
            await events.wait_for(lambda event: event["id"] in expected_ids, count=len(expected_ids), timeout=60)
            await events.settle()
        assert restarted.intakes[0].duplicates >= len(again)
    applied = first.intakes[0].applied + restarted.intakes[0].applied
    assert applied == len(before_stop) + len(after_stop), "every command applied once, across both instances"

    published = [event["id"] for event in about(events, *contracts)]
    repeated = [event_id for event_id, times in Counter(published).items() if times > 1]
    assert repeated == [], "an event was published twice"
    assert set(published) == expected_ids, "an event was lost, or one was made up"
    for contract in contracts:
        told = about(events, contract)
        assert [event["id"] for event in told] == expected[contract], contract
        assert [event["data"]["version"] for event in told] == list(range(1, len(told) + 1)), contract
        assert told[-1]["data"] == final[contract].snapshot().model_dump(mode="json", exclude_none=True), contract
    assert all(event["type"] != "contract.command_rejected" for event in about(events, *contracts))
