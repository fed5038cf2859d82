"""Properties of notification's rules over many generated histories (Hypothesis)."""

import random
from collections import Counter
from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from services.notification import texts
from shared.events.time_entries import TimeEntryRejected
from tests.unit.notification.factories import ContractStory, problem_opened, problem_resolved
from tests.unit.notification.notifier import Notifier

KINDS = ("payment_failed", "payment_method_invalid", "account_suspended", "chargeback")
# Words that would give away a billing problem (freelancer texts say "payment protection", which is theirs).
BILLING_WORDS = ("payment_failed", "payment_method", "chargeback", "suspend", "declin", "card", "dispute",
                 "invoice", "billing")

holds = st.sampled_from([("platform",), ("client",), ("platform", "client")])


@st.composite
def pause_histories(draw):
    """One contract through several pauses, with time entries rejected during each pause and,
    after its resume, entries reaching back into it (manual time for a past period).

    Returns the contract events in order, the rejections in order, and each rejection's true pause.
    """
    contract = ContractStory("c-1", "client-1", "fl-1")
    changes, rejections, episode_of = [contract.opened()], [], {}
    for episode in range(1, draw(st.integers(1, 4)) + 1):
        changes.append(contract.paused(draw(holds), message=draw(st.none() | st.text(max_size=30))))
        started = contract.clock
        for _ in range(draw(st.integers(0, 4))):
            rejection = contract.rejection(at=started + timedelta(seconds=draw(st.integers(1, 59))))
            rejections.append(rejection)
            episode_of[rejection.id] = episode
        changes.append(contract.resumed())
        for _ in range(draw(st.integers(0, 2))):
            rejection = contract.rejection(at=contract.clock + timedelta(seconds=draw(st.integers(1, 50))))
            rejections.append(rejection)
            episode_of[rejection.id] = episode
    # Rejections are produced in time order within the contract's partition of time.entries.
    rejections.sort(key=lambda event: event.time)
    return changes, rejections, episode_of


def interleave(first: list, second: list, seed: int) -> list:
    """The two topics' events in an arbitrary order that keeps each topic's own order."""
    chooser, merged, first, second = random.Random(seed), [], list(first), list(second)
    while first or second:
        source = first if (first and (not second or chooser.random() < 0.5)) else second
        merged.append(source.pop(0))
    return merged


def blocked_notices_by_pause(notifier: Notifier, episode_of: dict[str, int]) -> Counter:
    return Counter(
        episode_of[cause.id] for cause, notice in notifier.sent
        if isinstance(cause, TimeEntryRejected) and notice.kind == "time_entry_blocked"
    )


@settings(max_examples=300, deadline=None)
@given(pause_histories(), st.integers(0, 2**32))
def test_whatever_the_order_of_the_topics_a_freelancer_hears_of_blocked_time_at_most_once_per_pause(history, seed):
    changes, rejections, episode_of = history
    notifier = Notifier()
    notifier.take(*interleave(changes, rejections, seed))
    assert all(count == 1 for count in blocked_notices_by_pause(notifier, episode_of).values())


@settings(max_examples=200, deadline=None)
@given(pause_histories())
def test_when_the_pauses_are_known_first_every_pause_with_rejected_time_is_told_exactly_once(history):
    changes, rejections, episode_of = history
    notifier = Notifier()
    notifier.take(*changes, *rejections)
    assert blocked_notices_by_pause(notifier, episode_of) == Counter(set(episode_of.values()))


canary = st.from_regex(r"CANARY_[A-Z]{4}_[0-9]{4}", fullmatch=True)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from(KINDS), canary), min_size=1, max_size=4),
    st.lists(holds, min_size=1, max_size=3),
    st.integers(0, 2**32),
)
def test_nothing_addressed_to_a_freelancer_carries_billing_specifics(problems, pause_holds, seed):
    contracts = [ContractStory(f"c-{n}", "client-1", f"fl-{n}") for n in range(3)]
    contract_events, billing_events = [], []
    for contract in contracts:
        contract_events.append(contract.opened())
        for hold in pause_holds:
            contract_events.append(contract.paused(hold, message="See you soon"))
            contract_events.append(contract.rejection())
            contract_events.append(contract.resumed())
    for kind, secret in problems:
        billing_events.append(problem_opened("client-1", kind, f"Declined: {secret}, 98765.43 due"))
        billing_events.append(problem_resolved("client-1", kind))
    notifier = Notifier()
    notifier.take(*interleave(contract_events, billing_events, seed))

    to_freelancers = [notice for _, notice in notifier.sent if notice.recipient_role == "freelancer"]
    to_clients = [notice for _, notice in notifier.sent if notice.recipient_role == "client"]
    assert to_freelancers
    for notice in to_freelancers:
        words = f"{notice.text.title} {notice.text.body}"
        assert "CANARY" not in words and "98765.43" not in words
        assert not [word for word in BILLING_WORDS if word in words.lower()], words
    assert any(secret in notice.text.body for _, secret in problems for notice in to_clients)


ids = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=200)


@settings(max_examples=200, deadline=None)
@given(ids, st.none() | st.text(max_size=5000), st.text(min_size=1, max_size=6000), st.lists(ids, max_size=30))
def test_every_text_fits_the_notification_limits(contract_id, message, detail, contract_ids):
    every_text = [
        texts.paused_for_freelancer(contract_id, True, False, message),
        texts.paused_for_freelancer(contract_id, False, True, message),
        texts.paused_for_freelancer(contract_id, True, True, message),
        texts.paused_for_client(contract_id, message),
        texts.resumed_for_freelancer(contract_id),
        texts.resumed_for_client(contract_id, True),
        texts.still_paused(contract_id, True),
        texts.still_paused(contract_id, False),
        texts.time_entry_blocked(contract_id),
        *[texts.billing_action_required(kind, detail, contract_ids) for kind in KINDS],
    ]
    for text in every_text:
        assert 1 <= len(text.title) <= texts.TITLE_LIMIT
        assert 1 <= len(text.body) <= texts.BODY_LIMIT
