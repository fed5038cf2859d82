"""notification's Get Support rules (DESIGN.md, `support.requests`), one test per rule, no I/O."""

from datetime import timedelta

import pytest

from services.notification import domain
from services.notification.domain import SUPPORT_QUEUE, ClientProblems
from tests.unit.notification.factories import (
    T0, ContractStory, circumvention_reported, problem_opened, problem_resolved, support_requested,
)
from tests.unit.notification.notifier import Notifier

# Words that would give away a client's billing problem.
BILLING_WORDS = ("payment_failed", "payment_method", "chargeback", "suspend", "declin", "card", "dispute",
                 "invoice", "billing", "a payment failed")


def addressed(notices) -> list[tuple[str, str, str]]:
    return [(n.recipient_id, n.recipient_role, n.kind) for n in notices]


def platform_paused() -> tuple[ContractStory, Notifier]:
    contract, notifier = ContractStory("c-1", "client-1", "fl-1"), Notifier()
    notifier.take(contract.opened(), problem_opened("client-1", "payment_failed", "Card 4242 declined."),
                  contract.paused(("platform",)))
    return contract, notifier


def words(notice) -> str:
    return f"{notice.text.title} {notice.text.body}".lower()


# --- who may ask ----------------------------------------------------------------------------


def test_a_request_about_an_unknown_contract_is_refused_to_the_requester_and_goes_no_further():
    notifier = Notifier()
    notices = notifier.take(support_requested("c-unknown", "fl-1"))
    assert addressed(notices) == [("fl-1", "freelancer", "support_request_refused")]
    assert notifier.refusals == ["unknown_contract"] and notifier.cases == []


def test_a_contract_known_only_from_time_entries_has_no_known_parties_yet():
    contract, notifier = ContractStory("c-1", "client-1", "fl-1"), Notifier()
    notifier.take(contract.rejection())
    notices = notifier.take(support_requested("c-1", "fl-1"))
    assert addressed(notices) == [("fl-1", "freelancer", "support_request_refused")]
    assert notifier.refusals == ["unknown_contract"]


@pytest.mark.parametrize("make", [support_requested, circumvention_reported])
def test_someone_who_is_not_a_party_is_refused_and_no_one_else_hears_of_it(make):
    _, notifier = platform_paused()
    notices = notifier.take(make("c-1", "stranger-9"))
    assert addressed(notices) == [("stranger-9", "freelancer", "support_request_refused")]
    assert notifier.refusals == ["not_a_party"] and notifier.cases == []


def test_a_refusal_to_someone_known_as_a_client_is_addressed_to_a_client():
    _, notifier = platform_paused()
    other = ContractStory("c-2", "client-2", "fl-2")
    notifier.take(other.opened())
    (notice,) = notifier.take(support_requested("c-1", "client-2"))
    assert (notice.recipient_role, notice.kind) == ("client", "support_request_refused")


def test_unknown_and_not_a_party_read_the_same_to_the_requester():
    _, notifier = platform_paused()
    (unknown,) = notifier.take(support_requested("c-nope", "stranger-9"))
    (not_a_party,) = notifier.take(support_requested("c-1", "stranger-9"))
    assert unknown.text.body.replace("c-nope", "c-1") == not_a_party.text.body


# --- support.requested ----------------------------------------------------------------------


def test_a_freelancer_asking_about_a_platform_pause_is_acknowledged_support_gets_a_case_and_the_client_is_nudged():
    _, notifier = platform_paused()
    notices = notifier.take(support_requested("c-1", "fl-1", topic="contract_paused", message="Client is silent"))
    assert addressed(notices) == [
        ("fl-1", "freelancer", "support_request_received"),
        (SUPPORT_QUEUE, "support", "support_case"),
        ("client-1", "client", "freelancer_waiting"),
    ]
    received, case, waiting = notices
    assert "reached out to your client on your behalf" in received.text.body
    assert "a payment failed" in case.text.body and "Client is silent" in case.text.body
    assert "a payment failed" in waiting.text.body and "Client is silent" not in waiting.text.body
    (recorded,) = notifier.cases
    assert recorded.platform_paused and recorded.client_nudged
    assert recorded.client_open_problems == {"payment_failed"}
    assert (recorded.requester_role, recorded.topic, recorded.client_id) == ("freelancer", "contract_paused", "client-1")


def test_nothing_the_freelancer_is_told_about_their_request_carries_billing_specifics():
    _, notifier = platform_paused()
    notices = notifier.take(support_requested("c-1", "fl-1", topic="contract_paused"))
    to_freelancer = [n for n in notices if n.recipient_role == "freelancer"]
    assert to_freelancer
    for notice in to_freelancer:
        assert not [word for word in BILLING_WORDS if word in words(notice)], words(notice)


