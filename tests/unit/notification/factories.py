"""Inputs of notification as its producers write them, built with the contract's own models."""

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from uuid import uuid4

from shared.events.billing import ProblemKind, ProblemOpened, ProblemOpenedData, ProblemResolved, ProblemResolvedData
from shared.events.contracts import (
    ContractEnded,
    ContractHoldsChanged,
    ContractOpened,
    ContractPaused,
    ContractResumed,
    ContractSnapshot,
    Hold,
)
from shared.events.support import (
    CircumventionReported, CircumventionReportedData, SupportRequested, SupportRequestedData, SupportTopic,
)
from shared.events.time_entries import TimeEntryRejected, TimeEntryRejectedData

T0 = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid4().hex[:8]}"


@dataclass
class ContractStory:
    """One contract's events in contract-state's order: each change one version up, a minute later."""

    contract_id: str
    client_id: str
    freelancer_id: str
    version: int = 0
    clock: datetime = T0
    holds: tuple[Hold, ...] = ()
    message: str | None = None
    ended: bool = field(default=False)

    def _next(self, holds: tuple[Hold, ...], message: str | None = None, status: str | None = None):
        self.version += 1
        self.clock += timedelta(minutes=1)
        self.holds = holds
        self.message = message if "client" in holds else None
        return ContractSnapshot(
            contract_id=self.contract_id, client_id=self.client_id, freelancer_id=self.freelancer_id,
            kind="hourly", status=status or ("paused" if holds else "active"), holds=list(holds),
            version=self.version, changed_at=self.clock, client_message=self.message,
        )

    def opened(self, holds: tuple[Hold, ...] = ()) -> ContractOpened:
        return ContractOpened.new(self._next(holds), source="contract-state", time=self.clock)

    def paused(self, holds: tuple[Hold, ...] = ("platform",), message: str | None = None) -> ContractPaused:
        return ContractPaused.new(self._next(holds, message), source="contract-state", time=self.clock)

    def holds_changed(self, holds: tuple[Hold, ...], message: str | None = None) -> ContractHoldsChanged:
        return ContractHoldsChanged.new(self._next(holds, message), source="contract-state", time=self.clock)

    def resumed(self) -> ContractResumed:
        return ContractResumed.new(self._next(()), source="contract-state", time=self.clock)

    def end(self) -> ContractEnded:
        return ContractEnded.new(self._next((), status="ended"), source="contract-state", time=self.clock)

    def rejection(self, reason: str = "contract_paused", at: datetime | None = None) -> TimeEntryRejected:
        data = TimeEntryRejectedData(
            entry_id=unique("entry"), contract_id=self.contract_id, freelancer_id=self.freelancer_id, reason=reason
        )
        return TimeEntryRejected.new(data, source="time-tracking", time=at or self.clock + timedelta(seconds=30))


def problem_opened(
    client_id: str, kind: ProblemKind, detail: str, open_problems: list[ProblemKind] | None = None
) -> ProblemOpened:
    data = ProblemOpenedData(
        client_id=client_id, kind=kind, detail=detail, opened_at=T0, open_problems=open_problems or [kind]
    )
    return ProblemOpened.new(data, source="billing-monitor", time=T0)


def problem_resolved(
    client_id: str, kind: ProblemKind, open_problems: list[ProblemKind] | None = None
) -> ProblemResolved:
    data = ProblemResolvedData(client_id=client_id, kind=kind, resolved_at=T0, open_problems=open_problems or [])
    return ProblemResolved.new(data, source="billing-monitor", time=T0)


def support_requested(
    contract_id: str, requester_id: str, topic: SupportTopic = "contract_paused", message: str = "Please help",
    request_id: str | None = None,
) -> SupportRequested:
    """A party pressed Get Support (as the marketplace apps write it)."""
    data = SupportRequestedData(request_id=request_id or unique("req"), contract_id=contract_id,
                                requester_id=requester_id, topic=topic, message=message)
    return SupportRequested.new(data, source="marketplace", time=T0 + timedelta(hours=1))


def circumvention_reported(
    contract_id: str, reporter_id: str, message: str = "Offered to pay outside", report_id: str | None = None,
) -> CircumventionReported:
    data = CircumventionReportedData(report_id=report_id or unique("rep"), contract_id=contract_id,
                                     reporter_id=reporter_id, message=message)
    return CircumventionReported.new(data, source="marketplace", time=T0 + timedelta(hours=1))
