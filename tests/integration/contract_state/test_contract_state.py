"""contract-state in-process against the real broker: every rule end to end, rejections, the billing
fan-out, privacy of billing specifics, duplicates and dead letters.

Commands (keyed by contract) and billing changes (keyed by client) travel on different topics, so
a test waits for the effect of one before publishing an input of the other that depends on it.
"""

import pytest

from services.contract_state.app import Settings, build
from shared.topics import BILLING_PROBLEMS, CONTRACT_COMMANDS, CONTRACT_EVENTS
from tests.integration.contract_state.helpers import about, contract_over_http, new_id, summary, wait_about
from tests.support import TopicReader, publish, publish_raw, running
from tests.unit.contract_state.builders import ending, opening, pausing, problem_opened, problem_resolved, resuming

ACTIVE, PAUSED = "active", "paused"


@pytest.fixture
def parties() -> tuple[str, str, str]:
    return new_id("client"), new_id("freelancer"), new_id("contract")


async def test_open_pause_resume_end(settings_for, registry_topics, parties):
    client, freelancer, contract = parties
    commands = [
        opening(contract, client, freelancer, minute=0),
        pausing(client, contract, minute=1, message="Budget review, back Monday"),
        resuming(client, contract, minute=2),
        ending(freelancer, contract, minute=3),
    ]
    async with TopicReader.opened(registry_topics, CONTRACT_EVENTS) as events:
        async with running(build(settings_for(Settings))) as service:
            await publish(registry_topics, CONTRACT_COMMANDS, commands)
            published = await wait_about(events, contract, count=4)
            shown = await contract_over_http(service, contract)
            unknown = await contract_over_http(service, new_id("contract"))
    assert summary(published) == [
        ("contract.opened", ACTIVE, [], 1),
        ("contract.paused", PAUSED, ["client"], 2),
        ("contract.resumed", ACTIVE, [], 3),
        ("contract.ended", "ended", [], 4),
    ]
    assert published[1]["data"]["client_message"] == "Budget review, back Monday"
    assert "client_message" not in published[2]["data"], "the message goes with the client hold"
    assert [event["data"]["changed_at"] for event in published] == [c.time.isoformat().replace("+00:00", "Z")
                                                                    for c in commands]
    assert [event["causationid"] for event in published] == [command.id for command in commands]
    assert {event["source"] for event in published} == {"contract-state"}
    opened = published[0]["data"]
    assert (opened["client_id"], opened["freelancer_id"], opened["kind"]) == (client, freelancer, "hourly")
    assert shown.status_code == 200 and shown.json() == published[-1]["data"]
    assert unknown.status_code == 404


async def test_every_refused_command_is_rejected_with_its_reason(settings_for, registry_topics, parties):
    client, freelancer, contract = parties
    stranger, unknown = new_id("stranger"), new_id("contract")
    refused = [
        (pausing(client, unknown), "unknown_contract"),
        (opening(contract, client, freelancer), "already_exists"),
        (pausing(freelancer, contract), "not_authorized"),
        (resuming(stranger, contract), "not_authorized"),
        (ending(stranger, contract), "not_authorized"),
        (resuming(client, contract), "not_paused_by_client"),
    ]
    after_end = [(pausing(client, contract), "contract_ended"), (ending(freelancer, contract), "contract_ended")]
    commands = [opening(contract, client, freelancer), *[c for c, _ in refused], ending(client, contract),
                *[c for c, _ in after_end]]
    async with TopicReader.opened(registry_topics, CONTRACT_EVENTS) as events:
        async with running(build(settings_for(Settings))):
            await publish(registry_topics, CONTRACT_COMMANDS, commands)
            published = await wait_about(events, contract, count=len(commands) - 1)
            await wait_about(events, unknown, count=1)
            await events.settle()
    rejection_of_unknown, = about(events, unknown)
    rejections = [rejection_of_unknown, *[e for e in published if e["type"] == "contract.command_rejected"]]
    assert [event["data"]["reason"] for event in rejections] == [reason for _, reason in refused + after_end]
    assert [event["data"]["command_id"] for event in rejections] == [c.id for c, _ in refused + after_end]
    assert [event["data"]["actor_id"] for event in rejections[2:5]] == [freelancer, stranger, stranger]
    assert summary([e for e in published if e["type"] != "contract.command_rejected"]) == [
        ("contract.opened", ACTIVE, [], 1), ("contract.ended", "ended", [], 2)]


