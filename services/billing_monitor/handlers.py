"""Applies each billing fact: load the client's standing, decide, save, emit the changes."""

from datetime import UTC, datetime

from services.billing_monitor.domain import apply_billing_fact
from services.billing_monitor.store import load_standing, save_standing
from shared.events.billing import BillingEvent, ProblemOpened
from shared.logs import get_logger
from shared.store import Transaction
from shared.topics import BILLING_PROBLEMS

log = get_logger(__name__)


async def on_billing_fact(tx: Transaction, fact: BillingEvent) -> None:
    standing = await load_standing(tx.connection, fact.data.client_id)
    decision = apply_billing_fact(standing, fact, now=datetime.now(UTC))
    for kind in decision.late_for:
        log.info(
            "late billing fact left out",
            client_id=standing.client_id,
            kind=kind,
            fact_time=fact.time.isoformat(),
            latest_fact_at=standing.latest_fact_at[kind].isoformat(),
        )
    if decision.standing != standing:
        await save_standing(tx.connection, decision.standing)
    for change in decision.changes:
        log.info(
            "billing problem opened" if isinstance(change, ProblemOpened) else "billing problem resolved",
            client_id=change.data.client_id,
            kind=change.data.kind,
            open_problems=change.data.open_problems,
        )
        await tx.emit(BILLING_PROBLEMS, change)