def test_the_client_is_nudged_at_most_once_per_pause_and_again_in_the_next_pause():
    contract, notifier = platform_paused()
    asks = lambda: notifier.take(support_requested("c-1", "fl-1", topic="contract_paused"))  # noqa: E731
    assert [n.kind for n in asks()].count("freelancer_waiting") == 1
    second = asks()
    assert [n.kind for n in second] == ["support_request_received", "support_case"]
    assert "reached out" not in second[0].text.body
    assert notifier.cases[-1].client_nudged is False and notifier.cases[-1].platform_paused

    notifier.take(problem_resolved("client-1", "payment_failed"), contract.resumed(),
                  problem_opened("client-1", "chargeback", "Disputed."), contract.paused(("platform",)))
    third = asks()
    assert [n.kind for n in third].count("freelancer_waiting") == 1
    assert notifier.cases[-1].client_open_problems == {"chargeback"}


@pytest.mark.parametrize(
    ("requester", "topic"),
    [("fl-1", "payment_protection"), ("fl-1", "other"), ("client-1", "contract_paused")],
)
def test_only_a_freelancers_request_about_the_pause_nudges_the_client(requester, topic):
    _, notifier = platform_paused()
    notices = notifier.take(support_requested("c-1", requester, topic=topic))
    assert [n.kind for n in notices] == ["support_request_received", "support_case"]
    assert notifier.cases[-1].requester_role == ("freelancer" if requester == "fl-1" else "client")


def test_a_client_pause_nudges_no_one_and_the_case_carries_no_billing_problems():
    contract, notifier = ContractStory("c-1", "client-1", "fl-1"), Notifier()
    notifier.take(contract.opened(), problem_opened("client-1", "chargeback", "Disputed."),
                  contract.paused(("client",)))
    notices = notifier.take(support_requested("c-1", "fl-1", topic="contract_paused"))
    assert [n.kind for n in notices] == ["support_request_received", "support_case"]
    (case,) = notifier.cases
    assert not case.platform_paused and case.client_open_problems == frozenset()
    assert "chargeback" not in notices[1].text.body and "disputed" not in notices[1].text.body


def test_a_contract_held_by_both_still_nudges_the_client_about_billing():
    contract, notifier = ContractStory("c-1", "client-1", "fl-1"), Notifier()
    notifier.take(contract.opened(), problem_opened("client-1", "account_suspended", "Suspended."),
                  contract.paused(("platform", "client")))
    notices = notifier.take(support_requested("c-1", "fl-1", topic="contract_paused"))
    assert [n.kind for n in notices][-1] == "freelancer_waiting"


# --- support.circumvention_reported ---------------------------------------------------------


@pytest.mark.parametrize(("reporter", "role", "other"), [("fl-1", "freelancer", "client-1"),
                                                          ("client-1", "client", "fl-1")])
def test_a_report_reaches_support_and_the_reporter_only(reporter, role, other):
    _, notifier = platform_paused()
    notices = notifier.take(circumvention_reported("c-1", reporter, message="Offered to pay by wire"))
    assert addressed(notices) == [(reporter, role, "support_request_received"),
                                  (SUPPORT_QUEUE, "support", "circumvention_report")]
    assert not [n for n in notices if n.recipient_id == other]
    assert "Offered to pay by wire" in notices[1].text.body
    (case,) = notifier.cases
    assert (case.record, case.topic, case.requester_role) == ("circumvention_report", None, role)
    assert not case.client_nudged and case.client_open_problems == frozenset()


def test_a_report_tells_the_reporter_nothing_of_billing():
    _, notifier = platform_paused()
    (received, _) = notifier.take(circumvention_reported("c-1", "fl-1"))
    assert not [word for word in BILLING_WORDS if word in words(received)]


# --- the client's open problems -------------------------------------------------------------


def test_the_clients_open_problems_follow_billing_problems_and_ignore_late_changes():
    opened = problem_opened("client-1", "payment_failed", "x", open_problems=[])
    known = domain.client_problems(None, opened)
    assert known == ClientProblems("client-1", frozenset({"payment_failed"}), T0, T0)
    minute = timedelta(minutes=1)
    resolved = problem_resolved("client-1", "payment_failed")
    later = resolved.model_copy(update={"time": T0 + minute,
                                        "data": resolved.data.model_copy(update={"resolved_at": T0 + minute})})
    assert domain.client_problems(known, later).open_problems == frozenset()
    stale = opened.model_copy(update={"time": T0 - minute,
                                      "data": opened.data.model_copy(update={"opened_at": T0 - minute})})
    assert domain.client_problems(domain.client_problems(known, later), stale) is None
