"""Who is told what, and when. Pure rules: state in, new state and notices out; time is passed in.

The rules (DESIGN.md, `notifications`):
- contract.paused: the freelancer is told (a platform pause says the platform paused it, never why;
  a client pause quotes the client's message); the client gets a confirmation when their own hold
  is among the holds that paused it.
- contract.resumed: freelancer and client are told.
- contract.holds_changed lifting one hold while another keeps the contract paused: the client is
  told it is still paused, and why in their own terms.
- billing.problem_opened: the client is told what to fix, once per opened problem.
- time_entry.rejected (contract_paused): the freelancer is told, at most once per contract per pause
  (a pause runs from a contract.paused to the next contract.resumed; see `pause_episode`).
- Nobody is told of: contract.opened (even opened paused), contract.ended, a refused command,
  billing.problem_resolved (the resumes say it), other rejections, accepted time.
- A contract event not newer than the version already known changes nothing and tells no one.
Freelancer notices are built only from contracts.events and time.entries data, never from billing.problems.

Get Support (DESIGN.md, `support.requests`):
- From someone who is not the contract's client or freelancer, or about a contract no contract event
  told us of: the requester is told it was refused, and nothing else happens.
- support.requested: the requester is told it was received; the support queue gets a `support_case`
  (with the client's open problem kinds when the contract has a platform hold: support is the platform).
- A freelancer asking about a pause (`contract_paused`) while the platform holds the contract: the
  client is told their freelancer is waiting, and what to fix, at most once per contract per pause.
- support.circumvention_reported: the reporter is told it was received; the support queue gets a
  `circumvention_report`. No one else hears of it.
A repeated request or report id is dropped before these rules (`store.claim_support_input`).
"""

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from shared.events.billing import BillingProblemEvent, ProblemKind, ProblemOpened, ProblemResolved
from shared.events.contracts import (
    ContractChange,
    ContractHoldsChanged,
    ContractPaused,
    ContractResumed,
    ContractStatus,
    Hold,
)
from shared.events.envelope import Envelope, derived_id
from shared.events.notifications import (
    Channel,
    NotificationCreated,
    NotificationCreatedData,
    NotificationKind,
    RecipientRole,
)
from shared.events.support import CircumventionReported, RefusalReason, SupportRequested, SupportTopic
from shared.events.time_entries import TimeEntryRejected
from services.notification import texts

SOURCE = "notification"
SUPPORT_QUEUE = "support"  # the recipient_id of records for the support queue
CLOCK_SKEW_ALLOWANCE = timedelta(seconds=5)  # contract-state and time-tracking stamp times on different hosts


@dataclass(frozen=True)
class ContractView:
    """What this service knows of one contract: the latest snapshot and when each of its pauses began.

    A pause episode runs from a contract.paused (or an opening paused) to the next resume or end.

    `blocked_notice_at` is the time of the latest rejection the freelancer was told about. It is kept
    as a time, not as an episode, because time.entries may run ahead of contracts.events: the pause
    it belongs to may become known only later, and its time then places it.
    """

    contract_id: str
    freelancer_id: str
    client_id: str | None = None  # None until a contract event arrived (known from a time entry only)
    status: ContractStatus | None = None
    holds: frozenset[Hold] = frozenset()
    version: int = 0
    client_message: str | None = None
    pauses_began: tuple[datetime, ...] = ()
    blocked_notice_at: datetime | None = None

    @property
    def paused(self) -> bool:
        return self.status == "paused"


@dataclass(frozen=True)
class Notice:
    """One notification for one recipient, before it becomes an event."""

    recipient_id: str
    recipient_role: RecipientRole
    kind: NotificationKind
    contract_ids: tuple[str, ...]
    text: texts.Text


@dataclass(frozen=True)
class ContractOutcome:
    view: ContractView | None  # None: nothing to save
    notices: tuple[Notice, ...] = ()
    note: str = ""  # why nothing happened, for the log


@dataclass(frozen=True)
class ProblemOutcome:
    noticed_kinds: frozenset[ProblemKind]  # the client's open problems they have been told about
    notices: tuple[Notice, ...] = ()
    note: str = ""


# --- contracts.events -----------------------------------------------------------------------