async def test_a_billing_problem_pauses_every_open_contract_of_the_client_and_resolution_resumes_them(
    settings_for, registry_topics, parties
):
    client, freelancer, _ = parties
    held = [new_id("contract") for _ in range(5)]
    ended, other_clients = new_id("contract"), new_id("contract")
    async with TopicReader.opened(registry_topics, CONTRACT_EVENTS) as events:
        async with running(build(settings_for(Settings))):
            await publish(registry_topics, CONTRACT_COMMANDS, [
                *[opening(contract, client, freelancer) for contract in held],
                opening(ended, client, freelancer), ending(client, ended),
                opening(other_clients, new_id("client"), freelancer),
            ])
            await wait_about(events, *held, ended, other_clients, count=len(held) + 3)
            await publish(registry_topics, BILLING_PROBLEMS, [
                problem_opened(client, "payment_failed", minute=5),
                # A second problem: the contracts are already held, nothing to say.
                problem_opened(client, "chargeback", ["payment_failed", "chargeback"], minute=6),
                # One of two resolved: still held.
                problem_resolved(client, "payment_failed", ["chargeback"], minute=7),
                problem_resolved(client, "chargeback", [], minute=8),
            ])
            published = await wait_about(events, *held, count=3 * len(held))
            await events.settle()
    for contract in held:
        assert summary(about(events, contract)) == [
            ("contract.opened", ACTIVE, [], 1),
            ("contract.paused", PAUSED, ["platform"], 2),
            ("contract.resumed", ACTIVE, [], 3),
        ], contract
    assert len(about(events, ended)) == 2 and len(about(events, other_clients)) == 1, "they were left alone"
    paused = [event for event in published if event["type"] == "contract.paused"]
    assert len({event["id"] for event in paused}) == len(held)
    assert len({event["causationid"] for event in paused}) == 1, "one billing change paused them all"


async def test_a_contract_opened_during_a_billing_problem_starts_paused_by_the_platform(
    settings_for, registry_topics, parties
):
    client, freelancer, probe = parties
    contract = new_id("contract")
    async with TopicReader.opened(registry_topics, CONTRACT_EVENTS) as events:
        async with running(build(settings_for(Settings))):
            await publish(registry_topics, CONTRACT_COMMANDS, [opening(probe, client, freelancer)])
            await wait_about(events, probe, count=1)
            await publish(registry_topics, BILLING_PROBLEMS, [problem_opened(client, "account_suspended", minute=5)])
            await wait_about(events, probe, count=2)  # the standing is applied
            await publish(registry_topics, CONTRACT_COMMANDS, [opening(contract, client, freelancer, minute=6)])
            (opened,) = await wait_about(events, contract, count=1)
            await publish(registry_topics, BILLING_PROBLEMS, [problem_resolved(client, "account_suspended", minute=7)])
            published = await wait_about(events, contract, count=2)
    assert summary(published) == [("contract.opened", PAUSED, ["platform"], 1), ("contract.resumed", ACTIVE, [], 2)]
    assert opened["type"] == "contract.opened"


@pytest.mark.parametrize("first_lifted", ["client", "platform"])
async def test_with_both_holds_lifting_one_changes_holds_and_lifting_the_other_resumes(
    settings_for, registry_topics, parties, first_lifted
):
    client, freelancer, contract = parties
    lift_client = [resuming(client, contract, minute=7)]
    lift_platform = [problem_resolved(client, "payment_failed", minute=8)]
    async with TopicReader.opened(registry_topics, CONTRACT_EVENTS) as events:
        async with running(build(settings_for(Settings))):
            await publish(registry_topics, CONTRACT_COMMANDS, [
                opening(contract, client, freelancer), pausing(client, contract, minute=1, message="holiday")])
            await wait_about(events, contract, count=2)
            await publish(registry_topics, BILLING_PROBLEMS, [problem_opened(client, minute=5)])
            await wait_about(events, contract, count=3)
            for step, (topic, inputs) in enumerate(
                [(CONTRACT_COMMANDS, lift_client), (BILLING_PROBLEMS, lift_platform)][:: 1 if first_lifted == "client"
                                                                                      else -1]
            ):
                await publish(registry_topics, topic, inputs)
                published = await wait_about(events, contract, count=4 + step)
    remaining = ["platform"] if first_lifted == "client" else ["client"]
    assert summary(published) == [
        ("contract.opened", ACTIVE, [], 1),
        ("contract.paused", PAUSED, ["client"], 2),
        ("contract.holds_changed", PAUSED, ["platform", "client"], 3),
        ("contract.holds_changed", PAUSED, remaining, 4),
        ("contract.resumed", ACTIVE, [], 5),
    ]
    assert published[2]["data"]["client_message"] == "holiday"
    assert ("client_message" in published[3]["data"]) == (remaining == ["client"])


