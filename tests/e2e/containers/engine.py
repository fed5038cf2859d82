"""The Docker side of the tests: whether an engine answers, which images are at hand, a Kafka container.

Images come from deploy/build-images.sh (contract-pause/kafka:<version>, contract-pause/postgres:bookworm,
contract-pause:local) or, where Docker Hub answers, apache/kafka and postgres as docker-compose.yml names
them. KAFKA_IMAGE, POSTGRES_IMAGE and SERVICE_IMAGE override both.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ops import kafka_local

REPO = Path(__file__).resolve().parents[3]
BUILD_HINT = "build them with deploy/build-images.sh"
SERVICE_IMAGE = os.environ.get("SERVICE_IMAGE", "contract-pause:local")
# Single node, as docker-compose.yml runs it: containers reach it as kafka:9092, the host on HOST.
CLUSTER_ID = "UxTBCqk_SkOe1wGyWebY2Q"
STARTED_LINE = "Kafka Server started"


def offline_kafka_image() -> str:
    return f"contract-pause/kafka:{kafka_local.kafka_version()}"


def hub_kafka_image() -> str:
    """The apache/kafka image docker-compose.yml falls back to."""
    compose = (REPO / "docker-compose.yml").read_text()
    return re.search(r"\$\{KAFKA_IMAGE:-([^}]+)\}", compose).group(1)


def _client(timeout: float = 5):  # noqa: ANN202
    import docker

    return docker.from_env(timeout=timeout)


def engine_problem() -> str | None:
    """None when a Docker engine answers; else why not, in a few words."""
    try:
        client = _client(timeout=2)
    except Exception as error:  # noqa: BLE001 — no socket, bad DOCKER_HOST, no docker package...
        return f"no Docker engine answers ({type(error).__name__})"
    try:
        client.ping()
        return None
    except Exception as error:  # noqa: BLE001
        return f"no Docker engine answers ({type(error).__name__})"
    finally:
        client.close()


def image_at_hand(name: str, *, pull: bool) -> bool:
    """The image is in the engine, or (with pull) could be pulled now."""
    import docker.errors

    client = _client(timeout=120)
    try:
        try:
            client.images.get(name)
            return True
        except docker.errors.ImageNotFound:
            pass
        if not pull:
            return False
        try:
            client.images.pull(name)
            return True
        except docker.errors.DockerException:
            return False
    finally:
        client.close()


def kafka_image(*, pull: bool = True) -> tuple[str | None, str]:
    """The Kafka image to run, and where it comes from; (None, why) when none can be had."""
    named = os.environ.get("KAFKA_IMAGE") or os.environ.get("CONTRACT_PAUSE_TEST_KAFKA_IMAGE")
    if named:
        if image_at_hand(named, pull=pull):
            return named, "from KAFKA_IMAGE"
        return None, f"KAFKA_IMAGE={named} is neither in the engine nor pullable"
    built, hub = offline_kafka_image(), hub_kafka_image()
    if image_at_hand(built, pull=False):
        return built, "built by deploy/build-images.sh"
    if image_at_hand(hub, pull=pull):
        return hub, "from Docker Hub"
    return None, f"neither {built} is built nor {hub} pullable ({BUILD_HINT})"


def postgres_image(*, pull: bool = True) -> tuple[str | None, str]:
    """docker-compose.yml's PostgreSQL image: POSTGRES_IMAGE, else deploy/build-images.sh's, else Docker Hub's."""
    named = os.environ.get("POSTGRES_IMAGE")
    if named:
        if image_at_hand(named, pull=pull):
            return named, "from POSTGRES_IMAGE"
        return None, f"POSTGRES_IMAGE={named} is neither in the engine nor pullable"
    built = "contract-pause/postgres:bookworm"
    hub = re.search(r"\$\{POSTGRES_IMAGE:-([^}]+)\}", (REPO / "docker-compose.yml").read_text()).group(1)
    if image_at_hand(built, pull=False):
        return built, "built by deploy/build-images.sh"
    if image_at_hand(hub, pull=pull):
        return hub, "from Docker Hub"
    return None, f"neither {built} is built nor {hub} pullable ({BUILD_HINT})"


