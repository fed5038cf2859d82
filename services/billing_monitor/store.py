"""billing-monitor's own table: one row per client holding its standing as JSON."""

from collections.abc import Collection, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import JSON, Column, MetaData, String, Table, select
from sqlalchemy.ext.asyncio import AsyncConnection

from services.billing_monitor.domain import ClientStanding, OpenProblem
from shared.prepared import Prepared
from shared.store import among, upsert

# migrations/ is how these tables came to be in a store: a change to them is a new revision there.
tables = MetaData(info={"migrations": Path(__file__).with_name("migrations")})

client_standings = Table(
    "client_standings",
    tables,
    Column("client_id", String(200), primary_key=True),
    Column("standing", JSON, nullable=False),
)


_STANDINGS = Prepared(
    select(client_standings.c.client_id, client_standings.c.standing).where(among(client_standings.c.client_id))
)
_SAVE_STANDINGS = upsert(client_standings)


async def load_standing(connection: AsyncConnection, client_id: str) -> ClientStanding:
    return (await load_standings(connection, [client_id]))[client_id]


async def load_standings(connection: AsyncConnection, client_ids: Collection[str]) -> dict[str, ClientStanding]:
    """Each client's standing, in one statement; a client never heard of has no problems and no watermarks."""
    rows = await _STANDINGS.rows(connection, {"ids": sorted(set(client_ids))})
    stored = {client_id: standing_from_json(client_id, document) for client_id, document in rows}
    return {client_id: stored.get(client_id, ClientStanding(client_id)) for client_id in client_ids}


async def save_standings(connection: AsyncConnection, standings: Sequence[ClientStanding]) -> None:
    """Write these standings over what is stored, in one executemany round trip."""
    if standings:
        await _SAVE_STANDINGS.run(connection, [
            {"client_id": standing.client_id, "standing": standing_to_json(standing)} for standing in standings])


def standing_to_json(standing: ClientStanding) -> dict[str, Any]:
    """`problems`: the open ones, with what the client was told; `latest_fact_at`: the watermarks."""
    return {
        "problems": {
            kind: {"detail": problem.detail, "opened_at": problem.opened_at.isoformat()}
            for kind, problem in sorted(standing.open_problems.items())
        },
        "latest_fact_at": {kind: at.isoformat() for kind, at in sorted(standing.latest_fact_at.items())},
    }


def standing_from_json(client_id: str, document: dict[str, Any]) -> ClientStanding:
    return ClientStanding(
        client_id,
        open_problems={
            kind: OpenProblem(problem["detail"], datetime.fromisoformat(problem["opened_at"]))
            for kind, problem in document["problems"].items()
        },
        latest_fact_at={kind: datetime.fromisoformat(at) for kind, at in document["latest_fact_at"].items()},
    )