async def test_contract_events_never_carry_billing_specifics(settings_for, registry_topics, parties):
    client, freelancer, contract = parties
    canary = new_id("CANARY")
    secrets = [canary, "chargeback", "payment_failed", "insufficient_funds", "4242", "detail", "open_problems"]
    async with TopicReader.opened(registry_topics, CONTRACT_EVENTS) as events:
        async with running(build(settings_for(Settings))):
            await publish(registry_topics, CONTRACT_COMMANDS, [
                opening(contract, client, freelancer), pausing(client, contract, minute=1, message="see you")])
            await wait_about(events, contract, count=2)
            await publish(registry_topics, BILLING_PROBLEMS, [
                problem_opened(client, "payment_failed", minute=5,
                               detail=f"{canary}: card 4242 declined (insufficient_funds), 49.90 EUR due"),
                problem_opened(client, "chargeback", ["chargeback", "payment_failed"], minute=6, detail=canary),
                problem_resolved(client, "payment_failed", ["chargeback"], minute=7),
                problem_resolved(client, "chargeback", [], minute=8),
            ])
            await wait_about(events, contract, count=4)
            await events.settle()
    assert [event["type"] for event in about(events, contract)][2:] == [
        "contract.holds_changed", "contract.holds_changed"]
    for record in events.records:  # everything contract-state published meanwhile, not only ours
        for secret in secrets:
            assert secret.encode() not in record.value, (secret, record.value)


async def test_a_late_billing_change_is_ignored(settings_for, registry_topics, parties):
    client, freelancer, contract = parties
    late = problem_opened(client, "payment_failed", minute=7)  # happened before the resolution at minute 10
    after = problem_opened(client, "chargeback", minute=12)
    async with TopicReader.opened(registry_topics, CONTRACT_EVENTS) as events:
        async with running(build(settings_for(Settings))):
            await publish(registry_topics, CONTRACT_COMMANDS, [opening(contract, client, freelancer)])
            await wait_about(events, contract, count=1)
            await publish(registry_topics, BILLING_PROBLEMS, [
                problem_opened(client, "payment_failed", minute=5),
                problem_resolved(client, "payment_failed", minute=10),
                late,
                after,
            ])
            published = await wait_about(events, contract, count=4)
            await events.settle()
    assert summary(about(events, contract)) == [
        ("contract.opened", ACTIVE, [], 1),
        ("contract.paused", PAUSED, ["platform"], 2),
        ("contract.resumed", ACTIVE, [], 3),
        ("contract.paused", PAUSED, ["platform"], 4),
    ]
    assert published[3]["causationid"] == after.id, "the late problem paused nothing"


async def test_a_command_or_billing_change_delivered_three_times_takes_effect_once(
    settings_for, registry_topics, parties
):
    client, freelancer, contract = parties
    open_command, pause = opening(contract, client, freelancer), pausing(client, contract, message="once")
    # Not a duplicate but a second pause: the contract is already paused by the client, nothing changes.
    pause_again = pausing(client, contract, minute=2, message="twice")
    problem = problem_opened(client, minute=5)
    async with TopicReader.opened(registry_topics, CONTRACT_EVENTS) as events:
        async with running(build(settings_for(Settings))) as service:
            await publish(registry_topics, CONTRACT_COMMANDS, [open_command] * 3 + [pause] * 3 + [pause_again])
            await wait_about(events, contract, count=2)
            await publish(registry_topics, BILLING_PROBLEMS, [problem] * 3)
            await wait_about(events, contract, count=3)
            await events.settle()
    assert summary(about(events, contract)) == [
        ("contract.opened", ACTIVE, [], 1),
        ("contract.paused", PAUSED, ["client"], 2),
        ("contract.holds_changed", PAUSED, ["platform", "client"], 3),
    ], "no already_exists rejection either: a duplicate is not a second command"
    assert about(events, contract)[2]["data"]["client_message"] == "once"
    assert sum(intake.duplicates for intake in service.intakes) >= 6


async def test_unreadable_commands_are_dead_lettered_and_the_partition_moves_on(
    settings_for, registry_topics, parties
):
    client, freelancer, contract = parties
    good = opening(contract, client, freelancer)
    unknown_type = good.to_json().replace(b'"contract.open"', b'"contract.explode"')
    bad_kind = good.to_json().replace(b'"hourly"', b'"by_the_moon"')
    async with (
        TopicReader.opened(registry_topics, CONTRACT_EVENTS) as events,
        TopicReader.opened(registry_topics, CONTRACT_COMMANDS.dlq) as dead,
    ):
        async with running(build(settings_for(Settings))):
            # One key, so one partition: the bad messages come first and must not block the good one.
            await publish_raw(registry_topics, CONTRACT_COMMANDS, contract, [b"{not json", unknown_type, bad_kind,
                                                                             good.to_json()])
            await wait_about(events, contract, count=1)
            await dead.wait_for_records(3)
    parked = [record for record in dead.records if record.key == contract.encode()]
    assert [dict(record.headers)["x-dlq-reason"] for record in parked] == [
        b"invalid_json", b"unknown_type", b"schema_violation"]
    assert [record.value for record in parked] == [b"{not json", unknown_type, bad_kind]
    assert {dict(record.headers)["x-dlq-consumer-group"] for record in parked} == {b"contract-state"}
    assert summary(about(events, contract)) == [("contract.opened", ACTIVE, [], 1)]
