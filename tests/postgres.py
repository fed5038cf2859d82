"""A real PostgreSQL server for the tests of the PostgreSQL store path.

`postgres_url` (session): TEST_POSTGRES_URL when set; otherwise a throwaway cluster this session
creates with the local server binaries (`initdb`, `postgres` on PATH) and stops at its end;
otherwise the tests that ask for it skip, saying what is missing.
`postgres_database` (per test): a fresh, empty database on that server; its URL.

The user of TEST_POSTGRES_URL needs the right to create databases (CREATEDB).
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from ops.kafka_local import die_with_parent

OS_USER = "postgres"  # the server refuses to run as root
READY_TIMEOUT = 60.0


class LocalPostgres:
    """A throwaway PostgreSQL cluster in a temp dir, the server a child of this process."""

    def __init__(self, initdb: str, postgres: str) -> None:
        self.initdb, self.postgres = initdb, postgres
        self.workdir = Path(tempfile.mkdtemp(prefix="cp-pg-"))
        self.datadir = self.workdir / "data"
        self.log = self.workdir / "server.log"
        self.port = _free_port()
        self.process: subprocess.Popen | None = None
        self._as_root = os.geteuid() == 0

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        if self._as_root:
            user = pwd.getpwnam(OS_USER)
            os.chown(self.workdir, user.pw_uid, user.pw_gid)
        initdb = [self.initdb, "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync", "-D", str(self.datadir)]
        if self._as_root:
            initdb = ["runuser", "-u", OS_USER, "--", *initdb]
        done = subprocess.run(initdb, capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"initdb failed ({done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
        argv = [self.postgres, "-D", str(self.datadir), "-p", str(self.port), "-k", str(self.workdir),
                "-h", "127.0.0.1", "-c", "fsync=off", "-c", "max_connections=200"]
        with open(self.log, "wb") as log:
            # Not through runuser: the server itself must be our child, so that PR_SET_PDEATHSIG
            # (set after the uid change, which would clear it) stops it if this process dies.
            self.process = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                user=OS_USER if self._as_root else None, group=OS_USER if self._as_root else None,
                extra_groups=[] if self._as_root else None, preexec_fn=die_with_parent(),
            )
        try:
            self._wait_until_ready()
        except BaseException:
            self.stop()
            raise

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"postgres exited ({self.process.returncode}):\n{self._log_tail()}")
            if b"ready to accept connections" in self.log.read_bytes():
                try:
                    with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                        return
                except OSError:
                    pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"postgres not ready within {READY_TIMEOUT}s:\n{self._log_tail()}")
            time.sleep(0.1)

    def stop(self) -> None:
        """Fast shutdown (SIGINT: disconnects clients), then immediate (SIGQUIT), then SIGKILL."""
        process, self.process = self.process, None
        try:
            if process is not None and process.poll() is None:
                for sig, grace in ((signal.SIGINT, 20), (signal.SIGQUIT, 10), (signal.SIGKILL, 10)):
                    process.send_signal(sig)
                    try:
                        process.wait(timeout=grace)
                        break
                    except subprocess.TimeoutExpired:
                        continue
        finally:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def _log_tail(self) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-30:])
        except OSError:
            return "(no server log)"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _missing_reason() -> str | None:
    missing = [name for name in ("initdb", "postgres") if shutil.which(name) is None]
    if missing:
        return (f"no PostgreSQL server for the PostgreSQL tests: TEST_POSTGRES_URL is unset and "
                f"{' and '.join(missing)} not found on PATH; set TEST_POSTGRES_URL=postgresql://user:password@host:port/db "
                "(a user allowed to create databases) or install the PostgreSQL server binaries")
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(OS_USER)
        except KeyError:
            return (f"no PostgreSQL server for the PostgreSQL tests: running as root and there is no "
                    f"{OS_USER!r} OS user to run initdb/postgres as; set TEST_POSTGRES_URL or create that user")
    return None


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """URL (postgresql://...) of a PostgreSQL server's maintenance database, for the whole session."""
    external = os.environ.get("TEST_POSTGRES_URL", "").strip()
    if external:
        yield external
        return
    if reason := _missing_reason():
        pytest.skip(reason)
    server = LocalPostgres(shutil.which("initdb"), shutil.which("postgres"))
    server.start()
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
