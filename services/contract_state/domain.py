"""The rules of contracts: who may do what to a contract, which holds it carries, and what is said about it.

Pure: state and one input in, the new state and the events to publish out. No I/O, no clock:
`now` (when we publish) is passed in; a change's `changed_at` is the time of its cause.

- A contract is `paused` while it carries a hold (`platform`, `client`), `active` with none,
  `ended` once ended, for good.
- The `platform` hold is on exactly while the client's billing standing has open problems.
- The `client` hold is on from the client's pause to the client's resume; it carries the
  pause's message. Only the client pauses or resumes; the client or the freelancer ends.
- Every change is version + 1, and `changed_at` never goes backwards.
- `contracts.events` says `platform`, never why: no problem kind, amount or detail leaves here.
- Every change is kept in the contract's history with the role of whoever made it: the client or
  the freelancer by their command, the platform by a billing change, the marketplace by opening it.
"""

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal

from shared.events.billing import BillingProblemEvent, ProblemKind, ProblemOpened
from shared.events.contracts import (
    CommandRejected,
    CommandRejectedData,
    ContractChange,
    ContractCommand,
    ContractEnded,
    ContractHoldsChanged,
    ContractKind,
    ContractOpened,
    ContractPaused,
    ContractResumed,
    ContractSnapshot,
    ContractStatus,
    EndContract,
    Hold,
    OpenContract,
    PauseContract,
    RejectionReason,
    ResumeContract,
)

SOURCE = "contract-state"
PLATFORM: Hold = "platform"
CLIENT: Hold = "client"
HOLD_ORDER: tuple[Hold, ...] = (PLATFORM, CLIENT)

ActorRole = Literal["marketplace", "client", "freelancer", "platform"]


@dataclass(frozen=True)
class BillingStanding:
    """A client's open billing problems, as of the latest billing change applied."""

    client_id: str
    open_problems: frozenset[ProblemKind]
    as_of: datetime  # when the latest applied change happened (opened_at / resolved_at)
    as_of_event_time: datetime  # that change's event time: breaks ties between changes at one instant

    @property
    def has_problems(self) -> bool:
        return bool(self.open_problems)


@dataclass(frozen=True)
class Contract:
    contract_id: str
    client_id: str
    freelancer_id: str
    kind: ContractKind
    weekly_limit_hours: float | None
    holds: frozenset[Hold]
    ended: bool
    version: int
    changed_at: datetime
    client_message: str | None = None

    @property
    def status(self) -> ContractStatus:
        if self.ended:
            return "ended"
        return "paused" if self.holds else "active"

    @property
    def platform_hold(self) -> bool:
        return PLATFORM in self.holds

    @property
    def client_hold(self) -> bool:
        return CLIENT in self.holds

    def snapshot(self) -> ContractSnapshot:
        return ContractSnapshot(
            contract_id=self.contract_id,
            client_id=self.client_id,
            freelancer_id=self.freelancer_id,
            kind=self.kind,
            status=self.status,
            holds=[hold for hold in HOLD_ORDER if hold in self.holds],
            version=self.version,
            changed_at=self.changed_at,
            client_message=self.client_message,
        )

    def changed(self, cause_time: datetime, **changes: object) -> "Contract":
        """The next version. A cause older than the last change (late delivery) does not move time back."""
        return replace(self, version=self.version + 1, changed_at=max(self.changed_at, cause_time), **changes)


@dataclass(frozen=True)
class CommandOutcome:
    contract: Contract | None  # the contract to save; None when it did not change
    event: ContractOpened | ContractChange | CommandRejected | None  # None: nothing happened (a repeated pause)


@dataclass(frozen=True)
class BillingOutcome:
    standing: BillingStanding | None  # the standing to save; None when the change was stale and ignored
    contracts: list[Contract]  # the contracts whose holds changed
    events: list[ContractChange]  # one per changed contract


# --- commands -----------------------------------------------------------------------------


def decide(
    contract: Contract | None, standing: BillingStanding | None, command: ContractCommand, now: datetime
) -> CommandOutcome:
    """What a command does to its contract. `standing` is the client's, needed only to open."""
    if isinstance(command, OpenContract):
        return open_contract(contract, standing, command, now)
    if contract is None:
        return _rejected(command, "unknown_contract", now)
    if contract.ended:
        return _rejected(command, "contract_ended", now)
    if isinstance(command, PauseContract):
        return pause(contract, command, now)
    if isinstance(command, ResumeContract):
        return resume(contract, command, now)
    return end(contract, command, now)


def open_contract(
    existing: Contract | None, standing: BillingStanding | None, command: OpenContract, now: datetime
) -> CommandOutcome:
    if existing is not None:
        return _rejected(command, "already_exists", now)
    data = command.data
    held_by_platform = standing is not None and standing.has_problems
    contract = Contract(
        contract_id=data.contract_id,
        client_id=data.client_id,
        freelancer_id=data.freelancer_id,
        kind=data.kind,
        weekly_limit_hours=data.weekly_limit_hours,
        holds=frozenset({PLATFORM}) if held_by_platform else frozenset(),
        ended=False,
        version=1,
        changed_at=command.time,
    )
    return CommandOutcome(contract, ContractOpened.derived_from(command, contract.snapshot(), source=SOURCE, time=now))


