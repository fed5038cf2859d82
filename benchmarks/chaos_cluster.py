"""The processes of a chaos run (benchmarks.chaos): service instances that can be killed and started
again, the databases they share, and whether the system has drained."""

import asyncio
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx

from benchmarks.common import REPO, free_port
from ops.kafka_local import die_with_parent
from ops.postgres_local import LocalPostgres, missing_reason, server_binaries
from shared.metrics import group_lag
from shared.topics import SERVICES, consumed_by

READY_TIMEOUT = 120.0


class Instance:
    """One process of one service; started again after each kill, on a port of its own."""

    def __init__(self, service: str, number: int, environment: dict[str, str], logs: Path) -> None:
        self.service, self.number = service, number
        self.environment = environment
        self.log = logs / f"{service}-{number}.log"
        self.process: subprocess.Popen | None = None
        self.port = 0
        self.killed = False  # by us, since the last start

    @property
    def name(self) -> str:
        return f"{self.service}#{self.number}"

    def start(self) -> None:
        self.port, self.killed = free_port(), False
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", f"services.{self.service.replace('-', '_')}"], cwd=REPO,
                env={**self.environment, "HTTP_PORT": str(self.port)}, stdout=log, stderr=subprocess.STDOUT,
                preexec_fn=die_with_parent(),
            )

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        if self.alive():
            self.killed = True
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def exited_by_itself(self) -> bool:
        return self.process is not None and self.process.poll() is not None and not self.killed

    def stop(self) -> None:
        if self.alive():
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@contextlib.contextmanager
def databases(store: str, instances: int, folder: Path) -> Iterator[Callable[[str], str]]:
    """Per service, the DATABASE_URL its instances share."""
    if store == "sqlite":
        if instances != 1:
            raise SystemExit("SQLite is one process's store: --store sqlite runs --instances 1")
        yield lambda service: f"sqlite:///{folder / service}.db"
        return
    external = os.environ.get("TEST_POSTGRES_URL", "").strip()
    server = None
    if not external:
        if reason := missing_reason():
            raise SystemExit(f"{reason}; or set TEST_POSTGRES_URL")
        server = LocalPostgres(*server_binaries()).start()
    admin = external or server.url
    names = {service: f"cp_chaos_{service.replace('-', '_')}_{uuid.uuid4().hex[:6]}" for service in SERVICES}
    try:
        asyncio.run(_postgres(admin, [f'CREATE DATABASE "{name}"' for name in names.values()]))
        base = admin.rsplit("/", 1)[0]
        yield lambda service: f"{base}/{names[service]}"
    finally:
        if server is not None:
            server.stop()
        else:
            asyncio.run(_postgres(admin, [f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)' for name in names.values()]))


async def _postgres(url: str, statements: list[str]) -> None:
    import asyncpg

    connection = await asyncpg.connect(url)
    try:
        for statement in statements:
            await connection.execute(statement)
    finally:
        await connection.close()


async def healthy(instances: list[Instance], timeout: float = READY_TIMEOUT) -> None:
    if late := await unhealthy(instances, timeout):
        raise TimeoutError(f"{', '.join(i.name for i in late)} not healthy within {timeout:.0f} s; "
                           f"see {late[0].log}: {last_line(late[0].log)}")


async def unhealthy(instances: list[Instance], timeout: float = READY_TIMEOUT) -> list[Instance]:
    """The instances whose /health did not answer 200 within `timeout` (an exited one never does)."""
    deadline = time.monotonic() + timeout
    waiting = list(instances)
    async with httpx.AsyncClient(timeout=3) as http:
        while waiting and time.monotonic() < deadline:
            for instance in list(waiting):
                with contextlib.suppress(httpx.HTTPError):
                    if (await http.get(f"http://127.0.0.1:{instance.port}/health")).status_code == 200:
                        waiting.remove(instance)
            await asyncio.sleep(0.3)
    return waiting


async def outbox_figures(http: httpx.AsyncClient, instance: Instance) -> dict[str, float] | None:
    """The instance's outbox backlog and parked rows from its /metrics; None when it does not answer."""
    try:
        text = (await http.get(f"http://127.0.0.1:{instance.port}/metrics")).text
    except httpx.HTTPError:
        return None
    figures = {}
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if name in ("contract_pause_outbox_backlog", "contract_pause_outbox_parked"):
            figures[name.rsplit("_", 1)[1]] = float(value)
    return figures if len(figures) == 2 else None


async def drained(bootstrap: str, instances: list[Instance], http: httpx.AsyncClient) -> dict[str, float] | None:
    """Every group's lag 0, then every outbox empty; the instances' parked rows, or None when not drained."""
    for service in SERVICES:
        lag = await group_lag(bootstrap, service, [topic.name for topic in consumed_by(service)])
        if sum(lag.values()):
            return None
    parked = {}
    for instance in instances:
        figures = await outbox_figures(http, instance)
        if figures is None or figures["backlog"]:
            return None
        parked[instance.name] = figures["parked"]
    return parked


def last_line(log: Path) -> str:
    """The last thing an instance logged (the message of a JSON line, without its traceback)."""
    lines = log.read_text(errors="replace").strip().splitlines()
    if not lines:
        return "(empty log)"
    for line in reversed(lines[-60:]):  # a traceback printed as it is ends with what was raised
        if re.match(r"[\w.]+(Error|Exception|Exit)\b", line):
            return line[:300]
    with contextlib.suppress(ValueError, AttributeError):
        return str(json.loads(lines[-1]).get("event", lines[-1])).splitlines()[0][:300]
    return lines[-1][:300]

