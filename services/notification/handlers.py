"""What notification does with each input: load its view, ask the domain who is told what, save,
put each notice in the inbox, queue its webhooks and emit it on `notifications`.

Never log billing specifics here (problem kind, detail, decline codes, amounts): logs are read
by people and systems that must not learn them.
"""

from datetime import UTC, datetime

from shared.events.billing import BillingProblemEvent, ProblemOpened, ProblemResolved
from shared.events.contracts import CommandRejected, ContractEvent
from shared.events.envelope import Envelope
from shared.events.time_entries import TimeEntryEvent, TimeEntryRejected
from shared.logs import get_logger
from shared.store import Transaction
from shared.topics import NOTIFICATIONS
from services.notification import domain, store
from services.notification.domain import ContractOutcome, Notice

log = get_logger(__name__)


async def on_billing_problem(tx: Transaction, event: BillingProblemEvent) -> None:
    client_id = event.data.client_id
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


async def _apply(tx: Transaction, cause: Envelope, outcome: ContractOutcome, contract_id: str) -> None:
    if outcome.view is not None:
        await store.save_contract(tx.connection, outcome.view)
    if outcome.note:
        log.info("no notification", contract_id=contract_id, why=outcome.note)
    await _notify(tx, cause, outcome.notices)


async def _notify(tx: Transaction, cause: Envelope, notices: tuple[Notice, ...]) -> None:
    now = datetime.now(UTC)
    for notice in notices:
        subscribers = await store.subscriptions_for(tx.connection, notice.recipient_id)
        notification = domain.notification_event(cause, notice, domain.channels(bool(subscribers)), now)
        if await store.add_notification(tx.connection, notification):
            await store.add_deliveries(tx.connection, notification.data.notification_id, subscribers, now)
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
