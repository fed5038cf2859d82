"""Time-tracking rules: what each contract's status history says, and which time it lets a freelancer bill.

Pure: no I/O, no clock (the caller passes `now`). The service keeps, per contract, every version of
`contracts.events` it has seen; versions may arrive in any order. The highest version is the contract
as it is now; all of them together say when it was unavailable (paused or ended).

A submitted entry is judged in this order, the first failing check giving the reason:
  1. invalid_interval         the entry itself is nonsense (it needs no contract to tell)
  2. unknown_contract         no version of the contract is known (it may only be known later:
                              the verdict still stands, the tracker resubmits under a new entry_id)
  3. not_contract_freelancer  checked before any status, so a stranger learns nothing about the contract
  4. not_hourly               fixed-price contracts take no time at all, paused or not
  5. contract_ended / contract_paused   the contract is ended / paused now
  6. contract_ended / contract_paused   the interval overlaps a time it was ended / paused
Otherwise it is accepted: `eligible` for payment protection when tracked, `not_covered` when manual.

The first verdict for an entry_id stands: a resubmission changes nothing and is told the first verdict.
When a pause or end becomes known after entries overlapping it were accepted, each such entry that
was still eligible loses its payment protection, once. That is decided on the history known at that
moment and is final (there is no event restoring protection): a pause whose resume arrives later
still counts, until then, as lasting, and work after the real resume may lose protection with it.
"""

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import cached_property
from typing import Literal

from shared.events.contracts import ContractKind, ContractSnapshot, ContractStatus
from shared.events.time_entries import (
    EntryRejectionReason,
    EntrySource,
    PaymentProtection,
    TimeEntryAcceptedData,
    TimeEntryRejectedData,
    TimeEntrySubmittedData,
)

LONGEST_ENTRY = timedelta(hours=24)
# A tracker's clock may run a little ahead of ours; beyond this an entry claims work not done yet.
CLOCK_SKEW = timedelta(minutes=5)

Unavailable = Literal["paused", "ended"]
UnavailableReason = Literal["contract_paused", "contract_ended"]


@dataclass(frozen=True)
class ContractVersion:
    """One snapshot of `contracts.events`, reduced to what time tracking needs."""

    version: int
    status: ContractStatus
    changed_at: datetime
    freelancer_id: str
    kind: ContractKind

    @classmethod
    def of(cls, snapshot: ContractSnapshot) -> "ContractVersion":
        return cls(snapshot.version, snapshot.status, snapshot.changed_at, snapshot.freelancer_id, snapshot.kind)


@dataclass(frozen=True)
class Span:
    """A time the contract was unavailable, from `start` to `end` (None: it still is)."""

    status: Unavailable
    start: datetime
    end: datetime | None

    def overlaps(self, started_at: datetime, ended_at: datetime) -> bool:
        return self.start < ended_at and (self.end is None or started_at < self.end)


@dataclass(frozen=True)
class ContractHistory:
    """The versions of one contract seen so far, ascending, each once. Empty: the contract is unknown."""

    contract_id: str
    versions: tuple[ContractVersion, ...] = ()

    @property
    def known(self) -> bool:
        return bool(self.versions)

    @property
    def current(self) -> ContractVersion:
        """The highest version: a late, older version never rolls the status back."""
        return self.versions[-1]

    def knows(self, version: int) -> bool:
        return any(known.version == version for known in self.versions)

    def learn(self, version: ContractVersion) -> "ContractHistory":
        """The history with `version` in its place; a version already known keeps what was first seen."""
        if self.knows(version.version):
            return self
        return replace(self, versions=tuple(sorted((*self.versions, version), key=lambda known: known.version)))

    @cached_property
    def unavailable_spans(self) -> tuple[Span, ...]:
        """Each paused version starts a span lasting until the changed_at of the next known version that
        is active (open while there is none); each ended version starts one that never ends. A span whose
        end carries an earlier changed_at than its start lasted no time. A pause followed by a gap in the
        versions lasts, as far as we know, across the gap. Cached: a batch judges many entries by one."""
        spans: list[Span] = []
        next_active: datetime | None = None
        for version in reversed(self.versions):
            if version.status == "active":
                next_active = version.changed_at
            elif version.status == "ended":
                spans.append(Span("ended", version.changed_at, None))
            elif next_active is None or version.changed_at < next_active:
                spans.append(Span("paused", version.changed_at, next_active))
        return tuple(reversed(spans))

    def unavailable_since(self, version: int) -> datetime:
        """Learning `version` can make time unavailable only from the earliest changed_at among it and
        the versions above it (it starts a span there, or ends an earlier pause later than the version
        above it did). Accepted entries ending before this keep their protection: no need to look at them."""
        return min(known.changed_at for known in self.versions if known.version >= version)


