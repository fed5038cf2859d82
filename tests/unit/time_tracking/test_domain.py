"""time-tracking's rules, case by case: the status history, the gate for submitted time, late pauses."""

from datetime import UTC, datetime, timedelta

import pytest

from services.time_tracking.domain import (
    CLOCK_SKEW,
    LONGEST_ENTRY,
    ContractHistory,
    ContractVersion,
    RecordedEntry,
    Span,
    record,
    rejection,
    revoke_protection,
)
from shared.events.time_entries import TimeEntryAcceptedData, TimeEntryRejectedData, TimeEntrySubmittedData

T0 = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)
NOW = T0 + timedelta(days=2)


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def version(number: int, status: str, hours: float, kind: str = "hourly", freelancer: str = "fl-1") -> ContractVersion:
    return ContractVersion(number, status, at(hours), freelancer, kind)


def history(*versions: ContractVersion) -> ContractHistory:
    known = ContractHistory("k-1")
    for each in versions:
        known = known.learn(each)
    return known


def submission(start: float, end: float, source: str = "tracker", freelancer: str = "fl-1",
               entry_id: str = "e-1") -> TimeEntrySubmittedData:
    return TimeEntrySubmittedData(entry_id=entry_id, contract_id="k-1", freelancer_id=freelancer,
                                  started_at=at(start), ended_at=at(end), source=source)


# --- the status history -------------------------------------------------------------------

def test_the_highest_version_is_current_whatever_the_arrival_order():
    late = history(version(3, "active", 5), version(1, "active", 0), version(2, "paused", 2))
    assert late.current.version == 3 and late.current.status == "active"
    assert [v.version for v in late.versions] == [1, 2, 3]


def test_an_older_version_arriving_late_still_tells_its_interval():
    known = history(version(1, "active", 0), version(3, "active", 5))
    assert known.unavailable_spans == ()
    known = known.learn(version(2, "paused", 2))
    assert known.current.status == "active"
    assert known.unavailable_spans == (Span("paused", at(2), at(5)),)


def test_a_version_seen_twice_keeps_what_was_seen_first():
    known = history(version(1, "active", 0))
    assert known.learn(version(1, "paused", 1)) is known


def test_a_pause_lasts_until_the_next_known_active_version_across_hold_changes():
    known = history(version(1, "active", 0), version(2, "paused", 1), version(3, "paused", 2), version(4, "active", 3))
    assert known.unavailable_spans == (Span("paused", at(1), at(3)), Span("paused", at(2), at(3)))


def test_a_pause_with_a_version_missing_after_it_lasts_across_the_gap():
    known = history(version(1, "active", 0), version(2, "paused", 1), version(4, "active", 5))
    assert known.unavailable_spans == (Span("paused", at(1), at(5)),)
    assert known.learn(version(3, "active", 2)).unavailable_spans == (Span("paused", at(1), at(2)),)


def test_a_current_pause_is_open_ended_and_an_end_never_ends():
    assert history(version(1, "paused", 1)).unavailable_spans == (Span("paused", at(1), None),)
    ended = history(version(1, "active", 0), version(2, "paused", 1), version(3, "ended", 4))
    assert ended.unavailable_spans == (Span("paused", at(1), None), Span("ended", at(4), None))
    assert rejection(submission(6, 7), ended.learn(version(4, "active", 5)), NOW) == "contract_ended"


def test_a_resume_stamped_before_its_pause_makes_no_span():
    assert history(version(1, "paused", 3), version(2, "active", 2)).unavailable_spans == ()


# --- the gate -------------------------------------------------------------------------------

ACTIVE = history(version(1, "active", 0))


def test_tracked_time_on_an_active_hourly_contract_is_accepted_and_eligible():
    recording = record(submission(1, 2.5), ACTIVE, NOW, already=None)
    assert recording.first_time and recording.entry.accepted
    assert recording.entry.minutes == 90 and recording.entry.payment_protection == "eligible"
    assert isinstance(recording.entry.verdict(), TimeEntryAcceptedData)


def test_manual_time_is_accepted_but_not_covered():
    entry = record(submission(1, 2, source="manual"), ACTIVE, NOW, already=None).entry
    assert entry.accepted and entry.payment_protection == "not_covered" and not entry.protected


def test_minutes_are_whole_minutes_rounded_down():
    entry = record(submission(1, 1 + 59.99 / 60), ACTIVE, NOW, already=None).entry
    assert entry.minutes == 59


