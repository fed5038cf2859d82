"""What notification does with each input: load its view, ask the domain who is told what, save,
put each notice in the inbox, queue its webhooks and emit it on `notifications`.

Never log billing specifics here (problem kind, detail, decline codes, amounts): logs are read
by people and systems that must not learn them.
"""

from datetime import UTC, datetime

from shared.events.billing import BillingProblemEvent, ProblemOpened, ProblemResolved
from shared.events.contracts import CommandRejected, ContractEvent
from shared.events.envelope import Envelope
from shared.events.support import CircumventionReported, SupportEvent, SupportRequested
from shared.events.time_entries import TimeEntryEvent, TimeEntryRejected
from shared.logs import get_logger
from shared.store import Transaction
from shared.topics import NOTIFICATIONS
from services.notification import domain, store, webhook_store
from services.notification.domain import ContractOutcome, Notice

log = get_logger(__name__)


async def on_billing_problem(tx: Transaction, event: BillingProblemEvent) -> None:
    client_id = event.data.client_id
    problems = domain.client_problems(await store.load_client_problems(tx.connection, client_id), event)
    if problems is not None:
        await store.save_client_problems(tx.connection, problems)
    noticed = await store.noticed_problems(tx.connection, client_id)
    match event:
        case ProblemOpened():
            contract_ids = await store.open_contracts_of(tx.connection, client_id)
            outcome = domain.problem_opened(noticed, contract_ids, event)
            await store.save_noticed_problems(tx.connection, client_id, outcome.noticed_kinds)
            if outcome.note:
                log.info("no notification", client_id=client_id, why=outcome.note)
            await _notify(tx, event, outcome.notices)
        case ProblemResolved():
            await store.save_noticed_problems(tx.connection, client_id, domain.problem_resolved(noticed, event))


async def on_contract_event(tx: Transaction, event: ContractEvent) -> None:
    if isinstance(event, CommandRejected):
        return  # a refused command changed nothing; the actor heard about it from contract-state
    view = await store.load_contract(tx.connection, event.data.contract_id)
    await _apply(tx, event, domain.contract_changed(view, event), event.data.contract_id)


async def on_time_entry(tx: Transaction, event: TimeEntryEvent) -> None:
    if not isinstance(event, TimeEntryRejected):
        return
    view = await store.load_contract(tx.connection, event.data.contract_id)
    await _apply(tx, event, domain.time_entry_rejected(view, event), event.data.contract_id)


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
        known = await store.load_client_problems(tx.connection, view.client_id) if view and view.client_id else None
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
    await _notify(tx, event, outcome.notices)


async def _apply(tx: Transaction, cause: Envelope, outcome: ContractOutcome, contract_id: str) -> None:
    if outcome.view is not None:
        await store.save_contract(tx.connection, outcome.view)
    if outcome.note:
        log.info("no notification", contract_id=contract_id, why=outcome.note)
    await _notify(tx, cause, outcome.notices)


async def _notify(tx: Transaction, cause: Envelope, notices: tuple[Notice, ...]) -> None:
    now = datetime.now(UTC)
    for notice in notices:
        subscribers = await webhook_store.subscriptions_for(tx.connection, notice.recipient_id)
        notification = domain.notification_event(cause, notice, domain.channels(bool(subscribers)), now)
        if await store.add_notification(tx.connection, notification):
            await webhook_store.add_deliveries(tx.connection, notification.data.notification_id, subscribers, now)
        await tx.emit(NOTIFICATIONS, notification)
        log.info(
            "notification created",
            kind=notice.kind,
            recipient_id=notice.recipient_id,
            recipient_role=notice.recipient_role,
            contract_ids=list(notice.contract_ids),
            notification_id=notification.data.notification_id,
            webhooks=len(subscribers),
        )
