"""`docker compose up` as the README runs it, with contract-state scaled to two instances on the PostgreSQL
service: the stack comes up, every /health is green (both contract-state instances' too), `contract-pause
demo` plays the story against it, and `down -v` leaves no container, network or volume behind."""

import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest

from ops import kafka_local
from tests.e2e.containers.engine import REPO, postgres_image, skip_or_fail

pytestmark = pytest.mark.docker

# docker-compose.yml publishes these on the host (as `contract-pause run` assigns them).
KAFKA_PORT = 9092
HTTP_PORTS = {"billing-monitor": 8081, "contract-state": 8082, "notification": 8083, "time-tracking": 8084}
SCALED, INSTANCES = "contract-state", 2  # its instances take host ports from CONTRACT_STATE_PORTS, a range


def compose_command() -> list[str] | None:
    """Compose v2 (`docker compose`) when the plugin is there, else Compose 1.29 (`docker-compose`)."""
    if shutil.which("docker") and subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0:
        return ["docker", "compose"]
    return [shutil.which("docker-compose")] if shutil.which("docker-compose") else None


def contract_pause() -> list[str]:
    installed = Path(sys.executable).with_name("contract-pause")
    if installed.exists():
        return [str(installed)]
    return [sys.executable, "-c", "import sys; from ops.cli import main; sys.exit(main())"]


def test_compose_up_plays_the_demo_and_down_leaves_nothing(images: str) -> None:
    import docker

    compose = compose_command()
    if compose is None:
        skip_or_fail("neither `docker compose` nor `docker-compose` is installed")
    busy = [port for port in (KAFKA_PORT, *HTTP_PORTS.values()) if not kafka_local.port_is_free(port)]
    if busy:
        skip_or_fail(f"docker-compose.yml publishes ports {busy}, which are in use here")
    postgres, source = postgres_image()
    if postgres is None:
        skip_or_fail(source)
    project = f"contract-pause-test-{uuid.uuid4().hex[:6]}"
    env = {key: value for key, value in os.environ.items() if key != "KAFKA_BOOTSTRAP_SERVERS"}
    first = kafka_local.free_port()
    env |= {"KAFKA_IMAGE": images, "POSTGRES_IMAGE": postgres, "AUTH_JWT_SECRET": os.environ["AUTH_JWT_SECRET"],
            "CONTRACT_STATE_PORTS": f"{first}-{first + 9}"}
    base = [*compose, "--project-name", project, "--file", str(REPO / "docker-compose.yml")]

    def run(*arguments: str, timeout: float) -> subprocess.CompletedProcess:
        return subprocess.run([*base, *arguments], env=env, cwd=REPO, capture_output=True, text=True, timeout=timeout)

    try:
        # No --build: the images are those deploy/build-images.sh (or an earlier --build) made.
        up = run("up", "--detach", "--scale", f"{SCALED}={INSTANCES}", timeout=600)
        assert up.returncode == 0, up.stdout + up.stderr
        def logs() -> subprocess.CompletedProcess:
            return run("logs", "--tail=50", timeout=60)

        for name, port in HTTP_PORTS.items():
            if name != SCALED:
                _wait_until_healthy(name, f"http://127.0.0.1:{port}/health", logs)
        for index in range(1, INSTANCES + 1):
            published = run("port", f"--index={index}", SCALED, "8080", timeout=60).stdout.strip()
            assert published, f"{SCALED} #{index} publishes no port"
            _wait_until_healthy(f"{SCALED} #{index}", f"http://127.0.0.1:{published.rsplit(':', 1)[1]}/health", logs)
        demo = subprocess.run([*contract_pause(), "demo"], env=env, cwd=REPO, capture_output=True, text=True, timeout=300)
        assert demo.returncode == 0, demo.stdout[-4000:] + demo.stderr[-2000:]
        assert "Done in" in demo.stdout, demo.stdout[-4000:]
    finally:
        down = run("down", "--volumes", timeout=300)
    assert down.returncode == 0, down.stdout + down.stderr

    client = docker.from_env()
    try:
        label = {"label": f"com.docker.compose.project={project}"}
        left = {
            "containers": [c.name for c in client.containers.list(all=True, filters=label)],
            "networks": [n.name for n in client.networks.list(filters=label)],
            "volumes": [v.name for v in client.volumes.list(filters=label)],
        }
    finally:
        client.close()
    assert left == {"containers": [], "networks": [], "volumes": []}


def _wait_until_healthy(name: str, url: str, logs, timeout: float = 240) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            health = httpx.get(url, timeout=2)
            if health.status_code == 200 and all(health.json()["partitions_assigned"].values()):
                return
        except httpx.TransportError:
            pass
        time.sleep(1)
    shown = logs()
    raise AssertionError(f"{name}: {url} is not green after {timeout:.0f}s\n{shown.stdout[-4000:]}")
