"""notification's own tables: its view of contracts, each client's open billing problems and what
they were told of them, support requests and cases, and the in-app inbox. Webhook subscribers,
deliveries and dead letters are in webhook_store, on the same `tables`."""

import json
from collections.abc import Collection, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.events.billing import ProblemKind
from shared.events.notifications import NotificationCreated
from shared.prepared import Prepared
from shared.store import among, insert_ignoring_duplicates, upsert
from services.notification.domain import ClientProblems, ContractView, SupportCase

# migrations/ is how these tables came to be in a store: a change to them is a new revision there.
tables = MetaData(info={"migrations": Path(__file__).with_name("migrations")})

contract_views = Table(
    "contract_views",
    tables,
    Column("contract_id", String(200), primary_key=True),
    Column("freelancer_id", String(200), nullable=False),
    Column("client_id", String(200), nullable=True, index=True),
    Column("status", String(20), nullable=True),
    Column("holds", String(50), nullable=False),  # comma-separated
    Column("version", Integer, nullable=False),
    Column("client_message", Text, nullable=True),
    Column("pauses_began", Text, nullable=False),  # JSON list of times
    Column("blocked_notice_at", DateTime(timezone=True), nullable=True),
)

billing_notices = Table(
    "billing_notices",
    tables,
    Column("client_id", String(200), primary_key=True),
    Column("kind", String(50), primary_key=True),
)

client_problems = Table(
    "client_problems",
    tables,
    Column("client_id", String(200), primary_key=True),
    Column("open_problems", Text, nullable=False),  # JSON list of kinds
    Column("as_of", DateTime(timezone=True), nullable=False),
    Column("as_of_event_time", DateTime(timezone=True), nullable=False),
)

# Every request or report id seen, refused ones too: a repeated id changes nothing.
support_inputs = Table(
    "support_inputs",
    tables,
    Column("input_type", String(100), primary_key=True),
    Column("input_id", String(200), primary_key=True),
    Column("contract_id", String(200), nullable=False),
    Column("requester_id", String(200), nullable=False),
    Column("outcome", String(50), nullable=True),  # support_case, circumvention_report, or why it was refused
    Column("received_at", DateTime(timezone=True), nullable=False),
)

support_cases = Table(
    "support_cases",
    tables,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("record", String(50), nullable=False),
    Column("case_id", String(200), nullable=False),
    Column("contract_id", String(200), nullable=False, index=True),
    Column("client_id", String(200), nullable=False),
    Column("freelancer_id", String(200), nullable=False),
    Column("requester_id", String(200), nullable=False),
    Column("requester_role", String(20), nullable=False),
    Column("topic", String(50), nullable=True),
    Column("message", Text, nullable=False),
    Column("requested_at", DateTime(timezone=True), nullable=False),
    Column("platform_paused", Boolean, nullable=False),
    Column("client_open_problems", Text, nullable=False),  # JSON list of kinds
    Column("client_nudged", Boolean, nullable=False),
    UniqueConstraint("record", "case_id"),
)

# When the pause began that each contract's client was last told their freelancer is waiting in.
client_nudges = Table(
    "client_nudges",
    tables,
    Column("contract_id", String(200), primary_key=True),
    Column("pause_began", DateTime(timezone=True), nullable=False),
)

