"""Every rule of the DESIGN.md table, the late-delivery rule and the text the client is given."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from services.billing_monitor.domain import SOURCE, ClientStanding, Decision, apply_billing_fact
from shared.events.billing import (
    AccountSuspended,
    AccountSuspendedData,
    PaymentFailed,
    PaymentFailedData,
    ProblemOpened,
    ProblemResolved,
)
from tests.unit.billing_monitor.facts import at, fact

CLIENT = "client-42"
NOW = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)


def run(*facts, standing: ClientStanding | None = None) -> tuple[ClientStanding, list[Decision]]:
    standing = standing or ClientStanding(CLIENT)
    decisions = []
    for billing_fact in facts:
        decision = apply_billing_fact(standing, billing_fact, now=NOW)
        decisions.append(decision)
        standing = decision.standing
    return standing, decisions


def summary(decision: Decision) -> list[tuple[str, str, list[str]]]:
    return [(change.type, change.data.kind, change.data.open_problems) for change in decision.changes]


OPENINGS = [
    ("payment_failed", "payment_failed"),
    ("payment_method_expired", "payment_method_invalid"),
    ("payment_method_removed", "payment_method_invalid"),
    ("account_suspended", "account_suspended"),
    ("chargeback_opened", "chargeback"),
    ("chargeback_lost", "chargeback"),
]
RESOLUTIONS = [
    ("payment_failed", "payment_succeeded", "payment_failed"),
    ("payment_failed", "payment_method_updated", "payment_failed"),
    ("payment_method_expired", "payment_method_updated", "payment_method_invalid"),
    ("payment_method_removed", "payment_method_updated", "payment_method_invalid"),
    ("account_suspended", "account_reinstated", "account_suspended"),
    ("chargeback_opened", "chargeback_won", "chargeback"),
]


@pytest.mark.parametrize(("name", "kind"), OPENINGS)
def test_a_fact_opens_its_problem(name, kind):
    billing_fact = fact(name, CLIENT, at(1))
    standing, (decision,) = run(billing_fact)
    assert summary(decision) == [("billing.problem_opened", kind, [kind])]
    (opened,) = decision.changes
    assert opened.data.opened_at == billing_fact.time
    assert opened.data.client_id == CLIENT and opened.subject == CLIENT
    assert opened.source == SOURCE and opened.time == NOW
    assert opened.causationid == billing_fact.id and opened.correlationid == billing_fact.id
    assert standing.open_kinds == [kind]
    assert standing.open_problems[kind].opened_at == billing_fact.time
    assert standing.open_problems[kind].detail == opened.data.detail


@pytest.mark.parametrize(("opening", "resolving", "kind"), RESOLUTIONS)
def test_a_fact_resolves_its_problem(opening, resolving, kind):
    resolution = fact(resolving, CLIENT, at(2))
    standing, (_, decision) = run(fact(opening, CLIENT, at(1)), resolution)
    assert summary(decision) == [("billing.problem_resolved", kind, [])]
    assert decision.changes[0].data.resolved_at == resolution.time
    assert standing.open_kinds == []


@pytest.mark.parametrize("resolving", ["payment_succeeded", "payment_method_updated", "account_reinstated", "chargeback_won"])
def test_resolving_what_is_not_open_emits_nothing(resolving):
    standing, (decision,) = run(fact(resolving, CLIENT, at(1)))
    assert decision.changes == ()
    assert standing.open_kinds == []


def test_a_payment_method_update_resolves_an_invalid_method_and_a_failed_payment_one_event_each():
    update = fact("payment_method_updated", CLIENT, at(3))
    standing, decisions = run(
        fact("payment_failed", CLIENT, at(1)), fact("payment_method_expired", CLIENT, at(2)), update
    )
    assert summary(decisions[1]) == [
        ("billing.problem_opened", "payment_method_invalid", ["payment_failed", "payment_method_invalid"])
    ]
    assert summary(decisions[2]) == [
        ("billing.problem_resolved", "payment_method_invalid", ["payment_failed"]),
        ("billing.problem_resolved", "payment_failed", []),
    ]
    first, second = decisions[2].changes
    assert first.id != second.id, "one cause, two events of one type: the kind tells their ids apart"
    assert standing.open_kinds == []


def test_a_second_failure_of_a_failing_payment_emits_nothing_and_keeps_the_first_opening():
    first = fact("payment_failed", CLIENT, at(1))
    standing, (_, repeat) = run(first, fact("payment_failed", CLIENT, at(5)))
    assert repeat.changes == ()
    assert standing.open_problems["payment_failed"].opened_at == first.time
    assert standing.latest_fact_at["payment_failed"] == at(5)


def test_a_lost_chargeback_keeps_it_open_and_emits_nothing():
    standing, (_, lost) = run(fact("chargeback_opened", CLIENT, at(1)), fact("chargeback_lost", CLIENT, at(2)))
    assert lost.changes == ()
    assert standing.open_kinds == ["chargeback"]


def test_a_lost_chargeback_whose_opening_never_arrived_opens_it():
    standing, (decision,) = run(fact("chargeback_lost", CLIENT, at(2)))
    assert summary(decision) == [("billing.problem_opened", "chargeback", ["chargeback"])]
    assert "dp-7" in decision.changes[0].data.detail


def test_problems_of_different_kinds_stack_and_resolve_independently():
    standing, decisions = run(
        fact("account_suspended", CLIENT, at(1)),
        fact("chargeback_opened", CLIENT, at(2)),
        fact("payment_failed", CLIENT, at(3)),
        fact("account_reinstated", CLIENT, at(4)),
    )
    assert [summary(d) for d in decisions] == [
        [("billing.problem_opened", "account_suspended", ["account_suspended"])],
        [("billing.problem_opened", "chargeback", ["account_suspended", "chargeback"])],
        [("billing.problem_opened", "payment_failed", ["account_suspended", "chargeback", "payment_failed"])],
        [("billing.problem_resolved", "account_suspended", ["chargeback", "payment_failed"])],
    ]
    assert standing.open_kinds == ["chargeback", "payment_failed"]


# --- late delivery --------------------------------------------------------------------------


def test_a_late_failure_does_not_reopen_a_payment_that_succeeded_after_it():
    standing, (_, _, late) = run(
        fact("payment_failed", CLIENT, at(1)), fact("payment_succeeded", CLIENT, at(3)), fact("payment_failed", CLIENT, at(2))
    )
    assert late.changes == () and late.late_for == ("payment_failed",)
    assert standing.open_kinds == []
    assert standing.latest_fact_at["payment_failed"] == at(3)


def test_a_late_success_does_not_resolve_a_failure_that_came_after_it():
    standing, (_, late) = run(fact("payment_failed", CLIENT, at(5)), fact("payment_succeeded", CLIENT, at(4)))
    assert late.changes == () and late.late_for == ("payment_failed",)
    assert standing.open_kinds == ["payment_failed"]


def test_a_success_that_changed_nothing_still_shuts_out_an_older_failure():
    standing, (success, late) = run(fact("payment_succeeded", CLIENT, at(3)), fact("payment_failed", CLIENT, at(1)))
    assert success.changes == () and late.changes == ()
    assert standing.open_kinds == []


def test_the_watermark_is_per_kind_a_late_fact_of_another_kind_still_applies():
    standing, (_, other_kind) = run(fact("account_suspended", CLIENT, at(9)), fact("payment_failed", CLIENT, at(1)))
    assert summary(other_kind) == [("billing.problem_opened", "payment_failed", ["account_suspended", "payment_failed"])]
    assert standing.latest_fact_at == {"account_suspended": at(9), "payment_failed": at(1)}


def test_a_payment_method_update_is_judged_per_kind():
    """Late for the failed payment (a newer failure is known), in time for the invalid method."""
    standing, (_, _, update) = run(
        fact("payment_method_expired", CLIENT, at(1)),
        fact("payment_failed", CLIENT, at(5)),
        fact("payment_method_updated", CLIENT, at(3)),
    )
    assert summary(update) == [("billing.problem_resolved", "payment_method_invalid", ["payment_failed"])]
    assert update.late_for == ("payment_failed",)
    assert standing.open_kinds == ["payment_failed"]
    assert standing.latest_fact_at == {"payment_method_invalid": at(3), "payment_failed": at(5)}


@pytest.mark.parametrize(
    ("first", "second", "open_after"),
    [
        ("payment_failed", "payment_succeeded", []),
        ("payment_succeeded", "payment_failed", ["payment_failed"]),
        ("chargeback_opened", "chargeback_won", []),
        ("chargeback_won", "chargeback_lost", ["chargeback"]),
    ],
)
def test_facts_with_the_same_time_apply_in_delivery_order(first, second, open_after):
    """Equal is not older: the second applies, and the partition order (the upstream's) decides."""
    standing, _ = run(fact(first, CLIENT, at(1)), fact(second, CLIENT, at(1)))
    assert standing.open_kinds == open_after


def test_replaying_a_fact_reproduces_the_same_event_ids():
    failure = fact("payment_failed", CLIENT, at(1))
    _, (once,) = run(failure)
    _, (again,) = run(failure)
    assert [c.id for c in once.changes] == [c.id for c in again.changes]


def test_a_fact_about_another_client_is_refused():
    with pytest.raises(ValueError, match="client-7"):
        apply_billing_fact(ClientStanding(CLIENT), fact("payment_failed", "client-7", at(1)), now=NOW)


def test_event_types_are_the_contract_ones():
    _, (opened, resolved) = run(fact("payment_failed", CLIENT, at(1)), fact("payment_succeeded", CLIENT, at(2)))
    assert isinstance(opened.changes[0], ProblemOpened) and isinstance(resolved.changes[0], ProblemResolved)


# --- what the client is told ------------------------------------------------------------------


def failure(**fields) -> PaymentFailed:
    data = PaymentFailedData(client_id=CLIENT, payment_method_id="pm-1", **fields)
    return PaymentFailed.new(data, source="test", time=at(1))


def detail_of(billing_fact) -> str:
    (change,) = apply_billing_fact(ClientStanding(CLIENT), billing_fact, now=NOW).changes
    return change.data.detail


def test_a_declined_payment_says_how_much_why_which_attempt_and_what_to_do():
    detail = detail_of(failure(attempt=2, decline_code="insufficient_funds", amount_due=Decimal("49.90")))
    assert detail == (
        "Your payment of 49.90 was declined (insufficient_funds) on attempt 2. "
        "Update your payment method or retry the payment to reactivate your contracts."
    )


@pytest.mark.parametrize(
    ("fields", "expected_start"),
    [
        ({"attempt": 1}, "Your payment was declined on attempt 1."),
        ({"attempt": 3, "amount_due": Decimal("1200")}, "Your payment of 1200.00 was declined on attempt 3."),
        ({"attempt": 1, "amount_due": Decimal("0.125")}, "Your payment of 0.125 was declined on attempt 1."),
        ({"attempt": 1, "amount_due": Decimal("49.9"), "decline_code": "card_declined"},
         "Your payment of 49.90 was declined (card_declined) on attempt 1."),
    ],
)
def test_a_declined_payment_leaves_out_what_upstream_did_not_say(fields, expected_start):
    assert detail_of(failure(**fields)).startswith(expected_start)


@pytest.mark.parametrize(("name", "words"), [
    ("payment_method_expired", ["pm-1", "has expired", "Add a valid payment method"]),
    ("payment_method_removed", ["pm-1", "was removed", "Add a valid payment method"]),
    ("chargeback_opened", ["dispute dp-7", "chargeback", "contact support quoting dispute dp-7"]),
    ("chargeback_lost", ["dispute dp-7", "still owed", "contact support"]),
    ("account_suspended", ["suspended: unpaid invoices.", "Contact support"]),
])
def test_every_opening_says_what_is_wrong_and_what_to_do(name, words):
    detail = detail_of(fact(name, CLIENT, at(1)))
    for word in words:
        assert word in detail
    assert "reactivate" in detail or "reinstated" in detail


def test_a_suspension_without_a_reason_says_to_ask_support_why():
    suspension = AccountSuspended.new(AccountSuspendedData(client_id=CLIENT), source="test", time=at(1))
    assert detail_of(suspension).startswith("Your account was suspended. Contact support to learn why")
