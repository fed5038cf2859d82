"""A throwaway PostgreSQL cluster from the local server binaries (`initdb`, `postgres`).

Used by `contract-pause run --instances N` (several instances of a service need a store that takes
several writers) and by the tests of the PostgreSQL store path (tests/postgres.py).

    server = LocalPostgres(*server_binaries()).start()
    asyncio.run(create_databases(server.url, ["contract_state"]))
    use(server.database_url("contract_state"))
    server.stop()

The binaries are found on PATH, else in Debian's /usr/lib/postgresql/<version>/bin (the newest),
where `apt-get install postgresql` puts them without linking them onto PATH. The cluster lives in a
temp dir that stop() removes; the server is a child of this process and dies with it.
"""

from __future__ import annotations

import glob
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path

from ops.kafka_local import die_with_parent, free_port

OS_USER = "postgres"  # the server refuses to run as root
READY_TIMEOUT = 60.0
DEBIAN_BIN_DIRS = "/usr/lib/postgresql/*/bin"
INSTALL_HINT = "install the server: apt-get install postgresql (Debian/Ubuntu)"


def server_binaries() -> tuple[str, str] | None:
    """(initdb, postgres): from PATH, else from the newest /usr/lib/postgresql/<version>/bin."""
    initdb, postgres = shutil.which("initdb"), shutil.which("postgres")
    if initdb and postgres:
        return initdb, postgres
    for directory in sorted(glob.glob(DEBIAN_BIN_DIRS), key=_version_key, reverse=True):
        initdb, postgres = os.path.join(directory, "initdb"), os.path.join(directory, "postgres")
        if os.access(initdb, os.X_OK) and os.access(postgres, os.X_OK):
            return initdb, postgres
    return None


def _version_key(directory: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", Path(directory).parent.name))


def missing_reason() -> str | None:
    """Why no throwaway cluster can start here (one line, with the fix), or None."""
    if server_binaries() is None:
        return f"no PostgreSQL server (initdb, postgres) on PATH or in {DEBIAN_BIN_DIRS}; {INSTALL_HINT}"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(OS_USER)
        except KeyError:
            return (f"running as root and there is no {OS_USER!r} OS user to run the PostgreSQL server as; "
                    f"create it, or {INSTALL_HINT} (which does)")
    return None


class LocalPostgres:
    """A throwaway PostgreSQL cluster in a temp dir, the server a child of this process."""

    def __init__(self, initdb: str, postgres: str, max_connections: int = 200) -> None:
        self.initdb, self.postgres = initdb, postgres
        self.max_connections = max_connections
        self.workdir = Path(tempfile.mkdtemp(prefix="cp-pg-"))
        self.datadir = self.workdir / "data"
        self.log = self.workdir / "server.log"
        self.port = free_port()
        self.process: subprocess.Popen | None = None
        self._as_root = os.geteuid() == 0

    @property
    def url(self) -> str:
        """The maintenance database, as user postgres (trusted on 127.0.0.1, no password)."""
        return self.database_url("postgres")

    def database_url(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def is_running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self) -> LocalPostgres:
        if self._as_root:
            user = pwd.getpwnam(OS_USER)
            os.chown(self.workdir, user.pw_uid, user.pw_gid)
        initdb = [self.initdb, "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync", "-D", str(self.datadir)]
        if self._as_root:
            initdb = ["runuser", "-u", OS_USER, "--", *initdb]
        done = subprocess.run(initdb, capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            self.stop()
            raise RuntimeError(f"initdb failed ({done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
        argv = [self.postgres, "-D", str(self.datadir), "-p", str(self.port), "-k", str(self.workdir),
                "-h", "127.0.0.1", "-c", "fsync=off", "-c", f"max_connections={self.max_connections}"]
        with open(self.log, "wb") as log:
            # Not through runuser: the server itself must be our child, so that PR_SET_PDEATHSIG
            # (set after the uid change, which would clear it) stops it if this process dies.
            self.process = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                user=OS_USER if self._as_root else None, group=OS_USER if self._as_root else None,
                extra_groups=[] if self._as_root else None, preexec_fn=die_with_parent(),
                start_new_session=True,  # Ctrl-C in a terminal reaches the caller, which stops us in order
            )
        try:
            self._wait_until_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"postgres exited ({self.process.returncode}):\n{self.log_tail()}")
            if b"ready to accept connections" in self.log.read_bytes():
                try:
                    with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                        return
                except OSError:
                    pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"postgres not ready within {READY_TIMEOUT}s:\n{self.log_tail()}")
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

    def log_tail(self) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-30:])
        except OSError:
            return "(no server log)"


async def create_databases(server_url: str, names: Iterable[str]) -> list[str]:
    """Create the databases that do not exist yet on the server (its user needs CREATEDB); the ones created."""
    import asyncpg
    from sqlalchemy.engine import make_url

    admin = make_url(server_url).set(drivername="postgresql").render_as_string(hide_password=False)
    connection = await asyncpg.connect(admin)
    created = []
    try:
        for name in names:
            if not await connection.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
                await connection.execute(f'CREATE DATABASE "{name}"')
                created.append(name)
    finally:
        await connection.close()
    return created
