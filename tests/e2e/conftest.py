"""The four services as separate processes on the real broker, as an operator runs them."""

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from ops import kafka_local
from ops.run import discover_services, display_name

REPO = Path(__file__).parents[2]


@dataclass
class RunningService:
    name: str
    port: int
    process: subprocess.Popen
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@dataclass
class System:
    bootstrap: str
    services: dict[str, RunningService]

    def diagnosis(self) -> str:
        """What each service says of itself: its health and the warnings of its log (CI keeps no logs)."""
        said = []
        for service in self.services.values():
            try:
                health = httpx.get(f"{service.url}/health", timeout=2).text
            except httpx.TransportError as error:
                health = f"no answer ({error!r})"
            warnings = [line for line in service.log.read_text(errors="replace").splitlines()
                        if '"level": "info"' not in line and '"level": "debug"' not in line]
            said.append(f"--- {service.name}: health {health}\n" + "\n".join(line[:300] for line in warnings[-40:]))
        return "\n".join(said)


@pytest.fixture(scope="module")
def system(registry_topics: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    """Every service under services/, each its own process with its own store and HTTP port.
    Module scope: they join the real consumer groups, so they must be gone before other tests
    start services of their own in those groups."""
    folder = tmp_path_factory.mktemp("system")
    services = {}
    for module in discover_services():
        name = display_name(module)
        port = kafka_local.free_port()
        log = folder / f"{name}.log"
        env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": registry_topics, "HTTP_PORT": str(port),
               "DATABASE_URL": f"sqlite:///{folder / name}.db", "LOG_FORMAT": "json", "PYTHONUNBUFFERED": "1"}
        process = subprocess.Popen([sys.executable, "-m", f"services.{module}"], env=env, cwd=REPO,
                                   stdout=log.open("wb"), stderr=subprocess.STDOUT,
                                   preexec_fn=kafka_local.die_with_parent())
        services[name] = RunningService(name, port, process, log)
    try:
        for service in services.values():
            _wait_until_ready(service)
        yield System(registry_topics, services)
    finally:
        for service in services.values():
            service.process.send_signal(signal.SIGTERM)
        for service in services.values():
            try:
                service.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                service.process.kill()


def _wait_until_ready(service: RunningService, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if service.process.poll() is not None:
            raise AssertionError(f"{service.name} exited: {service.log.read_text()[-3000:]}")
        try:
            health = httpx.get(f"{service.url}/health", timeout=2)
            # Ready, and every consumer of the service in its group: a story played sooner waits
            # out the group's rebalances (one per consumer joining) inside its own timeouts.
            if health.status_code == 200 and all(health.json()["partitions_assigned"].values()):
                return
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    raise AssertionError(f"{service.name} not ready after {timeout}s: {service.log.read_text()[-3000:]}")
