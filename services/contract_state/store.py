"""contract-state's tables: contracts (indexed by client, for the billing fan-out), each contract's
history of changes, and billing standings.

Rows are read `FOR UPDATE` inside write transactions, after the handler locked their client
(`handlers.CLIENT_LOCK`): on PostgreSQL, with several instances, a command and a billing change
touching one client's contracts then queue instead of losing an update or deadlocking (SQLite has
a single writer and ignores both).
"""

from collections.abc import Collection, Sequence
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Float,
    Index,
    Integer,
    MetaData,
    Row,
    String,
    Table,
    Text,
    bindparam,
    select,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from services.contract_state.domain import CLIENT, PLATFORM, BillingStanding, Contract, HistoryEntry
from shared.prepared import Prepared
from shared.store import among, insert_ignoring_duplicates, upsert

# migrations/ is how these tables came to be in a store: a change to them is a new revision there.
tables = MetaData(info={"migrations": Path(__file__).with_name("migrations")})

contracts = Table(
    "contracts",
    tables,
    Column("contract_id", String(200), primary_key=True),
    Column("client_id", String(200), nullable=False),
    Column("freelancer_id", String(200), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("weekly_limit_hours", Float, nullable=True),
    Column("ended", Boolean, nullable=False),
    Column("platform_hold", Boolean, nullable=False),
    Column("client_hold", Boolean, nullable=False),
    Column("client_message", Text, nullable=True),
    Column("version", Integer, nullable=False),
    Column("changed_at", DateTime(timezone=True), nullable=False),
    # The billing fan-out reads a client's open contracts in one indexed query.
    Index("contracts_by_client", "client_id", "ended"),
)

contract_history = Table(
    "contract_history",
    tables,
    Column("contract_id", String(200), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("type", String(50), nullable=False),
    Column("status", String(20), nullable=False),
    Column("holds", JSON, nullable=False),
    Column("actor_role", String(20), nullable=False),
    Column("changed_at", DateTime(timezone=True), nullable=False),
)

billing_standings = Table(
    "billing_standings",
    tables,
    Column("client_id", String(200), primary_key=True),
    Column("open_problems", JSON, nullable=False),
    Column("as_of", DateTime(timezone=True), nullable=False),
    Column("as_of_event_time", DateTime(timezone=True), nullable=False),
)


# Built once, and on SQLite run by the driver (shared.prepared): every batch runs them.
_CONTRACT = select(contracts).where(contracts.c.contract_id == bindparam("contract_id"))
_CONTRACT_READ = Prepared(_CONTRACT)
_CONTRACT_FOR_UPDATE = Prepared(_CONTRACT.with_for_update())
_CLIENTS_OF = Prepared(select(contracts.c.contract_id, contracts.c.client_id).where(among(contracts.c.contract_id)))
_OPEN_CONTRACTS = Prepared(
    select(contracts).where(among(contracts.c.client_id), contracts.c.ended.is_(False))
    .order_by(contracts.c.contract_id).with_for_update()
)
_STANDINGS = Prepared(select(billing_standings).where(among(billing_standings.c.client_id))
                      .order_by(billing_standings.c.client_id).with_for_update())
_SAVE_CONTRACTS = upsert(contracts)
_SAVE_STANDINGS = upsert(billing_standings)
_RECORD_HISTORY = insert_ignoring_duplicates(contract_history)


async def load_contract(connection: AsyncConnection, contract_id: str, *, for_update: bool = True) -> Contract | None:
    query = _CONTRACT_FOR_UPDATE if for_update else _CONTRACT_READ
    rows = await query.rows(connection, {"contract_id": contract_id})
    return _contract(rows[0]) if rows else None


async def clients_of(connection: AsyncConnection, contract_ids: set[str]) -> dict[str, str]:
    """The client of each known contract among `contract_ids` (it never changes: read without a lock)."""
    if not contract_ids:
        return {}
    return {row.contract_id: row.client_id for row in await _CLIENTS_OF.rows(connection, {"ids": sorted(contract_ids)})}


async def load_open_contracts(connection: AsyncConnection, client_ids: Collection[str]) -> dict[str, dict[str, Contract]]:
    """Per client, every contract of it that is not ended, by id in id order (one statement for all)."""
    found: dict[str, dict[str, Contract]] = {client_id: {} for client_id in client_ids}
    for row in await _OPEN_CONTRACTS.rows(connection, {"ids": sorted(set(client_ids))}):
        found[row.client_id][row.contract_id] = _contract(row)
    return found


async def save_contracts(connection: AsyncConnection, changed: Sequence[Contract]) -> None:
    """Insert or update contracts in one statement executed for all of them (a fan-out is one round trip)."""
    if not changed:
        return
    await _SAVE_CONTRACTS.run(connection, [_row(contract) for contract in changed])


async def record_history(connection: AsyncConnection, entries: Sequence[HistoryEntry]) -> None:
    if not entries:
        return
    rows = [
        {"contract_id": entry.contract_id, "version": entry.version, "type": entry.type, "status": entry.status,
         "holds": list(entry.holds), "actor_role": entry.actor_role, "changed_at": entry.changed_at}
        for entry in entries
    ]
    await _RECORD_HISTORY.run(connection, rows)


async def history_of(connection: AsyncConnection, contract_id: str) -> list[dict[str, object]]:
    """Every change of the contract recorded, oldest first."""
    query = (
        select(contract_history).where(contract_history.c.contract_id == contract_id)
        .order_by(contract_history.c.version)
    )
    return [
        {"version": row.version, "type": row.type, "status": row.status, "holds": row.holds,
         "actor_role": row.actor_role, "changed_at": _utc(row.changed_at).isoformat()}
        for row in await connection.execute(query)
    ]


async def load_standing(connection: AsyncConnection, client_id: str) -> BillingStanding | None:
    return (await load_standings(connection, [client_id])).get(client_id)


async def load_standings(connection: AsyncConnection, client_ids: Collection[str]) -> dict[str, BillingStanding]:
    """The standings of those clients that have one, in one statement."""
    return {
        row.client_id: BillingStanding(
            client_id=row.client_id,
            open_problems=frozenset(row.open_problems),
            as_of=_utc(row.as_of),
            as_of_event_time=_utc(row.as_of_event_time),
        )
        for row in await _STANDINGS.rows(connection, {"ids": sorted(set(client_ids))})
    }


async def save_standings(connection: AsyncConnection, standings: Sequence[BillingStanding]) -> None:
    """Write these standings over what is stored, in one executemany round trip."""
    if standings:
        await _SAVE_STANDINGS.run(connection, [
            {"client_id": standing.client_id, "open_problems": sorted(standing.open_problems),
             "as_of": standing.as_of, "as_of_event_time": standing.as_of_event_time}
            for standing in standings
        ])


def _contract(row: Row) -> Contract:
    holds = {hold for hold, on in ((PLATFORM, row.platform_hold), (CLIENT, row.client_hold)) if on}
    return Contract(
        contract_id=row.contract_id,
        client_id=row.client_id,
        freelancer_id=row.freelancer_id,
        kind=row.kind,
        weekly_limit_hours=row.weekly_limit_hours,
        holds=frozenset(holds),
        ended=row.ended,
        version=row.version,
        changed_at=_utc(row.changed_at),
        client_message=row.client_message,
    )


def _row(contract: Contract) -> dict[str, object]:
    return {
        "contract_id": contract.contract_id,
        "client_id": contract.client_id,
        "freelancer_id": contract.freelancer_id,
        "kind": contract.kind,
        "weekly_limit_hours": contract.weekly_limit_hours,
        "ended": contract.ended,
        "platform_hold": contract.platform_hold,
        "client_hold": contract.client_hold,
        "client_message": contract.client_message,
        "version": contract.version,
        "changed_at": contract.changed_at,
    }


def _utc(moment: datetime) -> datetime:
    # SQLite keeps no offset; everything is written in UTC, so a naive value read back is UTC.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)

