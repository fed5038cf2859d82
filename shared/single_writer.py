"""One process per SQLite store: a second instance on the same file is refused at start.

SQLite takes one writer, and a service's instances would share its inbox, state and outbox through
it; several instances of a service need PostgreSQL. The guard is an exclusive lock on `<db>.lock`,
held for the life of the process (the kernel lets go of it when the process ends, however it ends).
"""

import fcntl
import os
import sys
from pathlib import Path

from sqlalchemy.engine import make_url

_held: list[int] = []  # the open lock files: closing one would let go of its lock


def sqlite_file(store_url: str) -> Path | None:
    """The file of a SQLite store URL; None for PostgreSQL or an in-memory database."""
    url = make_url(store_url)
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return Path(url.database)


def claim_sqlite_store(service_name: str, store_url: str) -> None:
    """Take the store's lock before anything touches it, or exit with one line (code 2, a configuration error)."""
    database = sqlite_file(store_url)
    if database is None:
        return
    database.parent.mkdir(parents=True, exist_ok=True)
    lock = os.open(f"{database}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(lock)
        print(f"{service_name}: configuration error: another process (another {service_name} instance?) already "
              f"uses the SQLite store {database}, and SQLite takes one writer; run one instance per SQLite file, or "
              "set DATABASE_URL=postgresql://user:password@host/db (one database per service) to run several",
              file=sys.stderr)
        raise SystemExit(2) from None
    _held.append(lock)