def pause(contract: Contract, command: PauseContract, now: datetime) -> CommandOutcome:
    if command.data.actor_id != contract.client_id:
        return _rejected(command, "not_authorized", now)
    if contract.client_hold:
        return CommandOutcome(None, None)  # already paused by the client: a repeated pause changes nothing
    paused = contract.changed(command.time, holds=contract.holds | {CLIENT}, client_message=command.data.message)
    return CommandOutcome(paused, _change_event(contract, paused, command, now))


def resume(contract: Contract, command: ResumeContract, now: datetime) -> CommandOutcome:
    if command.data.actor_id != contract.client_id:
        return _rejected(command, "not_authorized", now)
    if not contract.client_hold:
        return _rejected(command, "not_paused_by_client", now)
    resumed = contract.changed(command.time, holds=contract.holds - {CLIENT}, client_message=None)
    return CommandOutcome(resumed, _change_event(contract, resumed, command, now))


def end(contract: Contract, command: EndContract, now: datetime) -> CommandOutcome:
    if command.data.actor_id not in (contract.client_id, contract.freelancer_id):
        return _rejected(command, "not_authorized", now)
    # An ended contract is held by nothing: holds only mean something while it can still run.
    ended = contract.changed(command.time, ended=True, holds=frozenset(), client_message=None)
    return CommandOutcome(ended, _change_event(contract, ended, command, now))


def _rejected(command: ContractCommand, reason: RejectionReason, now: datetime) -> CommandOutcome:
    data = command.data
    # An open names no actor: the client it is opened for stands in.
    actor_id = data.client_id if isinstance(command, OpenContract) else data.actor_id
    rejection = CommandRejectedData(command_id=command.id, contract_id=data.contract_id, actor_id=actor_id, reason=reason)
    return CommandOutcome(None, CommandRejected.derived_from(command, rejection, source=SOURCE, time=now))


# --- billing standing ---------------------------------------------------------------------


def apply_billing_change(
    standing: BillingStanding | None, contracts: Iterable[Contract], change: BillingProblemEvent, now: datetime
) -> BillingOutcome:
    """A client's billing standing changed: put the platform hold on, or lift it, on each contract
    of the client that is not ended. `open_problems` after the change is the truth; a change older
    than the standing already applied is late and ignored."""
    data = change.data
    happened_at = data.opened_at if isinstance(change, ProblemOpened) else data.resolved_at
    if standing is not None and (happened_at, change.time) < (standing.as_of, standing.as_of_event_time):
        return BillingOutcome(None, [], [])
    open_problems = frozenset(data.open_problems)
    if isinstance(change, ProblemOpened):
        open_problems |= {data.kind}  # the problem just opened is open, whatever the list forgot
    new_standing = BillingStanding(data.client_id, open_problems, happened_at, change.time)

    changed, events = [], []
    for contract in contracts:
        if contract.ended or contract.client_id != data.client_id:
            continue
        holds = (contract.holds | {PLATFORM}) if new_standing.has_problems else (contract.holds - {PLATFORM})
        if holds == contract.holds:
            continue
        after = contract.changed(happened_at, holds=holds)
        changed.append(after)
        events.append(_change_event(contract, after, change, now, discriminator=contract.contract_id))
    return BillingOutcome(new_standing, changed, events)


# --- history --------------------------------------------------------------------------------


@dataclass(frozen=True)
class HistoryEntry:
    """One change of a contract, as its history keeps it."""

    contract_id: str
    version: int
    type: str
    status: ContractStatus
    holds: tuple[Hold, ...]
    actor_role: ActorRole
    changed_at: datetime


def history_entry(change: ContractChange, cause: ContractCommand | BillingProblemEvent) -> HistoryEntry:
    snapshot = change.data
    return HistoryEntry(
        contract_id=snapshot.contract_id,
        version=snapshot.version,
        type=change.type,
        status=snapshot.status,
        holds=tuple(snapshot.holds),
        actor_role=actor_role(snapshot, cause),
        changed_at=snapshot.changed_at,
    )


def actor_role(contract: ContractSnapshot, cause: ContractCommand | BillingProblemEvent) -> ActorRole:
    """Who made a change, by role. Only the contract's parties get past `decide`, so a command's actor is one."""
    if isinstance(cause, OpenContract):
        return "marketplace"
    if isinstance(cause, (PauseContract, ResumeContract, EndContract)):
        return "client" if cause.data.actor_id == contract.client_id else "freelancer"
    return "platform"


# --- what a change is called --------------------------------------------------------------


def _change_event(
    before: Contract, after: Contract, cause: ContractCommand | BillingProblemEvent, now: datetime, discriminator: str = ""
) -> ContractChange:
    if after.ended:
        event_type: type[ContractChange] = ContractEnded
    elif before.status == "active" and after.status == "paused":
        event_type = ContractPaused
    elif before.status == "paused" and after.status == "active":
        event_type = ContractResumed
    else:
        event_type = ContractHoldsChanged
    return event_type.derived_from(cause, after.snapshot(), source=SOURCE, time=now, discriminator=discriminator)
