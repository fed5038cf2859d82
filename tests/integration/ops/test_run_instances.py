"""`contract-pause run --instances 2` on the test broker (KAFKA_BOOTSTRAP_SERVERS: run starts none):
a throwaway PostgreSQL with one database per service, two processes of every service each on its own
port, all healthy and holding partitions of their topics (the two of a service share them out in one
consumer group); SIGTERM stops everything and leaves no process and no cluster behind."""

import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from ops import kafka_local, postgres_local
from ops.run import assigned_http_ports

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(postgres_local.missing_reason() is not None,
                       reason=f"run --instances needs a PostgreSQL server: {postgres_local.missing_reason()}"),
]
INSTANCES = 2
STARTUP_TIMEOUT = 180.0


def _free_block(size: int) -> int:
    """A first port from which `size` ports in a row are free, below the kernel's ephemeral range:
    a block inside it was taken meanwhile by an outgoing connection of the run (a Kafka or database
    client), and a service failed to bind ("address already in use", seen once in CI)."""
    ephemeral_from = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    picks = random.Random()
    for _ in range(50):
        first = picks.randrange(10_000, ephemeral_from - size)
        if all(kafka_local.port_is_free(first + offset) for offset in range(size)):
            return first
    raise RuntimeError(f"no {size} free ports in a row")


def test_two_instances_of_every_service_come_up_healthy_on_postgresql_and_stop_cleanly(registry_topics, tmp_path):
    services = len(assigned_http_ports())
    first_port = _free_block(services * INSTANCES)
    # The run's own ports would be 8081...: the same layout, moved to ports free here.
    start = (f"import sys, ops.run; ops.run.FIRST_HTTP_PORT = {first_port}; from ops.cli import main; "
             f"sys.exit(main(['run', '--instances', '{INSTANCES}']))")
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": registry_topics, "PYTHONUNBUFFERED": "1", "NO_COLOR": "1"}
    env.pop("DATABASE_URL", None)
    output = tmp_path / "run.log"
    with output.open("wb") as log:
        run = subprocess.Popen([sys.executable, "-c", start], env=env, stdout=log, stderr=subprocess.STDOUT,
                               preexec_fn=kafka_local.die_with_parent())
    try:
        ports = {name: first_port + port - 8081 for name, port in assigned_http_ports(instances=INSTANCES).items()}
        assert len(ports) == services * INSTANCES and "contract-state#2" in ports
        _wait_until_all_healthy(ports, run, output)
        said = output.read_text()
        assert "service stores: PostgreSQL 127.0.0.1" in said, said[-3000:]
        server_pid = int(re.search(r"PostgreSQL ready at .* \(pid (\d+)\)", said)[1])
        cluster = Path(_cluster_dir(server_pid))
        children = _children(run.pid)
        assert server_pid in children and len(children) == len(ports) + 1, (children, said[-3000:])
    finally:
        run.send_signal(signal.SIGTERM)
        try:
            code = run.wait(timeout=90)
        except subprocess.TimeoutExpired:
            run.kill()
            raise
    said = output.read_text()
    assert code == 0, said[-3000:]
    assert said.rstrip().endswith("PostgreSQL stopped, its cluster removed"), said[-3000:]
    left = [pid for pid in children if kafka_local.pid_alive(pid)]
    assert left == [], f"still running: {left}"
    assert not cluster.exists(), "the throwaway cluster was left on disk"
    assert all(kafka_local.port_is_free(port) for port in ports.values())


def _wait_until_all_healthy(ports: dict[str, int], run: subprocess.Popen, output: Path) -> None:
    """Every instance ready, and holding partitions of every topic it consumes."""
    deadline = time.monotonic() + STARTUP_TIMEOUT
    waiting = dict(ports)
    while waiting and time.monotonic() < deadline:
        assert run.poll() is None, f"run exited with {run.returncode}:\n{output.read_text()[-4000:]}"
        for name, port in list(waiting.items()):
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/health", timeout=2)
            except httpx.TransportError:
                continue
            if health.status_code == 200 and all(health.json()["partitions_assigned"].values()):
                del waiting[name]
        time.sleep(1)
    assert not waiting, f"not healthy after {STARTUP_TIMEOUT:.0f} s: {sorted(waiting)}\n{output.read_text()[-4000:]}"


def _children(parent: int) -> list[int]:
    """The processes whose parent is `parent` (the instances and the PostgreSQL server, for run)."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == parent:
            children.append(int(stat.parent.name))
    return children


def _cluster_dir(server_pid: int) -> str:
    """The data directory's parent, from the server's command line (-D <workdir>/data)."""
    argv = Path(f"/proc/{server_pid}/cmdline").read_bytes().split(b"\0")
    return os.path.dirname(argv[argv.index(b"-D") + 1].decode())
