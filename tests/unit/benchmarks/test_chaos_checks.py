"""The chaos run's model and checks (benchmarks.chaos_workload, benchmarks.chaos_checks) on made-up
outputs: right ones pass, and each kind of wrong one is named with its invariant and subject."""

from datetime import UTC, datetime, timedelta

import pytest

from benchmarks.chaos_checks import Record, check
from benchmarks.chaos_workload import ContractModel, EntryModel, Workload, draw

T0 = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)


def at(minutes: int) -> str:
    return (T0 + timedelta(minutes=minutes)).isoformat()


def record(topic: str, key: str, event_id: str, type_: str, data: dict, offset: int, causation: str | None = None,
           headers: dict | None = None) -> Record:
    event = {"id": event_id, "type": type_, "data": data, **({"causationid": causation} if causation else {})}
    return Record(topic, 0, offset, key, headers or {}, event)


def snapshot(version: int, status: str, holds: list[str], minutes: int, **extra: object) -> dict:
    return {"contract_id": "c1", "client_id": "cl1", "freelancer_id": "f1", "kind": "hourly", "status": status,
            "holds": holds, "version": version, "changed_at": at(minutes), "client_message": None, **extra}


def workload() -> Workload:
    """c1 of cl1: opened, paused by the client (minute 10), resumed (minute 20); cl1's payment failed
    and was paid; entry e1 (tracker) and e2."""
    contract = ContractModel("c1", "cl1", "f1", "hourly", refusals=[("cmd-9", "not_paused_by_client")])
    return Workload(
        contracts={"c1": contract}, open_problems={"cl1": set()},
        problem_changes={"cl1": [("billing.problem_opened", "payment_failed", ("payment_failed",)),
                                 ("billing.problem_resolved", "payment_failed", ())]},
        entries={"e1": EntryModel("e1", "c1"), "e2": EntryModel("e2", "c1")},
    )


def outputs(**changes: list[Record]) -> dict[str, list[Record]]:
    right = {
        "billing.problems": [
            record("billing.problems", "cl1", "p1", "billing.problem_opened",
                   {"client_id": "cl1", "kind": "payment_failed", "open_problems": ["payment_failed"], "opened_at": at(1)}, 0),
            record("billing.problems", "cl1", "p2", "billing.problem_resolved",
                   {"client_id": "cl1", "kind": "payment_failed", "open_problems": [], "resolved_at": at(2)}, 1),
        ],
        "contracts.events": [
            record("contracts.events", "c1", "v1", "contract.opened", snapshot(1, "active", [], 0), 0),
            record("contracts.events", "c1", "v2", "contract.paused", snapshot(2, "paused", ["client"], 10), 1),
            record("contracts.events", "c1", "v3", "contract.resumed", snapshot(3, "active", [], 20), 2),
            record("contracts.events", "c1", "r1", "contract.command_rejected",
                   {"contract_id": "c1", "command_id": "cmd-9", "reason": "not_paused_by_client"}, 3),
        ],
        "time.entries": [
            record("time.entries", "c1", "t1", "time_entry.accepted",
                   {"entry_id": "e1", "contract_id": "c1", "started_at": at(5), "ended_at": at(12),
                    "payment_protection": "eligible"}, 0),
            record("time.entries", "c1", "t2", "time_entry.rejected",
                   {"entry_id": "e2", "contract_id": "c1", "reason": "contract_paused"}, 1),
            record("time.entries", "c1", "t3", "time_entry.protection_revoked",
                   {"entry_id": "e1", "contract_id": "c1", "reason": "work_during_pause"}, 2),
        ],
        "notifications": [
            record("notifications", "f1", "n1", "notification.created",
                   {"notification_id": "n1", "recipient_id": "f1", "kind": "contract_paused"}, 0, causation="v2"),
        ],
    }
    return right | changes


def invariants(found: dict[str, list[Record]]) -> list[tuple[str, str]]:
    return [(violation.invariant, violation.subject) for violation in check(workload(), found).violations]


def test_right_outputs_pass_and_repeated_ids_count_as_duplicates() -> None:
    found = outputs()
    found["contracts.events"].insert(2, found["contracts.events"][1])
    findings = check(workload(), found)
    assert findings.violations == []
    assert findings.duplicates == {"contracts.events": 1}


