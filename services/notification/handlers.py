"""What notification does with each input: load its view, ask the domain who is told what, save,
put each notice in the inbox, queue its webhooks and emit it on `notifications`.

Never log billing specifics here (problem kind, detail, decline codes, amounts): logs are read
by people and systems that must not learn them.
"""

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from shared.events.billing import BillingProblemEvent, ProblemKind, ProblemOpened, ProblemResolved
from shared.events.contracts import CommandRejected, ContractEvent
from shared.events.envelope import Envelope
from shared.events.support import CircumventionReported, SupportEvent, SupportRequested
from shared.events.time_entries import TimeEntryEvent, TimeEntryRejected
from shared.logs import bound_to_event, get_logger
from shared.store import Transaction
from shared.topics import NOTIFICATIONS
from services.notification import domain, store, webhook_store
from services.notification.domain import ClientProblems, ContractOutcome, ContractView, Notice

log = get_logger(__name__)


async def on_billing_problem(tx: Transaction, event: BillingProblemEvent) -> None:
    await on_billing_problems(tx, [event])


async def on_billing_problems(tx: Transaction, events: list[BillingProblemEvent]) -> None:
    """The batch's clients read in a statement per table, each change decided in order on what the
    changes before it left, what changed written in a statement per table, the notices in a few."""
    clients = {event.data.client_id for event in events}
    await tx.lock("client", *clients)  # another instance may hold this partition a moment after a rebalance
    known = await store.load_client_problems(tx.connection, clients)
    noticed = await store.noticed_problems(tx.connection, clients)
    opened = {event.data.client_id for event in events if isinstance(event, ProblemOpened)}
    contracts_of = await store.open_contracts_of(tx.connection, opened)
    changed_problems: dict[str, ClientProblems] = {}
    changed_noticed: dict[str, frozenset[ProblemKind]] = {}
    told: list[tuple[Envelope, Notice]] = []
    for event in events:
        client_id = event.data.client_id
        if (problems := domain.client_problems(known.get(client_id), event)) is not None:
            known[client_id] = changed_problems[client_id] = problems
        match event:
            case ProblemOpened():
                outcome = domain.problem_opened(noticed[client_id], contracts_of[client_id], event)
                if outcome.note:
                    with bound_to_event(event):
                        log.info("no notification", client_id=client_id, why=outcome.note)
                noticed[client_id] = changed_noticed[client_id] = outcome.noticed_kinds
                told.extend((event, notice) for notice in outcome.notices)
            case ProblemResolved():
                noticed[client_id] = changed_noticed[client_id] = domain.problem_resolved(noticed[client_id], event)
    await store.save_client_problems(tx.connection, list(changed_problems.values()))
    await store.save_noticed_problems(tx.connection, changed_noticed)
    await _notify(tx, told)


async def on_contract_event(tx: Transaction, event: ContractEvent) -> None:
    await on_contract_events(tx, [event])


async def on_contract_events(tx: Transaction, events: list[ContractEvent]) -> None:
    # A refused command changed nothing; the actor heard about it from contract-state.
    changes = [event for event in events if not isinstance(event, CommandRejected)]
    await _apply(tx, changes, domain.contract_changed)


async def on_time_entry(tx: Transaction, event: TimeEntryEvent) -> None:
    await on_time_entries(tx, [event])


async def on_time_entries(tx: Transaction, events: list[TimeEntryEvent]) -> None:
    await _apply(tx, [event for event in events if isinstance(event, TimeEntryRejected)], domain.time_entry_rejected)


async def on_support_request(tx: Transaction, event: SupportEvent) -> None:
    match event:
        case SupportRequested(data=request):
            input_id, requester_id = request.request_id, request.requester_id
        case CircumventionReported(data=report):
            input_id, requester_id = report.report_id, report.reporter_id
    contract_id = event.data.contract_id
    if not await store.claim_support_input(tx.connection, event.type, input_id, contract_id, requester_id,
                                           datetime.now(UTC)):
        log.info("no notification", contract_id=contract_id, why="repeated_support_input")
        return
    view = await store.load_contract(tx.connection, contract_id)
    is_a_client = await store.is_a_client(tx.connection, requester_id)
    if isinstance(event, SupportRequested):
        client_id = view.client_id if view else None
        known = (await store.load_client_problems(tx.connection, [client_id])).get(client_id) if client_id else None
        nudged = await store.nudged_pause(tx.connection, contract_id)
        open_problems = known.open_problems if known else frozenset()
        outcome = domain.support_requested(view, open_problems, nudged, is_a_client, event)
    else:
        outcome = domain.circumvention_reported(view, is_a_client, event)
    if outcome.case is not None:
        await store.add_support_case(tx.connection, outcome.case)
    if outcome.nudged_pause is not None:
        await store.save_nudge(tx.connection, contract_id, outcome.nudged_pause)
    settled = outcome.case.record if outcome.case else f"refused:{outcome.refused}"
    await store.settle_support_input(tx.connection, event.type, input_id, settled)
    log.info("support input", contract_id=contract_id, outcome=settled)
    await _notify(tx, [(event, notice) for notice in outcome.notices])


async def _apply(
    tx: Transaction, events: Sequence[Envelope], decide: Callable[[ContractView | None, Any], ContractOutcome]
) -> None:
    """Each event, in order, against its contract's view: the views of the whole batch are read and
    written in one statement each, and its notices in a few (a pause of 10,000 contracts is a batch)."""
    views = await store.load_contracts(tx.connection, {event.data.contract_id for event in events})
    changed: dict[str, ContractView] = {}
    told: list[tuple[Envelope, Notice]] = []
    for event in events:
        contract_id = event.data.contract_id
        outcome = decide(views.get(contract_id), event)
        if outcome.view is not None:
            views[contract_id] = changed[contract_id] = outcome.view
        if outcome.note:
            with bound_to_event(event):
                log.info("no notification", contract_id=contract_id, why=outcome.note)
        told.extend((event, notice) for notice in outcome.notices)
    await store.save_contracts(tx.connection, list(changed.values()))
    await _notify(tx, told)


async def _notify(tx: Transaction, told: Sequence[tuple[Envelope, Notice]]) -> None:
    """Each (cause, notice) into its recipient's inbox, queued for its webhooks, emitted in order."""
    if not told:
        return
    now = datetime.now(UTC)
    subscribers = await webhook_store.subscriptions_for(tx.connection, {notice.recipient_id for _, notice in told})
    notifications = [domain.notification_event(cause, notice, domain.channels(bool(subscribers[notice.recipient_id])), now)
                     for cause, notice in told]
    added = await store.add_notifications(tx.connection, notifications)
    await webhook_store.add_deliveries(tx.connection, [
        (notification.data.notification_id, subscription_id) for notification in notifications
        if notification.data.notification_id in added for subscription_id in subscribers[notification.data.recipient_id]
    ], now)
    await tx.emit_all(NOTIFICATIONS, notifications)
    for (cause, notice), notification in zip(told, notifications, strict=True):
        with bound_to_event(cause):
            log.info(
                "notification created",
                kind=notice.kind,
                recipient_id=notice.recipient_id,
                recipient_role=notice.recipient_role,
                contract_ids=list(notice.contract_ids),
                notification_id=notification.data.notification_id,
                webhooks=len(subscribers[notice.recipient_id]),
            )
