"""Properties of time-tracking's rules over any contract history, arriving in any order, and any submissions.

A small simulation drives the domain as the handlers do (same narrowing of revocation candidates),
and checks the invariants after every step.
"""

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from services.time_tracking.domain import (
    ContractHistory,
    ContractVersion,
    RecordedEntry,
    record,
    rejection,
    revoke_protection,
    unavailable_during,
)
from shared.events.time_entries import TimeEntrySubmittedData

T0 = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)


def minutes(count: int) -> datetime:
    return T0 + timedelta(minutes=count)


@st.composite
def contract_versions(draw: st.DrawFn) -> list[ContractVersion]:
    """Versions 1..n of one contract; changed_at usually grows with the version, sometimes not (clock skew).
    Times sit on a coarse grid so that entries and spans often touch and overlap."""
    count = draw(st.integers(1, 8))
    statuses = draw(st.lists(st.sampled_from(["active", "active", "paused", "paused", "ended"]),
                             min_size=count, max_size=count))
    if draw(st.booleans()):
        steps = draw(st.lists(st.integers(0, 6).map(lambda step: step * 30), min_size=count, max_size=count))
        offsets = [sum(steps[: index + 1]) for index in range(count)]
    else:
        offsets = draw(st.lists(st.integers(0, 24).map(lambda step: step * 30), min_size=count, max_size=count))
    kind = draw(st.sampled_from(["hourly"] * 5 + ["fixed_price"]))
    return [ContractVersion(number, status, minutes(offset), "fl-1", kind)
            for number, (status, offset) in enumerate(zip(statuses, offsets, strict=True), start=1)]


submissions = st.builds(
    lambda entry, start, length, source, freelancer: TimeEntrySubmittedData(
        entry_id=entry, contract_id="k-1", freelancer_id=freelancer,
        started_at=minutes(start), ended_at=minutes(start + length), source=source,
    ),
    entry=st.sampled_from([f"e-{index}" for index in range(6)]),
    start=st.integers(0, 60).map(lambda step: step * 15),
    length=st.integers(-1, 20).map(lambda step: step * 15),
    source=st.sampled_from(["tracker", "tracker", "manual"]),
    freelancer=st.sampled_from(["fl-1"] * 6 + ["fl-2"]),
)
nows = st.integers(0, 100).map(lambda step: minutes(step * 20))


@st.composite
def arrivals(draw: st.DrawFn) -> list[ContractVersion | TimeEntrySubmittedData]:
    """Some of the versions (gaps happen), some twice, in any order, between submissions."""
    versions = draw(contract_versions())
    delivered = draw(st.lists(st.sampled_from(versions), max_size=len(versions) + 2))
    return draw(st.permutations([*delivered, *draw(st.lists(submissions, max_size=12))]))


@dataclass
class Simulation:
    """The service's state and what it emitted, driven like the handlers drive the domain."""

    now: datetime
    history: ContractHistory = field(default_factory=lambda: ContractHistory("k-1"))
    ledger: dict[str, RecordedEntry] = field(default_factory=dict)
    verdicts: Counter = field(default_factory=Counter)
    revocations: Counter = field(default_factory=Counter)

    def submit(self, submission: TimeEntrySubmittedData) -> None:
        already = self.ledger.get(submission.entry_id)
        recording = record(submission, self.history, self.now, already)
        if recording.first_time:
            self.ledger[submission.entry_id] = recording.entry
            self.verdicts[submission.entry_id] += 1
        else:
            assert recording.entry == already

    def learn(self, version: ContractVersion) -> None:
        if self.history.knows(version.version):
            return
        self.history = self.history.learn(version)
        spans = self.history.unavailable_spans
        since = self.history.unavailable_since(version.version)
        candidates = [entry for entry in self.ledger.values() if entry.ended_at > since]
        revoked = revoke_protection(self.history, candidates)

        overlapping = {entry.entry_id for entry in self.ledger.values()
                       if entry.protected and unavailable_during(spans, entry.started_at, entry.ended_at)}
        assert {entry.entry_id for entry in revoked} == overlapping, "revoked exactly the overlapping protected entries"
        assert revoke_protection(self.history, self.ledger.values()) == revoked, "the narrowing lost none"
        for entry in revoked:
            self.ledger[entry.entry_id] = entry
            self.revocations[entry.entry_id] += 1

    def run(self, arriving: list[ContractVersion | TimeEntrySubmittedData]) -> None:
        for item in arriving:
            if isinstance(item, ContractVersion):
                self.learn(item)
            else:
                self.submit(item)
            self.assert_no_protected_work_during_a_known_pause()

    def assert_no_protected_work_during_a_known_pause(self) -> None:
        spans = self.history.unavailable_spans
        for entry in self.ledger.values():
            if entry.protected:
                assert unavailable_during(spans, entry.started_at, entry.ended_at) is None


