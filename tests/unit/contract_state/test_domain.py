"""contract-state's rules, one by one, on the pure domain: no store, no broker, no clock."""

import pytest

from services.contract_state.domain import (
    BillingStanding,
    Contract,
    apply_billing_change,
    decide,
)
from tests.unit.contract_state.builders import (
    NOW,
    T0,
    at,
    ending,
    opening,
    pausing,
    problem_opened,
    problem_resolved,
    resuming,
)


def opened(contract_id: str = "k-1", client_id: str = "c-1", standing: BillingStanding | None = None) -> Contract:
    outcome = decide(None, standing, opening(contract_id, client_id), NOW)
    assert outcome.contract is not None
    return outcome.contract


def applied(contract: Contract, *commands) -> Contract:
    for command in commands:
        outcome = decide(contract, None, command, NOW)
        assert outcome.contract is not None, outcome.event
        contract = outcome.contract
    return contract


def failing(client_id: str = "c-1") -> BillingStanding:
    return BillingStanding(client_id, frozenset({"payment_failed"}), at(-10), at(-10))


# --- open ---------------------------------------------------------------------------------


def test_an_opened_contract_is_active_at_version_1_as_of_the_command():
    command = opening()
    outcome = decide(None, None, command, NOW)
    assert outcome.event.type == "contract.opened"
    snapshot = outcome.event.data
    assert (snapshot.status, snapshot.holds, snapshot.version, snapshot.changed_at) == ("active", [], 1, command.time)
    assert outcome.event.causationid == command.id and outcome.event.correlationid == command.id
    assert outcome.event.source == "contract-state" and outcome.event.time == NOW
    assert decide(None, None, command, NOW).event.id == outcome.event.id, "a replay must reproduce the id"


def test_a_contract_opened_while_its_client_has_open_problems_starts_paused_by_the_platform():
    outcome = decide(None, failing(), opening(), NOW)
    assert (outcome.event.type, outcome.event.data.status, outcome.event.data.holds) == (
        "contract.opened", "paused", ["platform"])


def test_a_contract_opened_after_the_problems_were_resolved_is_active():
    resolved = BillingStanding("c-1", frozenset(), at(-5), at(-5))
    assert decide(None, resolved, opening(), NOW).event.data.status == "active"


def test_opening_an_existing_contract_is_rejected_and_changes_nothing():
    command = opening()
    outcome = decide(opened(), None, command, NOW)
    assert outcome.contract is None
    assert outcome.event.type == "contract.command_rejected"
    assert outcome.event.data.model_dump() == {
        "command_id": command.id, "contract_id": "k-1", "actor_id": "c-1", "reason": "already_exists"}


# --- pause, resume, end ---------------------------------------------------------------------


def test_the_client_pauses_with_a_message_and_resumes():
    contract = opened()
    paused = decide(contract, None, pausing("c-1", message="Back on Monday", minute=4), NOW)
    assert paused.event.type == "contract.paused"
    assert (paused.event.data.holds, paused.event.data.client_message, paused.event.data.version) == (
        ["client"], "Back on Monday", 2)
    assert paused.event.data.changed_at == at(4)
    resumed = decide(paused.contract, None, resuming("c-1", minute=6), NOW)
    assert resumed.event.type == "contract.resumed"
    assert (resumed.event.data.status, resumed.event.data.holds, resumed.event.data.client_message) == (
        "active", [], None)
    assert resumed.event.data.version == 3


def test_a_repeated_pause_changes_nothing_and_keeps_the_first_message():
    contract = applied(opened(), pausing("c-1", message="first"))
    outcome = decide(contract, None, pausing("c-1", message="second"), NOW)
    assert outcome == type(outcome)(None, None)
    assert contract.client_message == "first"


@pytest.mark.parametrize("actor", ["f-1", "someone-else"])
@pytest.mark.parametrize("command", [pausing, resuming])
def test_only_the_client_pauses_or_resumes(actor, command):
    contract = applied(opened(), pausing("c-1")) if command is resuming else opened()
    outcome = decide(contract, None, command(actor), NOW)
    assert outcome.contract is None
    assert (outcome.event.data.reason, outcome.event.data.actor_id) == ("not_authorized", actor)


