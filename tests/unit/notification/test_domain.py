"""notification's rules (DESIGN.md, `notifications`), one test per rule, no I/O."""

from datetime import timedelta

import pytest

from services.notification import domain
from services.notification.domain import ContractView
from tests.unit.notification.factories import T0, ContractStory, problem_opened, problem_resolved, unique
from tests.unit.notification.notifier import Notifier


def story(n: int = 1) -> ContractStory:
    return ContractStory(f"c-{n}", "client-1", f"fl-{n}")


def addressed(notices) -> list[tuple[str, str, str]]:
    return [(n.recipient_id, n.recipient_role, n.kind) for n in notices]


# --- contract.paused ------------------------------------------------------------------------


def test_a_platform_pause_tells_the_freelancer_only():
    contract, notifier = story(), Notifier()
    notifier.take(contract.opened())
    notices = notifier.take(contract.paused(("platform",)))
    assert addressed(notices) == [("fl-1", "freelancer", "contract_paused")]
    assert notices[0].contract_ids == ("c-1",)
    assert "The platform has paused contract c-1" in notices[0].text.body


def test_a_client_pause_tells_the_freelancer_the_clients_message_and_confirms_to_the_client():
    contract, notifier = story(), Notifier()
    notifier.take(contract.opened())
    notices = notifier.take(contract.paused(("client",), message="Holiday until Monday, back soon"))
    assert addressed(notices) == [("fl-1", "freelancer", "contract_paused"), ("client-1", "client", "contract_paused")]
    freelancer, client = notices
    assert "Holiday until Monday, back soon" in freelancer.text.body
    assert "Your client has paused contract c-1" in freelancer.text.body
    assert client.text.title == "You paused contract c-1"


def test_a_client_pause_without_a_message_quotes_nothing():
    contract, notifier = story(), Notifier()
    notifier.take(contract.opened())
    freelancer, _ = notifier.take(contract.paused(("client",)))
    assert "message:" not in freelancer.text.body
    assert "“" not in freelancer.text.body


def test_a_paused_event_tells_even_when_the_contract_was_never_seen_opened():
    contract = story()
    contract.version = 4  # the service started after the contract was opened
    notices = Notifier().take(contract.paused(("platform",)))
    assert addressed(notices) == [("fl-1", "freelancer", "contract_paused")]


# --- contract.resumed -----------------------------------------------------------------------


def test_a_resume_tells_freelancer_and_client():
    contract, notifier = story(), Notifier()
    notifier.take(contract.opened(), contract.paused(("client",)))
    notices = notifier.take(contract.resumed())
    assert addressed(notices) == [
        ("fl-1", "freelancer", "contract_resumed"), ("client-1", "client", "contract_resumed"),
    ]
    assert "billing" not in notices[1].text.body


def test_a_resume_after_a_platform_pause_thanks_the_client_for_fixing_billing_but_not_the_freelancer():
    contract, notifier = story(), Notifier()
    notifier.take(contract.opened(), contract.paused(("platform",)))
    freelancer, client = notifier.take(contract.resumed())
    assert "billing" in client.text.body
    assert "billing" not in freelancer.text.body.lower()


# --- contract.holds_changed -----------------------------------------------------------------


def test_lifting_the_client_hold_while_the_platform_hold_remains_tells_the_client_it_is_still_paused():
    contract, notifier = story(), Notifier()
    notifier.take(contract.opened(), contract.paused(("platform",)), contract.holds_changed(("platform", "client")))
    notices = notifier.take(contract.holds_changed(("platform",)))
    assert addressed(notices) == [("client-1", "client", "still_paused")]
    assert "You resumed contract c-1, but it stays paused" in notices[0].text.body


def test_lifting_the_platform_hold_while_the_client_hold_remains_tells_the_client_their_own_hold_keeps_it():
    contract, notifier = story(), Notifier()
    notifier.take(contract.opened(), contract.paused(("client",)), contract.holds_changed(("client", "platform")))
    notices = notifier.take(contract.holds_changed(("client",)))
    assert addressed(notices) == [("client-1", "client", "still_paused")]
    assert "stays paused because you paused it" in notices[0].text.body


def test_adding_a_hold_to_a_paused_contract_tells_no_one():
    contract, notifier = story(), Notifier()
    notifier.take(contract.opened(), contract.paused(("client",)))
    assert notifier.take(contract.holds_changed(("client", "platform"))) == []