def contract_changed(view: ContractView | None, event: ContractChange) -> ContractOutcome:
    snapshot = event.data
    if view is not None and snapshot.version <= view.version:
        return ContractOutcome(None, note="stale_version")
    before = view or ContractView(snapshot.contract_id, snapshot.freelancer_id)
    after = _follow(before, event)
    match event:
        case ContractPaused():
            notices = _paused_notices(after)
        case ContractResumed():
            notices = _resumed_notices(before, after)
        case ContractHoldsChanged():
            notices = _still_paused_notices(before, after)
        case _:
            notices = ()
    return ContractOutcome(after, notices)


def _follow(before: ContractView, event: ContractChange) -> ContractView:
    """The view after a newer snapshot: status, holds, and when a pause episode begins."""
    snapshot = event.data
    after = replace(
        before,
        freelancer_id=snapshot.freelancer_id,
        client_id=snapshot.client_id,
        status=snapshot.status,
        holds=frozenset(snapshot.holds),
        version=snapshot.version,
        client_message=snapshot.client_message,
    )
    if after.paused and not before.paused:
        after = replace(after, pauses_began=(*before.pauses_began, snapshot.changed_at))
    return after


def _paused_notices(view: ContractView) -> tuple[Notice, ...]:
    # contract.paused means the status went from active to paused: its holds are the ones that paused it.
    by_platform, by_client = "platform" in view.holds, "client" in view.holds
    contract = (view.contract_id,)
    notices = [
        Notice(
            view.freelancer_id, "freelancer", "contract_paused", contract,
            texts.paused_for_freelancer(view.contract_id, by_platform, by_client, view.client_message),
        )
    ]
    if by_client and view.client_id:
        notices.append(
            Notice(
                view.client_id, "client", "contract_paused", contract,
                texts.paused_for_client(view.contract_id, view.client_message),
            )
        )
    return tuple(notices)


def _resumed_notices(before: ContractView, after: ContractView) -> tuple[Notice, ...]:
    contract = (after.contract_id,)
    notices = [Notice(after.freelancer_id, "freelancer", "contract_resumed", contract,
                      texts.resumed_for_freelancer(after.contract_id))]
    if after.client_id:
        billing_resolved = "platform" in before.holds
        notices.append(Notice(after.client_id, "client", "contract_resumed", contract,
                              texts.resumed_for_client(after.contract_id, billing_resolved)))
    return tuple(notices)


def _still_paused_notices(before: ContractView, after: ContractView) -> tuple[Notice, ...]:
    # Without the previous holds (no earlier event seen) a lifted hold cannot be told from an added one.
    if not (before.paused and after.paused and after.client_id):
        return ()
    lifted = before.holds - after.holds
    if not lifted:
        return ()
    return (
        Notice(after.client_id, "client", "still_paused", (after.contract_id,),
               texts.still_paused(after.contract_id, client_hold_lifted="client" in lifted)),
    )


# --- time.entries ---------------------------------------------------------------------------


def time_entry_rejected(view: ContractView | None, rejection: TimeEntryRejected) -> ContractOutcome:
    entry = rejection.data
    if entry.reason != "contract_paused":
        return ContractOutcome(None, note="not_a_pause")
    view = view or ContractView(entry.contract_id, entry.freelancer_id)
    if view.status == "ended":
        return ContractOutcome(None, note="contract_ended")
    told = view.blocked_notice_at
    if told is not None and pause_episode(view, rejection.time) <= pause_episode(view, told):
        return ContractOutcome(None, note="already_told_this_pause")
    notice = Notice(entry.freelancer_id, "freelancer", "time_entry_blocked", (entry.contract_id,),
                    texts.time_entry_blocked(entry.contract_id))
    return ContractOutcome(replace(view, blocked_notice_at=rejection.time), (notice,))


def pause_episode(view: ContractView, rejected_at: datetime) -> int:
    """The pause a rejection belongs to: the latest one known to have begun by then (0: none known yet).

    time-tracking rejects only after it has seen the pause, so a rejection is not earlier than its
    pause (give or take the clocks of two hosts); one made after a resume is for an entry reaching
    back into that pause. Topics are consumed independently: while contracts.events lags, a rejection
    is placed in an earlier pause, and in its own once the pause arrives, since the time of the
    latest notice is placed again.
    """
    return sum(1 for began in view.pauses_began if began <= rejected_at + CLOCK_SKEW_ALLOWANCE)


