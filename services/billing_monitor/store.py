"""billing-monitor's own table: one row per client holding its standing as JSON."""

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, MetaData, String, Table, select
from sqlalchemy.ext.asyncio import AsyncConnection

from services.billing_monitor.domain import ClientStanding, OpenProblem
from shared.store import upsert

tables = MetaData()

client_standings = Table(
    "client_standings",
    tables,
    Column("client_id", String(200), primary_key=True),
    Column("standing", JSON, nullable=False),
)


async def load_standing(connection: AsyncConnection, client_id: str) -> ClientStanding:
    """The client's standing; a client never heard of has no problems and no watermarks."""
    query = select(client_standings.c.standing).where(client_standings.c.client_id == client_id)
    stored = (await connection.execute(query)).scalar_one_or_none()
    return ClientStanding(client_id) if stored is None else standing_from_json(client_id, stored)


async def save_standing(connection: AsyncConnection, standing: ClientStanding) -> None:
    document = standing_to_json(standing)
    await connection.execute(upsert(connection, client_standings).values(client_id=standing.client_id, standing=document))


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
