"""Suite-wide fixtures: one real Kafka broker per session, started only if a test asks for it.

The broker is, in order of preference: the one named by KAFKA_BOOTSTRAP_SERVERS;
a testcontainers Kafka when a Docker engine answers; otherwise a local JVM broker
(ops.kafka_local). The header of every run says which one.
"""

from __future__ import annotations

import itertools
import os
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from ops import kafka_local
from tests.support import TEST_JWT_SECRET

# Every service built in a test serves its API with this development key (tests mint tokens with it).
os.environ.setdefault("AUTH_JWT_SECRET", TEST_JWT_SECRET)

# Confluent's image: testcontainers' KafkaContainer drives Confluent's start scripts.
TESTCONTAINERS_KAFKA_IMAGE = os.environ.get("CONTRACT_PAUSE_TEST_KAFKA_IMAGE", "confluentinc/cp-kafka:7.9.0")


@dataclass(frozen=True)
class BrokerChoice:
    kind: str  # "external", "testcontainers" or "local"
    description: str


def _docker_engine_answers() -> bool:
    try:
        import docker

        client = docker.from_env(timeout=2)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:
        return False


def _choose_broker() -> BrokerChoice:
    external = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "").strip()
    if external:
        return BrokerChoice("external", f"{external} (from KAFKA_BOOTSTRAP_SERVERS)")
    if _docker_engine_answers():
        return BrokerChoice(
            "testcontainers",
            f"testcontainers {TESTCONTAINERS_KAFKA_IMAGE} (KRaft) — KAFKA_BOOTSTRAP_SERVERS unset, Docker engine answered",
        )
    return BrokerChoice(
        "local",
        f"local JVM (Apache Kafka {kafka_local.kafka_version()}, KRaft) — KAFKA_BOOTSTRAP_SERVERS unset, no Docker engine",
    )


_broker_choice_key = pytest.StashKey[BrokerChoice]()


def broker_choice(config: pytest.Config) -> BrokerChoice:
    if _broker_choice_key not in config.stash:
        config.stash[_broker_choice_key] = _choose_broker()
    return config.stash[_broker_choice_key]


def pytest_report_header(config: pytest.Config) -> str:
    return f"kafka broker: {broker_choice(config).description}"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Anything that needs the broker carries the `kafka` marker, so `-m "not kafka"` works.
    for item in items:
        if "kafka_bootstrap" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.kafka)


@pytest.fixture(scope="session")
def kafka_bootstrap(request: pytest.FixtureRequest) -> Iterator[str]:
    """Bootstrap servers ("host:port") of a real Kafka broker shared by the whole session."""
    choice = broker_choice(request.config)
    if choice.kind == "external":
        yield os.environ["KAFKA_BOOTSTRAP_SERVERS"].strip()
    elif choice.kind == "testcontainers":
        try:
            from testcontainers.community.kafka import KafkaContainer
        except ImportError:
            from testcontainers.kafka import KafkaContainer
        container = (
            KafkaContainer(TESTCONTAINERS_KAFKA_IMAGE)
            .with_kraft()
            .with_env("KAFKA_AUTO_CREATE_TOPICS_ENABLE", "false")
            .with_env("KAFKA_NUM_PARTITIONS", "6")
            .with_env("KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR", "1")
            .with_env("KAFKA_TRANSACTION_STATE_LOG_MIN_ISR", "1")
        )
        with container:
            yield container.get_bootstrap_server()
    else:
        with kafka_local.LocalKafka() as broker:
            yield broker.bootstrap_servers


@pytest.fixture(scope="session")
async def registry_topics(kafka_bootstrap: str) -> str:
    """Every topic of the registry exists (idempotent); returns the bootstrap servers."""
    from shared.topics import ensure_topics

    await ensure_topics(kafka_bootstrap)
    return kafka_bootstrap


@pytest.fixture
def unique_name(request: pytest.FixtureRequest) -> Callable[[str], str]:
    """A function making topic / group names unique to this test: unique_name("orders") -> "orders-test-x-1-3fa2c1"."""
    test_slug = re.sub(r"[^a-zA-Z0-9._-]+", "-", request.node.name).strip("-")[:60]
    counter = itertools.count(1)

    def make(prefix: str = "t") -> str:
        return f"{prefix}-{test_slug}-{next(counter)}-{uuid.uuid4().hex[:6]}"

    return make


@pytest.hookimpl(wrapper=True, trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> Iterator[None]:
    # trylast wrapper: runs after pytest has torn down the session fixtures (brokers included).
    yield
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")

    def say(message: str, **markup: bool) -> None:
        if reporter is not None:
            reporter.write_line(message, **markup)
        else:
            print(message)

    ours = kafka_local.find_stray_brokers(owner_pid=os.getpid(), include_descendants=True)
    orphans = [
        pid for pid in kafka_local.find_stray_brokers()
        if pid not in ours and not _owner_alive(kafka_local.broker_owner(pid))
    ]
    if orphans:
        say(f"kafka broker JVMs left by dead processes, killed: {orphans}", yellow=True)
        kafka_local.kill_brokers(orphans)
    if ours:
        kafka_local.kill_brokers(ours)
        say(
            f"ERROR: {len(ours)} Kafka broker JVM(s) started by this test session were still "
            f"running after teardown (pids {ours}); killed them. A fixture or test does not stop "
            "the LocalKafka it starts.",
            red=True, bold=True,
        )
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def _owner_alive(pid: int | None) -> bool:
    return pid is not None and kafka_local.pid_alive(pid)