def prepare_testcontainers() -> None:
    """Ryuk, testcontainers' reaper, is an image too: without it at hand, run without it (our fixtures
    remove what they start)."""
    from testcontainers.core.config import testcontainers_config

    if "TESTCONTAINERS_RYUK_DISABLED" not in os.environ and not image_at_hand(testcontainers_config.ryuk_image, pull=True):
        testcontainers_config.ryuk_disabled = True


@dataclass
class KafkaInDocker:
    container: object  # testcontainers DockerContainer
    host_port: int

    @property
    def bootstrap(self) -> str:
        """For clients on the host."""
        return f"127.0.0.1:{self.host_port}"

    internal_bootstrap = "kafka:9092"  # for containers on its network


@contextmanager
def kafka_container(image: str, network: object | None = None, timeout: float = 180) -> Iterator[KafkaInDocker]:
    """A single-node KRaft broker in a container, configured as docker-compose.yml configures it, with
    its host listener on a free 127.0.0.1 port; removed on exit."""
    from testcontainers.core.container import DockerContainer

    prepare_testcontainers()
    host_port = kafka_local.free_port()
    settings = {
        "CLUSTER_ID": CLUSTER_ID,
        "KAFKA_NODE_ID": "1",
        "KAFKA_PROCESS_ROLES": "broker,controller",
        # The host listener listens on the same port inside, so the advertised address works through the mapping.
        "KAFKA_LISTENERS": f"PLAINTEXT://:9092,CONTROLLER://:9093,HOST://:{host_port}",
        "KAFKA_ADVERTISED_LISTENERS": f"PLAINTEXT://kafka:9092,HOST://127.0.0.1:{host_port}",
        "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,HOST:PLAINTEXT",
        "KAFKA_INTER_BROKER_LISTENER_NAME": "PLAINTEXT",
        "KAFKA_CONTROLLER_LISTENER_NAMES": "CONTROLLER",
        "KAFKA_CONTROLLER_QUORUM_VOTERS": "1@localhost:9093",
        "KAFKA_LOG_DIRS": "/var/lib/kafka/data",
        "KAFKA_AUTO_CREATE_TOPICS_ENABLE": "false",
        "KAFKA_NUM_PARTITIONS": "6",
        "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR": "1",
        "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR": "1",
        "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR": "1",
        "KAFKA_SHARE_COORDINATOR_STATE_TOPIC_REPLICATION_FACTOR": "1",
        "KAFKA_SHARE_COORDINATOR_STATE_TOPIC_MIN_ISR": "1",
        "KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS": "0",
        "KAFKA_HEAP_OPTS": "-Xms256m -Xmx512m",
    }
    container = DockerContainer(image).with_envs(**settings)
    container.ports[f"{host_port}/tcp"] = ("127.0.0.1", host_port)
    if network is not None:
        container = container.with_network(network).with_network_aliases("kafka")
    container.start()
    try:
        _wait_until_started(container, timeout)
        broker = KafkaInDocker(container, host_port)
        _wait_until_answers(broker.bootstrap, timeout)
        yield broker
    finally:
        container.stop()


def _wait_until_started(container, timeout: float) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        wrapped = container.get_wrapped_container()
        wrapped.reload()
        stdout, stderr = container.get_logs()
        if STARTED_LINE.encode() in stdout + stderr:
            return
        if wrapped.status == "exited":
            raise AssertionError(f"the Kafka container exited:\n{(stdout + stderr).decode(errors='replace')[-3000:]}")
        time.sleep(0.5)
    raise AssertionError(f"the Kafka container did not log {STARTED_LINE!r} within {timeout:.0f}s")


def _wait_until_answers(bootstrap: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if kafka_local._describe_cluster_id(bootstrap, timeout=5) is not None:
                return
            problem = "no cluster id"
        except Exception as error:  # noqa: BLE001 — not up yet
            problem = f"{type(error).__name__}: {error}"
        if time.monotonic() > deadline:
            raise AssertionError(f"the Kafka container does not answer at {bootstrap} within {timeout:.0f}s ({problem})")
        time.sleep(0.5)


def skip_or_fail(reason: str) -> None:
    """Skip a container test, or fail it when CONTRACT_PAUSE_TEST_KAFKA=docker asked for containers."""
    import pytest

    if os.environ.get("CONTRACT_PAUSE_TEST_KAFKA", "").strip().lower() == "docker":
        pytest.fail(f"CONTRACT_PAUSE_TEST_KAFKA=docker, but {reason}")
    pytest.skip(reason)