def test_a_wrong_last_snapshot() -> None:
    events = outputs()["contracts.events"]
    events[2] = record("contracts.events", "c1", "v3", "contract.holds_changed", snapshot(3, "paused", ["platform"], 20), 2)
    assert ("last snapshot is the model's", "c1") in invariants(outputs(**{"contracts.events": events}))


def test_versions_out_of_order_and_with_gaps() -> None:
    events = outputs()["contracts.events"]
    assert ("versions strictly increase", "c1") in invariants(outputs(**{"contracts.events": [events[0], events[2], events[1]]}))
    assert ("versions have no gaps", "c1") in invariants(outputs(**{"contracts.events": [events[0], events[2]]}))


def test_refusals_and_problems_not_as_the_model_says() -> None:
    events = outputs()["contracts.events"][:3]
    assert ("commands refused as the model says", "c1") in invariants(outputs(**{"contracts.events": events}))
    problems = outputs()["billing.problems"][:1]
    assert ("billing problems as the model says", "cl1") in invariants(outputs(**{"billing.problems": problems}))


@pytest.mark.parametrize("keep", [[0, 2], [0, 1, 2, 3]])
def test_entries_without_one_verdict(keep: list[int]) -> None:
    entries = outputs()["time.entries"]
    twice = entries + [record("time.entries", "c1", "t4", "time_entry.rejected",
                              {"entry_id": "e2", "contract_id": "c1", "reason": "contract_paused"}, 3)]
    assert ("one verdict per entry", "e2") in invariants(outputs(**{"time.entries": [twice[i] for i in keep]}))


def test_accepted_work_during_a_pause_left_eligible() -> None:
    entries = outputs()["time.entries"][:2]
    assert invariants(outputs(**{"time.entries": entries})) == [("accepted work during a pause is revoked", "e1")]


def test_work_beside_a_pause_needs_no_revocation() -> None:
    entries = outputs()["time.entries"][:2]
    entries[0] = record("time.entries", "c1", "t1", "time_entry.accepted",
                        {"entry_id": "e1", "contract_id": "c1", "started_at": at(20), "ended_at": at(30),
                         "payment_protection": "eligible"}, 0)
    assert invariants(outputs(**{"time.entries": entries})) == []


def test_two_notices_for_one_cause() -> None:
    notices = outputs()["notifications"]
    # the same contract version told twice under another event id (a second contract.paused for v2)
    events = outputs()["contracts.events"]
    events.insert(2, record("contracts.events", "c1", "v2-again", "contract.paused", snapshot(2, "paused", ["client"], 10), 2))
    notices.append(record("notifications", "f1", "n2", "notification.created",
                          {"notification_id": "n2", "recipient_id": "f1", "kind": "contract_paused"}, 1,
                          causation="v2-again"))
    found = invariants(outputs(**{"notifications": notices, "contracts.events": events}))
    assert ("one notice per cause", "f1") in found and ("versions strictly increase", "c1") in found


def test_dead_letters_and_wrong_keys() -> None:
    letter = record("contracts.commands.dlq", "c1", "x", "contract.pause", {}, 0,
                    headers={"x-dlq-reason": "schema_violation", "x-dlq-error": "bad"})
    problems = outputs()["billing.problems"]
    problems[0] = Record("billing.problems", 0, 0, "someone-else", {}, problems[0].event)
    found = invariants(outputs(**{"contracts.commands.dlq": [letter], "billing.problems": problems}))
    assert ("no valid input dead-lettered", "contracts.commands.dlq@0:0") in found
    assert ("keyed as DESIGN says", "billing.problems@0:0") in found


def test_the_model_follows_the_commands() -> None:
    drawn = draw(seed=3, events=400, start=T0)
    assert len(drawn.inputs) == 400 and drawn.counts["re-send"] > 0
    assert [item.event.id for item in drawn.inputs if not item.resend] == sorted(
        {item.event.id for item in drawn.inputs})  # one id per input, re-sends repeat theirs
    for contract in drawn.contracts.values():
        expected = drawn.expected(contract.contract_id)
        assert ("client" in expected["holds"]) == (contract.client_hold and not contract.ended)
        assert expected["status"] == ("ended" if contract.ended else "paused" if expected["holds"] else "active")
