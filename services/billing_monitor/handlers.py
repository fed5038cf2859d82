"""Applies billing facts: load the clients' standings, decide each fact in order, save, emit the changes."""

from collections.abc import Iterable
from datetime import UTC, datetime

from services.billing_monitor.domain import ClientStanding, apply_billing_fact
from services.billing_monitor.store import load_standings, save_standings
from shared.events.billing import BillingEvent, ProblemKind, ProblemOpened
from shared.logs import bound_to_event, get_logger
from shared.store import Transaction
from shared.topics import BILLING_PROBLEMS

log = get_logger(__name__)


async def on_billing_fact(tx: Transaction, fact: BillingEvent) -> None:
    await on_billing_facts(tx, [fact])


async def on_billing_facts(tx: Transaction, facts: list[BillingEvent]) -> None:
    """A batch at once: the standings read in one statement and written in one, the changes emitted
    in one; each fact decided on the standing the facts before it left."""
    clients = {fact.data.client_id for fact in facts}
    await tx.lock("client", *clients)  # another instance may hold this partition a moment after a rebalance
    loaded = await load_standings(tx.connection, clients)
    standings = dict(loaded)
    changes = []
    now = datetime.now(UTC)
    for fact in facts:
        with bound_to_event(fact):
            standing = standings[fact.data.client_id]
            decision = apply_billing_fact(standing, fact, now=now)
            _log_late(decision.late_for, standing, fact)
            standings[fact.data.client_id] = decision.standing
            changes.extend(decision.changes)
            for change in decision.changes:
                log.info("billing problem opened" if isinstance(change, ProblemOpened) else "billing problem resolved",
                         client_id=change.data.client_id, kind=change.data.kind, open_problems=change.data.open_problems)
    await save_standings(tx.connection, [s for client, s in standings.items() if s != loaded[client]])
    await tx.emit_all(BILLING_PROBLEMS, changes)


def _log_late(late_for: Iterable[ProblemKind], standing: ClientStanding, fact: BillingEvent) -> None:
    for kind in late_for:
        log.info("late billing fact left out", client_id=standing.client_id, kind=kind,
                 fact_time=fact.time.isoformat(), latest_fact_at=standing.latest_fact_at[kind].isoformat())
