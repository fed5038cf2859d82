"""Schema migrations: a store's tables change through an Alembic history, run when the service starts.

Each service keeps its own history (`services/<service>/migrations`) and its own version table:
`env.py` names the table and hands over to `run_history`, `versions/` holds the revisions. The first
revision adopts a store made by create_all before there were histories: it creates only the tables
missing. Revisions are frozen: a change to the tables is a new revision, never an edit of an old one
(change the MetaData, add `versions/<next number>_<what>.py` with `revision`, `down_revision` and
`upgrade()`; tests/integration/shared/test_migrations.py checks that every history ends at its MetaData).

Instances may start at once on one store. On PostgreSQL the upgrade waits for a session-level
advisory lock, so the second instance finds the work done (two concurrent CREATE TABLEs of one
name collide in pg_type); on SQLite it runs in one exclusive transaction.
"""

import asyncio
import weakref
from collections.abc import Sequence
from pathlib import Path

from alembic import command, context
from alembic.config import Config
from sqlalchemy import Connection, MetaData, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from shared.topics import Topic

# The history of a store with no tables of its own (the tests' services): the inbox and outbox.
MECHANISM_ONLY = Path(__file__).with_name("mechanism_only")

_LOCK = "contract-pause schema migrations"

# Alembic's `context` and `op` are process-wide: two upgrades in one event loop (services started
# together, as tests do) would interleave at every query and run on each other's connection.
_upgrading: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = weakref.WeakKeyDictionary()


def history_of(tables: Sequence[MetaData]) -> Path:
    """The history a service's tables name (`MetaData(info={"migrations": folder})`)."""
    return next((metadata.info["migrations"] for metadata in tables if "migrations" in metadata.info), MECHANISM_ONLY)


async def upgrade(engine: AsyncEngine, history: Path, consumed: Sequence[Topic]) -> None:
    """Bring the store to the newest revision of `history`; `consumed` are the topics whose ids the inbox records."""
    config = Config()
    config.set_main_option("script_location", str(history))
    config.attributes["consumed"] = [topic.name for topic in consumed]
    one_at_a_time = _upgrading.setdefault(asyncio.get_running_loop(), asyncio.Lock())
    async with one_at_a_time, engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            await _upgrade_under_lock(connection, config)
        else:
            await _upgrade_exclusively(connection, config)


async def _upgrade_under_lock(connection: AsyncConnection, config: Config) -> None:
    lock = {"name": _LOCK}
    await connection.execute(text("SELECT pg_advisory_lock(hashtext(:name))"), lock)
    await connection.commit()
    try:
        async with connection.begin():
            await connection.run_sync(_run, config)
    finally:
        await connection.execute(text("SELECT pg_advisory_unlock(hashtext(:name))"), lock)
        await connection.commit()


async def _upgrade_exclusively(connection: AsyncConnection, config: Config) -> None:
    async with connection.begin():
        # The SQLite driver would begin only at the first INSERT, after the DDL had committed alone.
        await connection.exec_driver_sql("BEGIN EXCLUSIVE")
        await connection.run_sync(_run, config)


def _run(connection: Connection, config: Config) -> None:
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


def run_history(version_table: str) -> None:
    """What every history's env.py does: migrate on `upgrade`'s connection, inside its transaction."""
    context.configure(connection=context.config.attributes["connection"], version_table=version_table)
    with context.begin_transaction():
        context.run_migrations()
