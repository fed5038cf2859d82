"""A contract's history: each change kept with its version, type, status, holds and who made it, by role."""

from services.contract_state.domain import HistoryEntry, apply_billing_change, decide, history_entry
from tests.unit.contract_state.builders import NOW, at, ending, opening, pausing, problem_opened, problem_resolved, resuming


def test_each_change_is_kept_with_the_role_of_whoever_made_it():
    contract, entries = None, []
    for command in (opening(), pausing("c-1"), resuming("c-1")):
        outcome = decide(contract, None, command, NOW)
        contract = outcome.contract
        entries.append(history_entry(outcome.event, command))
    billing = apply_billing_change(None, [contract], problem_opened(minute=5), NOW)
    entries += [history_entry(event, problem_opened(minute=5)) for event in billing.events]
    (contract,) = billing.contracts
    lifted = apply_billing_change(billing.standing, [contract], problem_resolved(minute=10), NOW)
    entries += [history_entry(event, problem_resolved(minute=10)) for event in lifted.events]
    (contract,) = lifted.contracts
    end = ending("f-1", minute=12)
    entries.append(history_entry(decide(contract, None, end, NOW).event, end))

    assert [(e.version, e.type, e.status, e.holds, e.actor_role) for e in entries] == [
        (1, "contract.opened", "active", (), "marketplace"),
        (2, "contract.paused", "paused", ("client",), "client"),
        (3, "contract.resumed", "active", (), "client"),
        (4, "contract.paused", "paused", ("platform",), "platform"),
        (5, "contract.resumed", "active", (), "platform"),
        (6, "contract.ended", "ended", (), "freelancer"),
    ]
    assert [e.changed_at for e in entries] == [at(0), at(1), at(2), at(5), at(10), at(12)]


def test_a_history_entry_never_says_why_the_platform_held_the_contract():
    opened = decide(None, None, opening(), NOW).contract
    change = problem_opened(minute=5)
    (event,) = apply_billing_change(None, [opened], change, NOW).events
    entry = history_entry(event, change)
    assert entry == HistoryEntry("k-1", 2, "contract.paused", "paused", ("platform",), "platform", at(5))
    assert "payment" not in repr(entry) and "declined" not in repr(entry)