def test_a_holds_change_without_the_previous_holds_tells_no_one():
    contract = story()
    contract.version = 6
    assert Notifier().take(contract.holds_changed(("platform",))) == []


def test_an_event_not_newer_than_the_known_version_changes_nothing_and_tells_no_one():
    contract, notifier = story(), Notifier()
    opened, paused = contract.opened(), contract.paused(("platform",))
    notifier.take(opened, paused, contract.resumed())
    before = notifier.views["c-1"]
    replayed_with_a_new_id = paused.model_copy(update={"id": unique("evt")})
    outcome = domain.contract_changed(before, replayed_with_a_new_id)
    assert outcome.view is None and outcome.notices == () and outcome.note == "stale_version"


def test_opened_and_ended_tell_no_one():
    contract, notifier = story(), Notifier()
    assert notifier.take(contract.opened(), contract.end()) == []
    assert notifier.views["c-1"].status == "ended"


# --- billing.problem_opened -----------------------------------------------------------------


def test_an_opened_problem_tells_the_client_once_what_to_fix_naming_their_open_contracts():
    notifier = Notifier()
    for n in (1, 2, 3):
        notifier.take(story(n).opened())
    ended = story(4)
    notifier.take(ended.opened(), ended.end())
    notices = notifier.take(problem_opened("client-1", "payment_failed", "Your card ending 4242 was declined."))
    assert addressed(notices) == [("client-1", "client", "billing_action_required")]
    assert notices[0].contract_ids == ("c-1", "c-2", "c-3")
    assert "Your card ending 4242 was declined." in notices[0].text.body
    assert "c-1, c-2, c-3" in notices[0].text.body
    assert notices[0].text.title == "Action needed: a payment failed"


def test_a_problem_already_told_and_still_open_is_not_told_again_until_it_is_resolved_and_reopens():
    notifier = Notifier()
    first = notifier.take(problem_opened("client-1", "chargeback", "A payment is disputed."))
    again = notifier.take(problem_opened("client-1", "chargeback", "A payment is disputed."))
    other = notifier.take(problem_opened("client-1", "payment_failed", "Declined.", ["chargeback", "payment_failed"]))
    notifier.take(problem_resolved("client-1", "chargeback", ["payment_failed"]))
    reopened = notifier.take(
        problem_opened("client-1", "chargeback", "Disputed again.", ["payment_failed", "chargeback"])
    )
    assert [len(first), len(again), len(other), len(reopened)] == [1, 0, 1, 1]


def test_a_problem_resolved_tells_no_one():
    notifier = Notifier()
    notifier.take(problem_opened("client-1", "account_suspended", "Suspended."))
    assert notifier.take(problem_resolved("client-1", "account_suspended")) == []


# --- time_entry.rejected --------------------------------------------------------------------


def test_many_rejections_in_one_pause_tell_the_freelancer_once_and_a_new_pause_once_more():
    contract, notifier = story(), Notifier()
    notifier.take(contract.opened(), contract.paused(("platform",)))
    first_pause = notifier.take(*[contract.rejection() for _ in range(5)])
    notifier.take(contract.resumed(), contract.paused(("client",)))
    second_pause = notifier.take(*[contract.rejection() for _ in range(3)])
    assert addressed(first_pause) == [("fl-1", "freelancer", "time_entry_blocked")]
    assert addressed(second_pause) == [("fl-1", "freelancer", "time_entry_blocked")]


def test_a_rejection_before_its_pause_is_known_tells_once_and_the_late_pause_does_not_tell_again():
    contract, notifier = story(), Notifier()
    notifier.take(contract.opened())
    paused = contract.paused(("platform",))  # contract-state emitted it; we have not read it yet
    early = notifier.take(contract.rejection(), contract.rejection())
    notifier.take(paused)
    later = notifier.take(contract.rejection())
    assert addressed(early) == [("fl-1", "freelancer", "time_entry_blocked")]
    assert later == []


def test_a_rejection_for_a_contract_never_seen_tells_once():
    contract, notifier = story(), Notifier()
    opened_paused = contract.opened(("platform",))  # the client already had a billing problem
    notices = notifier.take(contract.rejection(), contract.rejection(at=contract.clock + timedelta(minutes=5)))
    assert addressed(notices) == [("fl-1", "freelancer", "time_entry_blocked")]
    notifier.take(opened_paused)
    assert notifier.take(contract.rejection()) == []


