"""Suite-wide fixtures: one real Kafka broker per session, started only if a test asks for it.

CONTRACT_PAUSE_TEST_KAFKA chooses the broker: `external` (KAFKA_BOOTSTRAP_SERVERS), `docker`
(a testcontainers Kafka: the image deploy/build-images.sh builds, or apache/kafka) or `jvm` (a local
broker from the Maven jars, ops.kafka_local). Unset: KAFKA_BOOTSTRAP_SERVERS if set, else docker when
an engine answers and a Kafka image can be had, else jvm, with one line saying why when Docker answered.
The header of every run says which one.
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

BROKER_VARIABLE = "CONTRACT_PAUSE_TEST_KAFKA"
BROKER_KINDS = ("jvm", "docker", "external")


@dataclass(frozen=True)
class BrokerChoice:
    kind: str  # one of BROKER_KINDS
    description: str
    image: str | None = None  # docker: the Kafka image
    fallback: str | None = None  # unset choice, Docker answered, yet jvm: why


def _choose_broker() -> BrokerChoice:
    requested = os.environ.get(BROKER_VARIABLE, "").strip().lower()
    external = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "").strip()
    if requested not in ("", *BROKER_KINDS):
        raise pytest.UsageError(f"{BROKER_VARIABLE}={requested}: choose one of {', '.join(BROKER_KINDS)} (or leave it unset)")
    if requested == "external" or (not requested and external):
        if not external:
            raise pytest.UsageError(f"{BROKER_VARIABLE}=external needs KAFKA_BOOTSTRAP_SERVERS (host:port[,host:port])")
        return BrokerChoice("external", f"{external} (from KAFKA_BOOTSTRAP_SERVERS)")
    jvm = f"local JVM (Apache Kafka {kafka_local.kafka_version()}, KRaft)"
    if requested == "jvm":
        return BrokerChoice("jvm", f"{jvm} — {BROKER_VARIABLE}=jvm")

    from tests.e2e.containers import engine

    problem = engine.engine_problem()
    if problem is None:
        image, source = engine.kafka_image()
        if image is None:
            problem = source
    if requested == "docker":
        if problem is not None:
            raise pytest.UsageError(f"{BROKER_VARIABLE}=docker, but {problem}")
        return BrokerChoice("docker", f"testcontainers {image} ({source}, KRaft) — {BROKER_VARIABLE}=docker", image)
    if problem is None:
        return BrokerChoice("docker", f"testcontainers {image} ({source}, KRaft) — {BROKER_VARIABLE} unset, "
                            "Docker engine answered", image)
    if problem.startswith("no Docker engine"):
        return BrokerChoice("jvm", f"{jvm} — {BROKER_VARIABLE} unset, no Docker engine")
    return BrokerChoice("jvm", f"{jvm} — {BROKER_VARIABLE} unset, Docker engine answered but no Kafka image",
                        fallback=f"Docker answers, but {problem}: the tests use a local JVM broker instead "
                                 f"(set {BROKER_VARIABLE}=jvm|docker|external to choose)")


_broker_choice_key = pytest.StashKey[BrokerChoice]()


def broker_choice(config: pytest.Config) -> BrokerChoice:
    if _broker_choice_key not in config.stash:
        config.stash[_broker_choice_key] = _choose_broker()
    return config.stash[_broker_choice_key]


def pytest_report_header(config: pytest.Config) -> list[str]:
    choice = broker_choice(config)
    return [f"kafka broker: {choice.description}", *([choice.fallback] if choice.fallback else [])]


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
    elif choice.kind == "docker":
        from tests.e2e.containers.engine import kafka_container

        with kafka_container(choice.image) as broker:
            yield broker.bootstrap
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