@settings(max_examples=200)
@given(versions=contract_versions(), order=st.randoms(use_true_random=False), submission=submissions, now=nows)
def test_no_accepted_entry_overlaps_a_known_pause_or_end(versions, order, submission, now):
    order.shuffle(versions)
    known = ContractHistory("k-1")
    for version in versions[: order.randint(0, len(versions))]:
        known = known.learn(version)
    if rejection(submission, known, now) is None:
        assert known.current.status == "active"
        assert unavailable_during(known.unavailable_spans, submission.started_at, submission.ended_at) is None
        assert submission.started_at < submission.ended_at <= now + timedelta(minutes=5)
        assert submission.freelancer_id == known.current.freelancer_id and known.current.kind == "hourly"


@settings(max_examples=200)
@given(arriving=arrivals(), now=nows)
def test_every_entry_ends_in_exactly_one_of_accepted_or_rejected(arriving, now):
    simulation = Simulation(now)
    simulation.run(arriving)
    submitted = {item.entry_id for item in arriving if isinstance(item, TimeEntrySubmittedData)}
    assert set(simulation.ledger) == submitted
    assert all(count == 1 for count in simulation.verdicts.values())
    for entry in simulation.ledger.values():
        assert entry.accepted != (entry.rejection is not None)
        assert not entry.protection_revoked or (entry.accepted and entry.payment_protection == "eligible")


@settings(max_examples=300)
@given(arriving=arrivals(), now=nows)
def test_revocation_happens_exactly_for_accepted_entries_that_overlap_a_later_learned_pause(arriving, now):
    simulation = Simulation(now)
    simulation.run(arriving)  # checks exactness at every step
    assert all(count == 1 for count in simulation.revocations.values()), "revoked once per entry"
    revoked = {entry_id for entry_id, entry in simulation.ledger.items() if entry.protection_revoked}
    assert revoked == set(simulation.revocations)


@settings(max_examples=200)
@given(arriving=arrivals(), now=nows)
def test_work_ending_before_every_pause_and_end_stays_protected(arriving, now):
    simulation = Simulation(now)
    simulation.run(arriving)
    starts = [item.changed_at for item in arriving if isinstance(item, ContractVersion) and item.status != "active"]
    for entry in simulation.ledger.values():
        if entry.accepted and entry.payment_protection == "eligible" and all(entry.ended_at <= t for t in starts):
            assert entry.protected


def status_at(versions: list[ContractVersion], moment: datetime) -> str:
    """The oracle: what a complete, in-order history says the contract was at `moment`."""
    if any(version.status == "ended" and version.changed_at <= moment for version in versions):
        return "ended"
    before = [version for version in versions if version.changed_at <= moment]
    return before[-1].status if before else "active"


@settings(max_examples=200)
@given(versions=contract_versions(), submission=submissions)
def test_a_complete_history_refuses_exactly_the_work_done_while_paused_or_ended(versions, submission):
    in_time_order = sorted(versions, key=lambda version: version.changed_at)
    complete = [ContractVersion(number, v.status, v.changed_at, v.freelancer_id, v.kind)
                for number, v in enumerate(in_time_order, start=1)]
    known = ContractHistory("k-1")
    for version in reversed(complete):
        known = known.learn(version)
    start, end = submission.started_at, submission.ended_at
    assume(start < end)  # an empty interval is refused as invalid before any span is consulted
    moments = [start, *(version.changed_at for version in complete if start < version.changed_at < end)]
    statuses = {status_at(complete, moment) for moment in moments}
    expected = "contract_ended" if "ended" in statuses else "contract_paused" if "paused" in statuses else None
    assert unavailable_during(known.unavailable_spans, start, end) == expected