# --- billing.problems -----------------------------------------------------------------------


def problem_opened(
    noticed_kinds: frozenset[ProblemKind], client_contract_ids: list[str], event: ProblemOpened
) -> ProblemOutcome:
    problem = event.data
    still_open = noticed_kinds & frozenset(problem.open_problems)
    if problem.kind in still_open:
        return ProblemOutcome(still_open, note="already_told_this_problem")
    notice = Notice(problem.client_id, "client", "billing_action_required", tuple(client_contract_ids),
                    texts.billing_action_required(problem.kind, problem.detail, client_contract_ids))
    return ProblemOutcome(still_open | {problem.kind}, (notice,))


def problem_resolved(noticed_kinds: frozenset[ProblemKind], event: ProblemResolved) -> frozenset[ProblemKind]:
    """A resolved problem that opens again later is a new problem, told again."""
    return (noticed_kinds & frozenset(event.data.open_problems)) - {event.data.kind}


@dataclass(frozen=True)
class ClientProblems:
    """A client's open billing problems, as of the latest billing.problems change applied."""

    client_id: str
    open_problems: frozenset[ProblemKind]
    as_of: datetime  # when the latest applied change happened (opened_at / resolved_at)
    as_of_event_time: datetime  # that change's event time: breaks ties between changes at one instant


def client_problems(known: ClientProblems | None, event: BillingProblemEvent) -> ClientProblems | None:
    """The client's open problems after a change; None when the change is older than what is known."""
    problem = event.data
    happened_at = problem.opened_at if isinstance(event, ProblemOpened) else problem.resolved_at
    if known is not None and (happened_at, event.time) < (known.as_of, known.as_of_event_time):
        return None
    open_problems = frozenset(problem.open_problems)
    if isinstance(event, ProblemOpened):
        open_problems |= {problem.kind}  # the problem just opened is open, whatever the list forgot
    return ClientProblems(problem.client_id, open_problems, happened_at, event.time)


# --- support.requests -----------------------------------------------------------------------


@dataclass(frozen=True)
class SupportCase:
    """One request or report that reached the support queue."""

    case_id: str  # the request_id or report_id
    record: NotificationKind  # `support_case` or `circumvention_report`
    contract_id: str
    client_id: str
    freelancer_id: str
    requester_id: str
    requester_role: RecipientRole
    topic: SupportTopic | None  # None for a report
    message: str
    requested_at: datetime
    platform_paused: bool
    client_open_problems: frozenset[ProblemKind]  # empty unless platform_paused
    client_nudged: bool


@dataclass(frozen=True)
class SupportOutcome:
    case: SupportCase | None  # None: refused
    refused: RefusalReason | None = None
    nudged_pause: datetime | None = None  # when the pause the client was just nudged about began
    notices: tuple[Notice, ...] = ()


def support_requested(
    view: ContractView | None,
    open_problems: frozenset[ProblemKind],
    nudged_pause: datetime | None,
    requester_is_a_client: bool,
    event: SupportRequested,
) -> SupportOutcome:
    """`open_problems` are the contract's client's; `nudged_pause` when the pause the client was last
    nudged about began; `requester_is_a_client` whether anyone known by that id is a client (for the
    role of a refusal's recipient, who is no party of this contract)."""
    request = event.data
    refusal = _refusal(view, request.requester_id, requester_is_a_client, request.contract_id)
    if refusal is not None:
        return refusal
    assert view is not None and view.client_id is not None
    role = _party_role(view, request.requester_id)
    platform_paused = view.paused and "platform" in view.holds
    this_pause = view.pauses_began[-1] if view.paused and view.pauses_began else None
    nudge = (
        role == "freelancer" and request.topic == "contract_paused" and platform_paused
        and this_pause is not None and nudged_pause != this_pause
    )
    case = SupportCase(
        case_id=request.request_id, record="support_case", contract_id=view.contract_id,
        client_id=view.client_id, freelancer_id=view.freelancer_id, requester_id=request.requester_id,
        requester_role=role, topic=request.topic, message=request.message, requested_at=event.time,
        platform_paused=platform_paused, client_open_problems=open_problems if platform_paused else frozenset(),
        client_nudged=nudge,
    )
    contract = (view.contract_id,)
    notices = [
        Notice(request.requester_id, role, "support_request_received", contract,
               texts.support_request_received(view.contract_id, client_contacted=nudge)),
        Notice(SUPPORT_QUEUE, "support", "support_case", contract, texts.support_case(case)),
    ]
    if nudge:
        notices.append(Notice(view.client_id, "client", "freelancer_waiting", contract,
                              texts.freelancer_waiting(view.contract_id, open_problems)))
    return SupportOutcome(case, nudged_pause=this_pause if nudge else None, notices=tuple(notices))