@pytest.mark.parametrize(
    ("start", "end", "now"),
    [
        (2, 2, NOW),  # empty
        (3, 2, NOW),  # backwards
        (0, LONGEST_ENTRY.total_seconds() / 3600 + 0.01, NOW),  # longer than a day
        (1, 2, at(2) - CLOCK_SKEW - timedelta(seconds=1)),  # ends in the future beyond the skew
    ],
)
def test_nonsense_intervals_are_invalid(start, end, now):
    assert rejection(submission(start, end), ACTIVE, now) == "invalid_interval"


def test_a_day_exactly_and_a_small_skew_are_fine():
    assert rejection(submission(0, 24), ACTIVE, NOW) is None
    assert rejection(submission(1, 2), ACTIVE, at(2) - CLOCK_SKEW) is None


@pytest.mark.parametrize(
    ("known", "entry", "reason"),
    [
        (ContractHistory("k-1"), submission(1, 2), "unknown_contract"),
        (ACTIVE, submission(1, 2, freelancer="fl-2"), "not_contract_freelancer"),
        (history(version(1, "active", 0, kind="fixed_price")), submission(1, 2), "not_hourly"),
        (history(version(1, "active", 0), version(2, "paused", 5)), submission(1, 2), "contract_paused"),
        (history(version(1, "active", 0), version(2, "ended", 5)), submission(1, 2), "contract_ended"),
        (history(version(1, "active", 0), version(2, "paused", 1), version(3, "active", 3)),
         submission(2, 4), "contract_paused"),
        (history(version(1, "active", 0), version(2, "paused", 1), version(3, "active", 3)),
         submission(0.5, 1.5), "contract_paused"),
    ],
)
def test_each_refusal_has_its_reason(known, entry, reason):
    verdict = record(entry, known, NOW, already=None).entry.verdict()
    assert isinstance(verdict, TimeEntryRejectedData) and verdict.reason == reason


def test_work_around_a_past_pause_but_not_in_it_is_accepted():
    known = history(version(1, "active", 0), version(2, "paused", 1), version(3, "active", 3))
    assert rejection(submission(0, 1), known, NOW) is None  # ends as the pause starts
    assert rejection(submission(3, 4), known, NOW) is None  # starts as it is resumed


def test_the_order_of_checks():
    paused_fixed = history(version(1, "paused", 0, kind="fixed_price"))
    assert rejection(submission(2, 1), ContractHistory("k-1"), NOW) == "invalid_interval"
    assert rejection(submission(1, 2, freelancer="someone"), paused_fixed, NOW) == "not_contract_freelancer"
    assert rejection(submission(1, 2), paused_fixed, NOW) == "not_hourly"
    ended_after_pause = history(version(1, "paused", 0), version(2, "ended", 5))
    assert rejection(submission(1, 2), ended_after_pause, NOW) == "contract_ended"


def test_the_first_verdict_for_an_entry_id_stands():
    first = record(submission(1, 2), history(version(1, "paused", 0)), NOW, already=None).entry
    again = record(submission(1, 2), ACTIVE, NOW, already=first)
    assert not again.first_time and again.entry == first and again.entry.rejection == "contract_paused"


# --- a pause learned late ---------------------------------------------------------------------

def accepted(entry_id: str, start: float, end: float, source: str = "tracker") -> RecordedEntry:
    recording = record(submission(start, end, source=source, entry_id=entry_id), ACTIVE, NOW, already=None)
    assert recording.entry.accepted
    return recording.entry


def test_entries_overlapping_a_late_pause_lose_protection_once():
    entries = [accepted("before", 0, 1), accepted("during", 1.5, 2.5), accepted("across", 2.5, 3.5),
               accepted("after", 4, 5), accepted("manual", 2, 3, source="manual")]
    learned = history(version(1, "active", 0), version(3, "active", 4), version(2, "paused", 2))
    revoked = revoke_protection(learned, entries)
    assert [entry.entry_id for entry in revoked] == ["during", "across"]
    assert all(entry.protection_revoked and not entry.protected for entry in revoked)
    assert revoke_protection(learned, revoked) == []


def test_an_end_learned_late_revokes_work_after_it():
    entries = [accepted("before", 0, 1), accepted("after", 3, 4)]
    revoked = revoke_protection(history(version(1, "active", 0), version(2, "ended", 2)), entries)
    assert [entry.entry_id for entry in revoked] == ["after"]


def test_a_late_version_can_withdraw_time_only_from_the_earliest_change_at_or_above_it():
    known = history(version(1, "active", 0), version(2, "paused", 4), version(3, "active", 6))
    assert known.unavailable_since(2) == at(4)
    skewed = known.learn(version(4, "paused", 3))  # a clock that ran backwards
    assert skewed.unavailable_since(2) == at(3)
