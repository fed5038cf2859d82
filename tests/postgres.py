"""A real PostgreSQL server for the tests of the PostgreSQL store path.

`postgres_url` (session): TEST_POSTGRES_URL when set; otherwise a throwaway cluster this session
creates with the local server binaries (ops.postgres_local: on PATH, else in
/usr/lib/postgresql/<version>/bin) and stops at its end; otherwise the tests that ask for it skip, saying what is missing.
`postgres_database` (per test): a fresh, empty database on that server; its URL.

The user of TEST_POSTGRES_URL needs the right to create databases (CREATEDB).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
from sqlalchemy.engine import make_url

from ops.postgres_local import LocalPostgres, missing_reason, server_binaries


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """URL (postgresql://...) of a PostgreSQL server's maintenance database, for the whole session."""
    external = os.environ.get("TEST_POSTGRES_URL", "").strip()
    if external:
        yield external
        return
    if reason := missing_reason():
        pytest.skip(f"no PostgreSQL server for the PostgreSQL tests (TEST_POSTGRES_URL is unset): {reason}; "
                    "or set TEST_POSTGRES_URL=postgresql://user:password@host:port/db (a user allowed to create databases)")
    server = LocalPostgres(*server_binaries()).start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
async def postgres_database(postgres_url: str) -> AsyncIterator[str]:
    """A fresh database on the session's server, dropped after the test: its postgresql:// URL."""
    import asyncpg

    admin = make_url(postgres_url).set(drivername="postgresql")
    name = f"cp_test_{uuid.uuid4().hex[:12]}"
    connection = await asyncpg.connect(admin.render_as_string(hide_password=False))
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    yield admin.set(database=name).render_as_string(hide_password=False)
    connection = await asyncpg.connect(admin.render_as_string(hide_password=False))
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()