def circumvention_reported(
    view: ContractView | None, requester_is_a_client: bool, event: CircumventionReported
) -> SupportOutcome:
    """To the reporter and the support queue only: the other party never learns a report exists."""
    report = event.data
    refusal = _refusal(view, report.reporter_id, requester_is_a_client, report.contract_id)
    if refusal is not None:
        return refusal
    assert view is not None and view.client_id is not None
    role = _party_role(view, report.reporter_id)
    case = SupportCase(
        case_id=report.report_id, record="circumvention_report", contract_id=view.contract_id,
        client_id=view.client_id, freelancer_id=view.freelancer_id, requester_id=report.reporter_id,
        requester_role=role, topic=None, message=report.message, requested_at=event.time,
        platform_paused=False, client_open_problems=frozenset(), client_nudged=False,
    )
    contract = (view.contract_id,)
    notices = (
        Notice(report.reporter_id, role, "support_request_received", contract,
               texts.report_received(view.contract_id)),
        Notice(SUPPORT_QUEUE, "support", "circumvention_report", contract, texts.circumvention_report(case)),
    )
    return SupportOutcome(case, notices=notices)


def _refusal(
    view: ContractView | None, requester_id: str, requester_is_a_client: bool, contract_id: str
) -> SupportOutcome | None:
    # A view made from time entries alone names no client: its parties are not known yet.
    if view is None or view.client_id is None:
        reason: RefusalReason = "unknown_contract"
    elif requester_id not in (view.client_id, view.freelancer_id):
        reason = "not_a_party"
    else:
        return None
    role: RecipientRole = "client" if requester_is_a_client else "freelancer"
    notice = Notice(requester_id, role, "support_request_refused", (contract_id,),
                    texts.support_request_refused(contract_id))
    return SupportOutcome(None, refused=reason, notices=(notice,))


def _party_role(view: ContractView, person_id: str) -> RecipientRole:
    return "freelancer" if person_id == view.freelancer_id else "client"


# --- the notification itself ----------------------------------------------------------------


def channels(webhook_subscribed: bool) -> tuple[Channel, ...]:
    """Every notification lands in the in-app inbox; webhooks when the recipient has a subscriber."""
    return ("in_app", "webhook") if webhook_subscribed else ("in_app",)


def notification_id(cause_id: str, recipient_id: str, kind: NotificationKind) -> str:
    """The same cause, recipient and kind always give the same id: a replay never notifies twice."""
    return derived_id(f"notification|{cause_id}|{recipient_id}|{kind}")


def notification_event(
    cause: Envelope, notice: Notice, channels: tuple[Channel, ...], now: datetime
) -> NotificationCreated:
    data = NotificationCreatedData(
        notification_id=notification_id(cause.id, notice.recipient_id, notice.kind),
        recipient_id=notice.recipient_id,
        recipient_role=notice.recipient_role,
        kind=notice.kind,
        contract_ids=list(notice.contract_ids),
        title=notice.text.title,
        body=notice.text.body,
        channels=list(channels),
        created_at=now,
    )
    return NotificationCreated.derived_from(
        cause, data, source=SOURCE, time=now, discriminator=f"{notice.recipient_id}|{notice.kind}"
    )


def retry_delay(attempts_made: int, max_attempts: int, base_seconds: float) -> float | None:
    """Webhook back-off: base, 2×base, 4×base, ... between attempts; None when attempts are used up."""
    if attempts_made >= max_attempts:
        return None
    return base_seconds * 2 ** (attempts_made - 1)