notifications = Table(
    "notifications",
    tables,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("notification_id", String(200), nullable=False, unique=True),
    Column("recipient_id", String(200), nullable=False),
    Column("recipient_role", String(20), nullable=False),
    Column("kind", String(50), nullable=False),
    Column("contract_ids", Text, nullable=False),  # JSON list
    Column("title", Text, nullable=False),
    Column("body", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("read_at", DateTime(timezone=True), nullable=True),
    Column("payload", LargeBinary, nullable=False),  # the notification.created event, as published
    Index("notifications_by_recipient", "recipient_id", "seq"),
)


# Built once, and on SQLite run by the driver (shared.prepared): every batch runs them.
_VIEWS = Prepared(select(contract_views).where(among(contract_views.c.contract_id))
                  .order_by(contract_views.c.contract_id).with_for_update())
_OPEN_CONTRACTS_OF = Prepared(
    select(contract_views.c.client_id, contract_views.c.contract_id)
    .where(among(contract_views.c.client_id), contract_views.c.status.in_(("active", "paused")))
    .order_by(contract_views.c.contract_id)
)
_NOTICED = Prepared(select(billing_notices.c.client_id, billing_notices.c.kind).where(among(billing_notices.c.client_id)))
_FORGET_NOTICED = Prepared(delete(billing_notices).where(among(billing_notices.c.client_id)))
_NOTICE = Prepared(insert(billing_notices))
_PROBLEMS = Prepared(select(client_problems).where(among(client_problems.c.client_id))
                     .order_by(client_problems.c.client_id).with_for_update())
_SAVE_VIEWS = upsert(contract_views)
_SAVE_PROBLEMS = upsert(client_problems)
_ADD_NOTIFICATIONS = insert_ignoring_duplicates(notifications, notifications.c.notification_id)
_CLAIM_SUPPORT_INPUT = insert_ignoring_duplicates(support_inputs, support_inputs.c.input_id)
_SAVE_NUDGE = upsert(client_nudges)
_ADD_SUPPORT_CASE = insert_ignoring_duplicates(support_cases)


# --- contract views -------------------------------------------------------------------------


async def load_contract(connection: AsyncConnection, contract_id: str) -> ContractView | None:
    return (await load_contracts(connection, [contract_id])).get(contract_id)


async def load_contracts(connection: AsyncConnection, contract_ids: Collection[str]) -> dict[str, ContractView]:
    """The views of these contracts that exist, in one statement.

    Locked until commit (PostgreSQL; SQLite has one writer anyway): contracts.events and time.entries
    of one contract may be consumed by two instances at once, and neither may overwrite the other."""
    rows = await _VIEWS.rows(connection, {"ids": sorted(set(contract_ids))})
    return {row.contract_id: _view(row) for row in rows}


def _view(row: Any) -> ContractView:
    return ContractView(
        contract_id=row.contract_id,
        freelancer_id=row.freelancer_id,
        client_id=row.client_id,
        status=row.status,
        holds=frozenset(hold for hold in row.holds.split(",") if hold),
        version=row.version,
        client_message=row.client_message,
        pauses_began=tuple(datetime.fromisoformat(began) for began in json.loads(row.pauses_began)),
        blocked_notice_at=utc(row.blocked_notice_at),
    )


async def save_contracts(connection: AsyncConnection, views: Sequence[ContractView]) -> None:
    """Write these views over what is stored, in one executemany round trip."""
    if views:
        await _SAVE_VIEWS.run(connection, [_row(view) for view in views])


def _row(view: ContractView) -> dict[str, Any]:
    return {
        "contract_id": view.contract_id,
        "freelancer_id": view.freelancer_id,
        "client_id": view.client_id,
        "status": view.status,
        "holds": ",".join(sorted(view.holds)),
        "version": view.version,
        "client_message": view.client_message,
        "pauses_began": json.dumps([began.isoformat() for began in view.pauses_began]),
        "blocked_notice_at": view.blocked_notice_at,
    }


async def open_contracts_of(connection: AsyncConnection, client_ids: Collection[str]) -> dict[str, list[str]]:
    """Per client, its contracts that are not ended as far as contracts.events told us (one statement)."""
    found: dict[str, list[str]] = {client_id: [] for client_id in client_ids}
    for client_id, contract_id in await _OPEN_CONTRACTS_OF.rows(connection, {"ids": sorted(set(client_ids))}):
        found[client_id].append(contract_id)
    return found


# --- what clients were told about their billing problems ------------------------------------


async def noticed_problems(connection: AsyncConnection, client_ids: Collection[str]) -> dict[str, frozenset[ProblemKind]]:
    """Per client, the open problems it has been told about (one statement)."""
    found: dict[str, set[ProblemKind]] = {client_id: set() for client_id in client_ids}
    for client_id, kind in await _NOTICED.rows(connection, {"ids": sorted(set(client_ids))}):
        found[client_id].add(kind)
    return {client_id: frozenset(kinds) for client_id, kinds in found.items()}


async def save_noticed_problems(connection: AsyncConnection, noticed: dict[str, frozenset[ProblemKind]]) -> None:
    """Replace what these clients have been told about, in two statements for all of them."""
    if not noticed:
        return
    await _FORGET_NOTICED.run(connection, {"ids": sorted(noticed)})
    rows = [{"client_id": client_id, "kind": kind} for client_id, kinds in sorted(noticed.items()) for kind in sorted(kinds)]
    if rows:
        await _NOTICE.run(connection, rows)


async def load_client_problems(connection: AsyncConnection, client_ids: Collection[str]) -> dict[str, ClientProblems]:
    """The known open problems of those clients that have any record, in one statement."""
    return {
        row.client_id: ClientProblems(row.client_id, frozenset(json.loads(row.open_problems)), utc(row.as_of),
                                      utc(row.as_of_event_time))
        for row in await _PROBLEMS.rows(connection, {"ids": sorted(set(client_ids))})
    }


async def save_client_problems(connection: AsyncConnection, problems: Sequence[ClientProblems]) -> None:
    """Write these clients' problems over what is stored, in one executemany round trip."""
    if problems:
        await _SAVE_PROBLEMS.run(connection, [
            {"client_id": known.client_id, "open_problems": json.dumps(sorted(known.open_problems)),
             "as_of": known.as_of, "as_of_event_time": known.as_of_event_time}
            for known in problems
        ])


# --- support requests and cases -------------------------------------------------------------


async def claim_support_input(
    connection: AsyncConnection, input_type: str, input_id: str, contract_id: str, requester_id: str, now: datetime
) -> bool:
    """Record a request or report id; False when it was seen before (on PostgreSQL a concurrent
    claim of the same id waits for the first to commit, then finds it)."""
    claimed = await _CLAIM_SUPPORT_INPUT.rows(connection, {
        "input_type": input_type, "input_id": input_id, "contract_id": contract_id, "requester_id": requester_id,
        "received_at": now,
    })
    return bool(claimed)


async def settle_support_input(connection: AsyncConnection, input_type: str, input_id: str, outcome: str) -> None:
    await connection.execute(
        update(support_inputs)
        .where(support_inputs.c.input_type == input_type, support_inputs.c.input_id == input_id)
        .values(outcome=outcome)
    )


async def is_a_client(connection: AsyncConnection, person_id: str) -> bool:
    query = select(contract_views.c.contract_id).where(contract_views.c.client_id == person_id).limit(1)
    return (await connection.execute(query)).first() is not None


async def nudged_pause(connection: AsyncConnection, contract_id: str) -> datetime | None:
    query = select(client_nudges.c.pause_began).where(client_nudges.c.contract_id == contract_id).with_for_update()
    return utc((await connection.execute(query)).scalar_one_or_none())


async def save_nudge(connection: AsyncConnection, contract_id: str, pause_began: datetime) -> None:
    await _SAVE_NUDGE.run(connection, {"contract_id": contract_id, "pause_began": pause_began})


async def add_support_case(connection: AsyncConnection, case: SupportCase) -> None:
    await _ADD_SUPPORT_CASE.run(connection, dict(
        record=case.record, case_id=case.case_id, contract_id=case.contract_id, client_id=case.client_id,
        freelancer_id=case.freelancer_id, requester_id=case.requester_id, requester_role=case.requester_role,
        topic=case.topic, message=case.message, requested_at=case.requested_at,
        platform_paused=case.platform_paused, client_open_problems=json.dumps(sorted(case.client_open_problems)),
        client_nudged=case.client_nudged,
    ))


async def support_queue(connection: AsyncConnection, limit: int, contract_id: str | None = None) -> list[dict[str, Any]]:
    """The support queue's cases, newest first (in the order they reached the queue)."""
    query = select(support_cases).order_by(support_cases.c.seq.desc()).limit(limit)
    if contract_id is not None:
        query = query.where(support_cases.c.contract_id == contract_id)
    return [
        {
            "case_id": row.case_id,
            "record": row.record,
            "contract_id": row.contract_id,
            "client_id": row.client_id,
            "freelancer_id": row.freelancer_id,
            "requester_id": row.requester_id,
            "requester_role": row.requester_role,
            "topic": row.topic,
            "message": row.message,
            "requested_at": utc(row.requested_at).isoformat(),
            "platform_paused": row.platform_paused,
            "client_open_problems": json.loads(row.client_open_problems),
            "client_nudged": row.client_nudged,
        }
        for row in await connection.execute(query)
    ]


# --- the in-app inbox -----------------------------------------------------------------------


async def add_notifications(connection: AsyncConnection, events: Sequence[NotificationCreated]) -> set[str]:
    """Put notifications in their recipients' inboxes, in one statement; the ids of those that were
    not there already (the others are replays)."""
    if not events:
        return set()
    rows = [
        {
            "notification_id": event.data.notification_id,
            "recipient_id": event.data.recipient_id,
            "recipient_role": event.data.recipient_role,
            "kind": event.data.kind,
            "contract_ids": json.dumps(event.data.contract_ids),
            "title": event.data.title,
            "body": event.data.body,
            "created_at": event.data.created_at,
            "payload": event.to_json(),
        }
        for event in events
    ]
    return {notification_id for (notification_id,) in await _ADD_NOTIFICATIONS.rows(connection, rows)}


async def inbox_of(connection: AsyncConnection, recipient_id: str, limit: int) -> tuple[list[dict[str, Any]], int]:
    """The recipient's newest notifications first, and how many of all theirs are unread."""
    rows = await connection.execute(
        select(notifications)
        .where(notifications.c.recipient_id == recipient_id)
        .order_by(notifications.c.seq.desc())
        .limit(limit)
    )
    unread = await connection.execute(
        select(func.count())
        .select_from(notifications)
        .where(notifications.c.recipient_id == recipient_id, notifications.c.read_at.is_(None))
    )
    return [_as_json(row) for row in rows], unread.scalar_one()


async def mark_read(connection: AsyncConnection, recipient_id: str, notification_id: str | None, now: datetime) -> int:
    """Mark one notification (or, with None, all) of the recipient read; reading twice keeps the first time."""
    condition = [notifications.c.recipient_id == recipient_id, notifications.c.read_at.is_(None)]
    if notification_id is not None:
        condition.append(notifications.c.notification_id == notification_id)
    return (await connection.execute(update(notifications).where(*condition).values(read_at=now))).rowcount


async def has_notification(connection: AsyncConnection, recipient_id: str, notification_id: str) -> bool:
    query = select(notifications.c.seq).where(
        notifications.c.recipient_id == recipient_id, notifications.c.notification_id == notification_id
    )
    return (await connection.execute(query)).first() is not None


def _as_json(row: Any) -> dict[str, Any]:
    return {
        "notification_id": row.notification_id,
        "recipient_id": row.recipient_id,
        "recipient_role": row.recipient_role,
        "kind": row.kind,
        "contract_ids": json.loads(row.contract_ids),
        "title": row.title,
        "body": row.body,
        "created_at": utc(row.created_at).isoformat(),
        "read": row.read_at is not None,
        "read_at": utc(row.read_at).isoformat() if row.read_at else None,
    }


def utc(moment: datetime | None) -> datetime | None:
    """SQLite hands datetimes back without their zone; everything stored here is UTC."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


# At the end, where `notifications` and `utc` exist: whoever opens `tables` gets the webhook tables too.
from services.notification import webhook_store  # noqa: E402, F401