@dataclass(frozen=True)
class RecordedEntry:
    """An entry_id and its verdict, for good. `rejection` is None for an accepted entry."""

    entry_id: str
    contract_id: str
    freelancer_id: str
    started_at: datetime
    ended_at: datetime
    source: EntrySource
    rejection: EntryRejectionReason | None = None
    minutes: int = 0
    payment_protection: PaymentProtection | None = None
    protection_revoked: bool = False

    @property
    def accepted(self) -> bool:
        return self.rejection is None

    @property
    def protected(self) -> bool:
        """Accepted, tracked, and not (yet) found to be work during a pause."""
        return self.accepted and self.payment_protection == "eligible" and not self.protection_revoked

    def verdict(self) -> TimeEntryAcceptedData | TimeEntryRejectedData:
        """What `time.entries` says about this entry when it is first recorded."""
        if self.rejection is not None:
            return TimeEntryRejectedData(
                entry_id=self.entry_id, contract_id=self.contract_id, freelancer_id=self.freelancer_id,
                reason=self.rejection,
            )
        return TimeEntryAcceptedData(
            entry_id=self.entry_id, contract_id=self.contract_id, freelancer_id=self.freelancer_id,
            started_at=self.started_at, ended_at=self.ended_at, minutes=self.minutes,
            payment_protection=self.payment_protection or "not_covered",
        )


@dataclass(frozen=True)
class Recording:
    """The outcome of a submission: the entry as recorded, and whether this submission recorded it."""

    entry: RecordedEntry
    first_time: bool


def record(
    submission: TimeEntrySubmittedData, history: ContractHistory, now: datetime, already: RecordedEntry | None
) -> Recording:
    """Judge a submission, unless its entry_id already has a verdict: that one stands."""
    if already is not None:
        return Recording(already, first_time=False)
    reason = rejection(submission, history, now)
    accepted = reason is None
    entry = RecordedEntry(
        entry_id=submission.entry_id,
        contract_id=submission.contract_id,
        freelancer_id=submission.freelancer_id,
        started_at=submission.started_at,
        ended_at=submission.ended_at,
        source=submission.source,
        rejection=reason,
        minutes=int((submission.ended_at - submission.started_at).total_seconds() // 60) if accepted else 0,
        payment_protection=("eligible" if submission.source == "tracker" else "not_covered") if accepted else None,
    )
    return Recording(entry, first_time=True)


def rejection(
    submission: TimeEntrySubmittedData, history: ContractHistory, now: datetime
) -> EntryRejectionReason | None:
    """Why the entry cannot be accepted, by the order of checks above; None when it can."""
    if not valid_interval(submission.started_at, submission.ended_at, now):
        return "invalid_interval"
    if not history.known:
        return "unknown_contract"
    contract = history.current
    if submission.freelancer_id != contract.freelancer_id:
        return "not_contract_freelancer"
    if contract.kind != "hourly":
        return "not_hourly"
    if contract.status == "ended":
        return "contract_ended"
    if contract.status == "paused":
        return "contract_paused"
    return unavailable_during(history.unavailable_spans, submission.started_at, submission.ended_at)


def valid_interval(started_at: datetime, ended_at: datetime, now: datetime) -> bool:
    return started_at < ended_at and ended_at - started_at <= LONGEST_ENTRY and ended_at <= now + CLOCK_SKEW


def unavailable_during(spans: Iterable[Span], started_at: datetime, ended_at: datetime) -> UnavailableReason | None:
    """`ended` if the interval overlaps the contract's end, else `paused` if it overlaps a pause."""
    overlapped = {span.status for span in spans if span.overlaps(started_at, ended_at)}
    if "ended" in overlapped:
        return "contract_ended"
    if "paused" in overlapped:
        return "contract_paused"
    return None


def revoke_protection(history: ContractHistory, entries: Iterable[RecordedEntry]) -> list[RecordedEntry]:
    """The entries that lose payment protection now that `history` is known: those still protected
    whose interval overlaps a time the contract was paused or ended. Returned as revoked."""
    spans = history.unavailable_spans
    return [
        replace(entry, protection_revoked=True)
        for entry in entries
        if entry.protected and unavailable_during(spans, entry.started_at, entry.ended_at) is not None
    ]