@pytest.mark.parametrize("actor", ["c-1", "f-1"])
def test_the_client_or_the_freelancer_ends_a_contract_and_its_holds_go(actor):
    contract = applied(opened(standing=failing()), pausing("c-1", message="wait"))
    outcome = decide(contract, None, ending(actor, minute=9), NOW)
    assert outcome.event.type == "contract.ended"
    snapshot = outcome.event.data
    assert (snapshot.status, snapshot.holds, snapshot.client_message, snapshot.version) == ("ended", [], None, 3)


def test_a_stranger_cannot_end_a_contract():
    assert decide(opened(), None, ending("someone-else"), NOW).event.data.reason == "not_authorized"


def test_resuming_a_contract_the_client_did_not_pause_is_rejected():
    assert decide(opened(), None, resuming("c-1"), NOW).event.data.reason == "not_paused_by_client"
    held_by_platform = opened(standing=failing())
    assert decide(held_by_platform, None, resuming("c-1"), NOW).event.data.reason == "not_paused_by_client"


@pytest.mark.parametrize("command", [pausing("c-1"), resuming("c-1"), ending("f-1")])
def test_commands_to_an_unknown_contract_are_rejected(command):
    outcome = decide(None, None, command, NOW)
    assert (outcome.contract, outcome.event.data.reason) == (None, "unknown_contract")


@pytest.mark.parametrize("command", [pausing("c-1"), resuming("c-1"), ending("c-1"), ending("f-1"),
                                     pausing("someone-else")])
def test_ended_is_terminal(command):
    contract = applied(opened(), ending("f-1"))
    outcome = decide(contract, None, command, NOW)
    assert (outcome.contract, outcome.event.data.reason) == (None, "contract_ended")
    assert decide(contract, None, opening(), NOW).event.data.reason == "already_exists"


def test_changed_at_never_goes_back_when_a_command_arrives_late():
    contract = applied(opened(), pausing("c-1", minute=30))
    resumed = decide(contract, None, resuming("c-1", minute=20), NOW).contract
    assert (resumed.changed_at, resumed.version) == (at(30), 3)


# --- billing standing -----------------------------------------------------------------------


def test_a_billing_problem_pauses_every_open_contract_of_the_client_one_event_each():
    contracts = [opened(f"k-{n}") for n in range(5)]
    contracts[4] = applied(contracts[4], ending("c-1"))
    change = problem_opened(minute=5)
    outcome = apply_billing_change(None, contracts, change, NOW)
    assert [event.type for event in outcome.events] == ["contract.paused"] * 4
    assert [event.data.contract_id for event in outcome.events] == ["k-0", "k-1", "k-2", "k-3"]
    assert all(event.data.holds == ["platform"] and event.data.changed_at == at(5) for event in outcome.events)
    assert len({event.id for event in outcome.events}) == 4, "the contract id tells the fan-out's ids apart"
    assert [e.id for e in apply_billing_change(None, contracts, change, NOW).events] == [e.id for e in outcome.events]
    assert outcome.standing == BillingStanding("c-1", frozenset({"payment_failed"}), at(5), at(5))


def test_a_billing_problem_of_another_client_or_a_second_problem_changes_no_contract():
    mine = opened()
    assert apply_billing_change(None, [mine], problem_opened(client_id="c-2"), NOW).contracts == []
    held = apply_billing_change(None, [mine], problem_opened(), NOW).contracts
    second = problem_opened(kind="chargeback", open_problems=["payment_failed", "chargeback"], minute=6)
    outcome = apply_billing_change(failing(), held, second, NOW)
    assert (outcome.contracts, outcome.events) == ([], [])
    assert outcome.standing.open_problems == {"payment_failed", "chargeback"}


