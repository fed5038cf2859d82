"""time-tracking's own tables: every contract version it has seen, each contract's parties, and every
entry_id with its verdict."""

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    bindparam,
    insert,
    select,
    update,
)
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from services.time_tracking.domain import ContractHistory, ContractVersion, RecordedEntry
from shared.prepared import Prepared
from shared.store import among, insert_ignoring_duplicates

# migrations/ is how these tables came to be in a store: a change to them is a new revision there.
tables = MetaData(info={"migrations": Path(__file__).with_name("migrations")})

contract_versions = Table(
    "contract_versions",
    tables,
    Column("contract_id", String(200), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("status", String(10), nullable=False),
    Column("changed_at", DateTime(timezone=True), nullable=False),
    Column("freelancer_id", String(200), nullable=False),
    Column("kind", String(20), nullable=False),
)

# Who may read a contract's entries: its client and freelancer, fixed when it is opened. A table of its
# own, so stores made before it gain it from the baseline migration and fill it as contract events arrive.
contract_parties = Table(
    "contract_parties",
    tables,
    Column("contract_id", String(200), primary_key=True),
    Column("client_id", String(200), nullable=False),
    Column("freelancer_id", String(200), nullable=False),
)

time_entries = Table(
    "time_entries",
    tables,
    Column("entry_id", String(200), primary_key=True),
    Column("contract_id", String(200), nullable=False),
    Column("freelancer_id", String(200), nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("ended_at", DateTime(timezone=True), nullable=False),
    Column("source", String(10), nullable=False),
    Column("rejection", String(40), nullable=True),
    Column("minutes", Integer, nullable=False),
    Column("payment_protection", String(20), nullable=True),
    Column("protection_revoked", Boolean, nullable=False, default=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
    # Revocation looks for a contract's entries ending after a pause began; the API lists a contract's entries.
    Index("time_entries_by_contract", "contract_id", "ended_at"),
)


# Built once, and on SQLite run by the driver (shared.prepared): every batch runs them.
_HISTORIES = Prepared(
    select(contract_versions).where(among(contract_versions.c.contract_id))
    .order_by(contract_versions.c.contract_id, contract_versions.c.version)
)
_ENTRIES = Prepared(select(time_entries).where(among(time_entries.c.entry_id)))
_PROTECTED_ENDING_AFTER = Prepared(
    select(time_entries)
    .where(among(time_entries.c.contract_id), time_entries.c.ended_at > bindparam("after"),
           time_entries.c.rejection.is_(None), time_entries.c.payment_protection == "eligible",
           time_entries.c.protection_revoked.is_(False))
    .order_by(time_entries.c.contract_id, time_entries.c.ended_at, time_entries.c.entry_id)
)
_MARK_REVOKED = Prepared(update(time_entries).where(among(time_entries.c.entry_id))
                         .values(protection_revoked=True, revoked_at=bindparam("revoked_at")))
_ADD_VERSIONS = insert_ignoring_duplicates(contract_versions)
_ADD_PARTIES = insert_ignoring_duplicates(contract_parties)
_SAVE_ENTRIES = Prepared(insert(time_entries))


async def load_histories(connection: AsyncConnection, contract_ids: Iterable[str]) -> dict[str, ContractHistory]:
    """The history of each contract asked for; an unknown contract has an empty one."""
    wanted = set(contract_ids)
    versions: dict[str, list[ContractVersion]] = defaultdict(list)
    for row in await _HISTORIES.rows(connection, {"ids": sorted(wanted)}):
        versions[row.contract_id].append(
            ContractVersion(row.version, row.status, _utc(row.changed_at), row.freelancer_id, row.kind)
        )
    return {contract_id: ContractHistory(contract_id, tuple(versions[contract_id])) for contract_id in wanted}


async def load_history(connection: AsyncConnection, contract_id: str) -> ContractHistory:
    return (await load_histories(connection, [contract_id]))[contract_id]


async def add_versions(connection: AsyncConnection, versions: Sequence[tuple[str, ContractVersion]]) -> None:
    """Store (contract_id, version) pairs, all in one statement."""
    if not versions:
        return
    await _ADD_VERSIONS.run(
        connection,
        [
            {
                "contract_id": contract_id,
                "version": version.version,
                "status": version.status,
                "changed_at": version.changed_at,
                "freelancer_id": version.freelancer_id,
                "kind": version.kind,
            }
            for contract_id, version in versions
        ],
    )


async def add_parties(connection: AsyncConnection, parties: Iterable[tuple[str, str, str]]) -> None:
    """Store (contract_id, client_id, freelancer_id) of contracts not stored yet, all in one statement;
    the first given for a contract wins, as when added one by one."""
    first: dict[str, tuple[str, str]] = {}
    for contract_id, client_id, freelancer_id in parties:
        first.setdefault(contract_id, (client_id, freelancer_id))
    if first:
        await _ADD_PARTIES.run(
            connection,
            [
                {"contract_id": contract_id, "client_id": client_id, "freelancer_id": freelancer_id}
                for contract_id, (client_id, freelancer_id) in first.items()
            ],
        )


async def parties_of(connection: AsyncConnection, contract_id: str) -> tuple[str, str] | None:
    """(client_id, freelancer_id) of a contract, None while no event about it has arrived."""
    query = select(contract_parties.c.client_id, contract_parties.c.freelancer_id).where(
        contract_parties.c.contract_id == contract_id
    )
    row = (await connection.execute(query)).first()
    return None if row is None else (row.client_id, row.freelancer_id)


async def load_entries(connection: AsyncConnection, entry_ids: Iterable[str]) -> dict[str, RecordedEntry]:
    """The entries already recorded among `entry_ids`, by entry_id."""
    return {row.entry_id: _entry(row) for row in await _ENTRIES.rows(connection, {"ids": sorted(set(entry_ids))})}


async def load_entry(connection: AsyncConnection, entry_id: str) -> RecordedEntry | None:
    return (await load_entries(connection, [entry_id])).get(entry_id)


async def save_entries(connection: AsyncConnection, entries: list[RecordedEntry], recorded_at: datetime) -> None:
    """Record new entries, all in one statement."""
    if not entries:
        return
    await _SAVE_ENTRIES.run(
        connection,
        [
            {
                "entry_id": entry.entry_id,
                "contract_id": entry.contract_id,
                "freelancer_id": entry.freelancer_id,
                "started_at": entry.started_at,
                "ended_at": entry.ended_at,
                "source": entry.source,
                "rejection": entry.rejection,
                "minutes": entry.minutes,
                "payment_protection": entry.payment_protection,
                "protection_revoked": entry.protection_revoked,
                "recorded_at": recorded_at,
            }
            for entry in entries
        ],
    )


async def protected_entries_ending_after(
    connection: AsyncConnection, moments: Mapping[str, datetime]
) -> dict[str, list[RecordedEntry]]:
    """Per contract of `moments`, its entries that still carry payment protection and end after its
    moment, the earliest ending first; all in one statement."""
    if not moments:
        return {}
    # One statement built once for every batch: the contracts' protected entries ending after the
    # earliest moment, each contract's own moment applied here. (A join to the moments as a list of
    # values was compiled anew for every batch: 40% of learning a batch of 30 pauses, measured.)
    found: dict[str, list[RecordedEntry]] = {contract_id: [] for contract_id in moments}
    rows = await _PROTECTED_ENDING_AFTER.rows(connection, {"ids": sorted(moments), "after": min(moments.values())})
    for row in rows:
        entry = _entry(row)
        if entry.ended_at > moments[entry.contract_id]:
            found[entry.contract_id].append(entry)
    return found


async def mark_revoked(connection: AsyncConnection, entry_ids: list[str], revoked_at: datetime) -> None:
    if entry_ids:
        await _MARK_REVOKED.run(connection, {"ids": entry_ids, "revoked_at": revoked_at})


async def entries_of_contract(connection: AsyncConnection, contract_id: str) -> list[RecordedEntry]:
    """Everything recorded for a contract, the latest work first."""
    query = (
        select(time_entries)
        .where(time_entries.c.contract_id == contract_id)
        .order_by(time_entries.c.started_at.desc(), time_entries.c.recorded_at.desc())
    )
    return [_entry(row) for row in await connection.execute(query)]


def _entry(row: Row) -> RecordedEntry:
    return RecordedEntry(
        entry_id=row.entry_id,
        contract_id=row.contract_id,
        freelancer_id=row.freelancer_id,
        started_at=_utc(row.started_at),
        ended_at=_utc(row.ended_at),
        source=row.source,
        rejection=row.rejection,
        minutes=row.minutes,
        payment_protection=row.payment_protection,
        protection_revoked=row.protection_revoked,
    )


def _utc(moment: datetime) -> datetime:
    # SQLite hands back the naive UTC time we stored; PostgreSQL an aware one.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
