"""Properties of the rules over random fact sequences: the latest fact per kind decides, delivery order
does not matter (for distinct times), every event tells the standing after it, no change no event."""

from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from services.billing_monitor.domain import ClientStanding, apply_billing_fact
from shared.events.billing import ProblemOpened
from tests.unit.billing_monitor.facts import FACT_NAMES, IMPLIES, at, expected_open_kinds, fact

CLIENT = "client-p"
NOW = datetime(2026, 11, 27, tzinfo=UTC)

# Few distinct minutes, so sequences are full of late facts and equal times.
names = st.sampled_from(FACT_NAMES)
deliveries = st.lists(st.tuples(names, st.integers(0, 8).map(at)), max_size=30)


def deliver(delivered):
    """Apply facts in delivery order; returns the final standing and, per fact, (before, changes, after)."""
    return apply_all([fact(name, CLIENT, time) for name, time in delivered])


def apply_all(facts):
    standing = ClientStanding(CLIENT)
    steps = []
    for billing_fact in facts:
        decision = apply_billing_fact(standing, billing_fact, now=NOW)
        steps.append((standing, decision.changes, decision.standing))
        standing = decision.standing
    return standing, steps


@given(deliveries)
def test_open_problems_are_what_the_latest_fact_per_kind_implies(delivered):
    standing, steps = deliver(delivered)
    assert standing.open_kinds == expected_open_kinds(delivered)
    for index, (_, _, after) in enumerate(steps):
        assert after.open_kinds == expected_open_kinds(delivered[: index + 1])


@given(deliveries)
def test_the_watermark_of_each_kind_is_the_latest_time_seen_for_it(delivered):
    standing, _ = deliver(delivered)
    latest = {}
    for name, time in delivered:
        for kind in IMPLIES[name]:
            latest[kind] = max(latest.get(kind, time), time)
    assert standing.latest_fact_at == latest


@given(st.lists(names, max_size=25).flatmap(lambda picked: st.tuples(st.just(picked), st.permutations(picked))))
def test_shuffled_delivery_ends_in_the_standing_of_time_ordered_delivery(names_and_shuffled):
    """Times are distinct here; `shuffled` is the same facts (same times) in another delivery order."""
    picked, _ = names_and_shuffled
    in_time_order = [(name, at(minute)) for minute, name in enumerate(picked)]
    shuffled = _same_facts_shuffled(in_time_order, names_and_shuffled)
    ordered_end, ordered_steps = deliver(in_time_order)
    shuffled_end, shuffled_steps = deliver(shuffled)
    assert shuffled_end.open_kinds == ordered_end.open_kinds
    assert shuffled_end.latest_fact_at == ordered_end.latest_fact_at
    # What a consumer of billing.problems ends up believing agrees as well.
    assert _last_told(ordered_steps) == _last_told(shuffled_steps)


def _same_facts_shuffled(in_time_order, names_and_shuffled):
    # Shuffle positions rather than names, so repeated names keep their own times.
    _, permuted_names = names_and_shuffled
    remaining = list(in_time_order)
    shuffled = []
    for name in permuted_names:
        position = next(i for i, (n, _) in enumerate(remaining) if n == name)
        shuffled.append(remaining.pop(position))
    return shuffled


def _last_told(steps):
    told = [change.data.open_problems for _, changes, _ in steps for change in changes]
    return told[-1] if told else []


@given(deliveries)
def test_every_event_carries_the_open_problems_after_its_own_change(delivered):
    _, steps = deliver(delivered)
    for before, changes, after in steps:
        believed = set(before.open_kinds)
        for change in changes:
            if isinstance(change, ProblemOpened):
                assert change.data.kind not in believed
                believed.add(change.data.kind)
            else:
                assert change.data.kind in believed
                believed.discard(change.data.kind)
            assert change.data.open_problems == sorted(believed)
        assert sorted(believed) == after.open_kinds


@given(deliveries)
def test_nothing_is_emitted_when_nothing_changes(delivered):
    _, steps = deliver(delivered)
    for before, changes, after in steps:
        changed_kinds = set(before.open_kinds) ^ set(after.open_kinds)
        assert len(changes) == len(changed_kinds)
        assert {change.data.kind for change in changes} == changed_kinds


@given(deliveries)
def test_event_ids_are_unique_and_a_replay_reproduces_them(delivered):
    facts = [fact(name, CLIENT, time) for name, time in delivered]
    _, steps = apply_all(facts)
    _, replayed = apply_all(facts)
    ids = [change.id for _, changes, _ in steps for change in changes]
    assert len(ids) == len(set(ids))
    assert ids == [change.id for _, changes, _ in replayed for change in changes]


class ClientBillingHistory(RuleBasedStateMachine):
    """Facts arrive one at a time, in any order and with any times; the rules hold after each."""

    def __init__(self) -> None:
        super().__init__()
        self.standing = ClientStanding(CLIENT)
        self.delivered: list = []
        self.told: list[str] = []  # open_problems of the last event emitted, as a consumer would see it

    @rule(name=names, minute=st.integers(0, 6))
    def deliver_a_fact(self, name, minute):
        before = self.standing
        decision = apply_billing_fact(before, fact(name, CLIENT, at(minute)), now=NOW)
        self.delivered.append((name, at(minute)))
        self.standing = decision.standing
        if set(before.open_kinds) == set(self.standing.open_kinds):
            assert decision.changes == ()
        for change in decision.changes:
            self.told = change.data.open_problems

    @invariant()
    def open_problems_follow_the_latest_fact_per_kind(self):
        assert self.standing.open_kinds == expected_open_kinds(self.delivered)

    @invariant()
    def consumers_were_told_the_current_open_problems(self):
        assert self.told == self.standing.open_kinds

    @invariant()
    def every_open_problem_has_a_text_for_the_client(self):
        assert all(problem.detail for problem in self.standing.open_problems.values())


TestClientBillingHistory = ClientBillingHistory.TestCase
TestClientBillingHistory.settings = settings(max_examples=200, stateful_step_count=30)