def test_the_platform_hold_is_lifted_only_when_no_problem_is_left():
    held = apply_billing_change(None, [opened()], problem_opened(open_problems=["payment_failed", "chargeback"]),
                                NOW).contracts
    one_left = problem_resolved(open_problems=["chargeback"], minute=8)
    standing = BillingStanding("c-1", frozenset({"payment_failed", "chargeback"}), at(5), at(5))
    partly = apply_billing_change(standing, held, one_left, NOW)
    assert partly.events == [] and partly.standing.has_problems
    cleared = apply_billing_change(partly.standing, held, problem_resolved(kind="chargeback", minute=9), NOW)
    assert [(e.type, e.data.status, e.data.holds, e.data.version) for e in cleared.events] == [
        ("contract.resumed", "active", [], 3)]


def test_open_problems_is_the_truth_not_the_count_of_opens_and_resolves():
    held = apply_billing_change(None, [opened()], problem_opened(), NOW)
    # Two resolutions of problems never seen opened still leave what open_problems says.
    still = apply_billing_change(held.standing, held.contracts, problem_resolved(
        kind="chargeback", open_problems=["payment_failed"], minute=6), NOW)
    assert still.events == []
    opened_without_list = apply_billing_change(None, [opened()], problem_opened(open_problems=[]), NOW)
    assert [e.type for e in opened_without_list.events] == ["contract.paused"]


def test_a_late_billing_change_is_ignored():
    contract = opened()
    resolved = BillingStanding("c-1", frozenset(), at(10), at(10))
    outcome = apply_billing_change(resolved, [contract], problem_opened(minute=5), NOW)
    assert outcome == type(outcome)(None, [], [])


def test_changes_at_the_same_instant_are_ordered_by_event_time():
    standing = BillingStanding("c-1", frozenset({"payment_failed"}), at(5), at(6))
    earlier = apply_billing_change(standing, [], problem_resolved(minute=5, event_minute=5.5), NOW)
    later = apply_billing_change(standing, [], problem_resolved(minute=5, event_minute=6), NOW)
    assert earlier.standing is None
    assert later.standing == BillingStanding("c-1", frozenset(), at(5), at(6))


def test_both_holds_then_lifting_one_changes_holds_and_lifting_the_other_resumes():
    client_paused = applied(opened(), pausing("c-1", message="holiday", minute=1))
    platform = apply_billing_change(None, [client_paused], problem_opened(minute=5), NOW)
    (event,) = platform.events
    assert (event.type, event.data.status, event.data.holds, event.data.client_message) == (
        "contract.holds_changed", "paused", ["platform", "client"], "holiday")
    client_resumed = decide(platform.contracts[0], None, resuming("c-1", minute=7), NOW)
    assert (client_resumed.event.type, client_resumed.event.data.holds) == ("contract.holds_changed", ["platform"])
    assert client_resumed.event.data.client_message is None
    cleared = apply_billing_change(platform.standing, [client_resumed.contract], problem_resolved(minute=9), NOW)
    assert [(e.type, e.data.status, e.data.version) for e in cleared.events] == [("contract.resumed", "active", 5)]


def test_a_late_pause_cause_does_not_move_changed_at_back():
    contract = applied(opened(), pausing("c-1", minute=30))
    (event,) = apply_billing_change(None, [contract], problem_opened(minute=5), NOW).events
    assert event.data.changed_at == at(30)
    assert event.data.changed_at >= T0


def test_contract_events_never_carry_billing_specifics():
    change = problem_opened(kind="chargeback", detail="CANARY dispute dp-9 for 120.00 EUR")
    client_paused = applied(opened("k-2"), pausing("c-1"))
    outcome = apply_billing_change(None, [opened("k-1"), client_paused], change, NOW)
    resolved = apply_billing_change(outcome.standing, outcome.contracts, problem_resolved(kind="chargeback"), NOW)
    for event in outcome.events + resolved.events:
        published = event.to_json().decode()
        for secret in ("CANARY", "chargeback", "120.00", "dp-9", "detail", "open_problems"):
            assert secret not in published
