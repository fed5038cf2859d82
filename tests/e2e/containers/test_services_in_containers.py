"""The broker and the four services each in a container from deploy/Dockerfile, on one Docker network,
as docker-compose.yml runs them; the story is played from the host through the published ports."""

import os
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest

from ops import kafka_local
from ops.demo import play
from ops.run import discover_services, display_name
from shared.topics import ensure_topics
from tests.e2e.containers.engine import SERVICE_IMAGE, kafka_container
from tests.e2e.containers.story import check_story

pytestmark = pytest.mark.docker


@dataclass
class ContainerizedSystem:
    bootstrap: str  # the broker's listener for the host
    urls: dict[str, str]  # service name -> its HTTP port on the host


@pytest.fixture(scope="module")
async def containerized_system(images: str) -> AsyncIterator[ContainerizedSystem]:
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.network import Network

    with Network() as network, kafka_container(images, network=network) as broker:
        await ensure_topics(broker.bootstrap)
        started: dict[str, tuple[DockerContainer, int]] = {}
        try:
            for module in discover_services():
                name, port = display_name(module), kafka_local.free_port()
                service = (
                    DockerContainer(SERVICE_IMAGE)
                    .with_command(["python", "-m", f"services.{module}"])
                    .with_envs(KAFKA_BOOTSTRAP_SERVERS=broker.internal_bootstrap, HTTP_HOST="0.0.0.0", HTTP_PORT="8080",
                               AUTH_JWT_SECRET=os.environ["AUTH_JWT_SECRET"], LOG_FORMAT="json",
                               DATABASE_URL=f"sqlite+aiosqlite:////data/{name}.db")
                    .with_network(network)
                )
                service.ports["8080/tcp"] = ("127.0.0.1", port)
                started[name] = (service.start(), port)
            for name, (service, port) in started.items():
                _wait_until_healthy(name, service, f"http://127.0.0.1:{port}")
            yield ContainerizedSystem(broker.bootstrap, {name: f"http://127.0.0.1:{port}" for name, (_, port) in started.items()})
        finally:
            for service, _port in started.values():
                service.stop()


def _wait_until_healthy(name: str, service, url: str, timeout: float = 180) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            health = httpx.get(f"{url}/health", timeout=2)
            if health.status_code == 200 and all(health.json()["partitions_assigned"].values()):
                return
        except httpx.TransportError:
            pass
        wrapped = service.get_wrapped_container()
        wrapped.reload()
        if wrapped.status == "exited":
            break
        time.sleep(0.5)
    stdout, stderr = service.get_logs()
    raise AssertionError(f"{name} in its container is not healthy:\n{(stdout + stderr).decode(errors='replace')[-3000:]}")


async def test_the_pause_story_plays_out_with_every_service_in_a_container(containerized_system):
    async with httpx.AsyncClient(timeout=5) as http:
        for name, url in containerized_system.urls.items():
            health = await http.get(f"{url}/health")
            assert health.json()["status"] == "ready" and health.json()["kafka"] and health.json()["store"], name
    lines: list[str] = []
    timeline = await play(containerized_system.bootstrap, say=lines.append,
                          notification_url=containerized_system.urls["notification"])
    check_story(timeline, lines)