def test_a_rejection_read_after_the_resume_that_ended_its_pause_does_not_tell_again():
    contract, notifier = story(), Notifier()
    notifier.take(contract.opened(), contract.paused())
    during = contract.rejection()
    notifier.take(contract.rejection())
    notifier.take(contract.resumed())
    assert notifier.take(during) == []


def test_rejections_for_other_reasons_or_on_an_ended_contract_tell_no_one():
    contract, notifier = story(), Notifier()
    notifier.take(contract.opened())
    reasons = ("contract_ended", "unknown_contract", "not_contract_freelancer", "invalid_interval", "not_hourly")
    assert notifier.take(*[contract.rejection(reason) for reason in reasons]) == []
    notifier.take(contract.paused(), contract.end())
    assert notifier.take(contract.rejection()) == []


@pytest.mark.parametrize(
    ("pauses_began", "minute", "episode"),
    [
        ((), 5, 0),  # no pause known yet
        ((0,), 5, 1),
        ((0, 20), 15, 1),  # after the first pause began, before the second: an entry reaching back
        ((0, 20), 25, 2),
        ((0, 20), 20, 2),
        ((10,), 5, 0),  # before any known pause
    ],
)
def test_a_rejection_belongs_to_the_latest_pause_begun_by_its_time(pauses_began, minute, episode):
    view = ContractView("c-1", "fl-1", pauses_began=tuple(T0 + timedelta(minutes=m) for m in pauses_began))
    assert domain.pause_episode(view, T0 + timedelta(minutes=minute)) == episode


def test_a_rejection_stamped_a_moment_before_its_pause_by_another_hosts_clock_belongs_to_it():
    view = ContractView("c-1", "fl-1", pauses_began=(T0,))
    assert domain.pause_episode(view, T0 - timedelta(seconds=2)) == 1
    assert domain.pause_episode(view, T0 - timedelta(minutes=1)) == 0


def test_a_rejection_reaching_back_into_a_pause_already_told_about_does_not_tell_again_nor_silence_the_next():
    contract, notifier = story(), Notifier()
    notifier.take(contract.opened(), contract.paused(), contract.rejection(), contract.resumed())
    reaching_back = contract.rejection()  # made while active: the entry overlapped the pause that is over
    assert notifier.take(reaching_back) == []
    notifier.take(contract.paused(("client",)))
    assert addressed(notifier.take(contract.rejection())) == [("fl-1", "freelancer", "time_entry_blocked")]


# --- the notification -----------------------------------------------------------------------


def test_notification_ids_are_the_same_for_a_replay_and_differ_by_recipient_and_kind():
    assert domain.notification_id("e-1", "fl-1", "contract_paused") == domain.notification_id(
        "e-1", "fl-1", "contract_paused"
    )
    ids = {
        domain.notification_id("e-1", "fl-1", "contract_paused"),
        domain.notification_id("e-1", "client-1", "contract_paused"),
        domain.notification_id("e-1", "fl-1", "contract_resumed"),
        domain.notification_id("e-2", "fl-1", "contract_paused"),
    }
    assert len(ids) == 4


def test_a_notification_event_is_derived_from_its_cause_and_carries_the_notice():
    contract, notifier = story(), Notifier()
    notifier.take(contract.opened())
    paused = contract.paused(("client",), message="Back soon")
    freelancer, client = notifier.take(paused)
    event = domain.notification_event(paused, freelancer, domain.channels(False), T0)
    again = domain.notification_event(paused, freelancer, domain.channels(False), T0 + timedelta(hours=1))
    other = domain.notification_event(paused, client, domain.channels(True), T0)
    assert event.id == again.id and event.data.notification_id == again.data.notification_id
    assert other.id != event.id
    assert event.causationid == paused.id and event.correlationid == paused.correlation_id
    assert event.data.recipient_id == "fl-1" and event.data.channels == ["in_app"]
    assert other.data.channels == ["in_app", "webhook"]
    assert event.data.title == freelancer.text.title and event.data.contract_ids == ["c-1"]


def test_webhook_retries_back_off_exponentially_and_stop_after_the_last_attempt():
    delays = [domain.retry_delay(attempt, max_attempts=5, base_seconds=2.0) for attempt in range(1, 6)]
    assert delays == [2.0, 4.0, 8.0, 16.0, None]
