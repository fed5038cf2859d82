"""docker-compose.yml stays in step with the services, the topic registry and the Kafka rules."""

from __future__ import annotations

import inspect
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy.engine import make_url

REPO_ROOT = Path(__file__).resolve().parents[2]

# Host ports as `contract-pause run` assigns them: 8081, 8082, ... in name order.
SERVICES = {
    "billing-monitor": ("services.billing_monitor", 8081),
    "contract-state": ("services.contract_state", 8082),
    "notification": ("services.notification", 8083),
    "time-tracking": ("services.time_tracking", 8084),
}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {key: str(value) for key, value in env.items()}


def test_names_the_four_services_kafka_and_postgres(compose: dict[str, Any]) -> None:
    assert set(SERVICES) | {"kafka", "postgres", "topics"} == set(compose["services"])


def test_host_ports_match_the_run_command() -> None:
    from ops.run import FIRST_HTTP_PORT, display_name

    modules = sorted(module.removeprefix("services.") for module, _port in SERVICES.values())
    assigned = {display_name(module): FIRST_HTTP_PORT + index for index, module in enumerate(modules)}
    assert assigned == {name: port for name, (_module, port) in SERVICES.items()}


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_service_runs_its_module_against_compose_kafka(compose: dict[str, Any], name: str) -> None:
    module, host_port = SERVICES[name]
    service = compose["services"][name]
    assert service["build"]["dockerfile"] == "deploy/Dockerfile"
    assert service["command"] == ["python", "-m", module]
    env = environment(service)
    assert env["KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092"
    assert env["HTTP_PORT"] == "8080"
    # Its port on the host is today's unless <NAME>_PORTS gives one, or a range when the service is scaled.
    variable = name.upper().replace("-", "_") + "_PORTS"
    assert service["ports"] == [f"${{{variable}:-{host_port}}}:8080"]
    assert service["depends_on"] == {
        "kafka": {"condition": "service_healthy"},
        "postgres": {"condition": "service_healthy"},
        "topics": {"condition": "service_completed_successfully"},
    }


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_service_scales_its_store_is_its_own_database_on_postgres(compose: dict[str, Any], name: str) -> None:
    """Instances of a service share its database; nothing of one container's own (a SQLite file on a volume,
    a container name, a fixed host port) stands in the way of `--scale`."""
    module, _port = SERVICES[name]
    service = compose["services"][name]
    postgres = environment(compose["services"]["postgres"])
    url = make_url(environment(service)["DATABASE_URL"])
    assert (url.drivername, url.host, url.port) == ("postgresql", "postgres", 5432)
    assert url.database == module.removeprefix("services.")
    assert url.username == postgres["POSTGRES_USER"]
    assert url.password == postgres["POSTGRES_PASSWORD"] == "${POSTGRES_PASSWORD:-contract-pause}"
    assert "volumes" not in service and "container_name" not in service


def test_postgres_makes_one_database_per_service_and_answers_only_in_the_network(compose: dict[str, Any]) -> None:
    postgres = compose["services"]["postgres"]
    # Docker Hub's postgres unless POSTGRES_IMAGE names another (deploy/build-images.sh builds one from Debian's).
    assert re.fullmatch(r"\$\{POSTGRES_IMAGE:-postgres:1[5-9]\}", postgres["image"]), postgres["image"]
    assert "ports" not in postgres
    assert "postgres-data:/var/lib/postgresql/data" in postgres["volumes"] and "postgres-data" in compose["volumes"]
    (init,) = [volume for volume in postgres["volumes"] if "/docker-entrypoint-initdb.d/" in volume]
    script = REPO_ROOT / init.split(":", 1)[0]
    created = set(re.findall(r"CREATE DATABASE (\w+);", script.read_text()))
    assert created == {module.removeprefix("services.") for module, _port in SERVICES.values()}
    # Healthy only once the init scripts ran: the server answers on TCP only after them.
    assert "pg_isready -h 127.0.0.1" in " ".join(postgres["healthcheck"]["test"])


def test_the_offline_postgres_image_is_debians_server_started_as_the_hub_image_starts() -> None:
    build = (REPO_ROOT / "deploy" / "build-images.sh").read_text()
    assert re.search(r'rootfs_image "\$\{postgresql_image\}" postgresql\b', build)
    assert 'echo "POSTGRES_IMAGE=${postgres_image}"' in build
    start = (REPO_ROOT / "deploy" / "postgres" / "start-postgres.sh").read_text()
    for taken in ("POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB", "PGDATA", "/docker-entrypoint-initdb.d/*.sql"):
        assert taken in start
    dockerfile = (REPO_ROOT / "deploy" / "postgres" / "Dockerfile").read_text()
    assert re.search(r"^USER postgres$", dockerfile, re.MULTILINE)


def test_the_service_image_has_the_postgresql_driver() -> None:
    dockerfile = (REPO_ROOT / "deploy" / "Dockerfile").read_text()
    assert "'contract-pause[postgres]'" in dockerfile and "'.[postgres]'" in dockerfile
    assert "'.[postgres]'" in (REPO_ROOT / "deploy" / "build-images.sh").read_text(), "the wheels include asyncpg"


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_service_api_listens_in_the_container_and_needs_the_key_from_the_environment(compose: dict[str, Any], name: str) -> None:
    env = environment(compose["services"][name])
    assert env["HTTP_HOST"] == "0.0.0.0"
    # `${VAR:?message}`: compose stops with the message when the variable is unset or empty.
    assert re.fullmatch(r"\$\{AUTH_JWT_SECRET:\?[^}]+\}", env["AUTH_JWT_SECRET"]), env["AUTH_JWT_SECRET"]


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_service_healthcheck_asks_its_health_endpoint(compose: dict[str, Any], name: str) -> None:
    test = compose["services"][name]["healthcheck"]["test"]
    assert test[0] in ("CMD", "CMD-SHELL")
    assert "http://localhost:8080/health" in " ".join(test)


def test_kafka_is_single_node_kraft_without_auto_create(compose: dict[str, Any]) -> None:
    kafka = compose["services"]["kafka"]
    # apache/kafka unless KAFKA_IMAGE names another (deploy/build-images.sh builds one without Docker Hub).
    assert re.fullmatch(r"\$\{KAFKA_IMAGE:-apache/kafka:4\.[0-9.]+\}", kafka["image"]), kafka["image"]
    env = environment(kafka)
    assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert "PLAINTEXT://kafka:9092" in env["KAFKA_ADVERTISED_LISTENERS"]
    for replication in ("KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR", "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR"):
        assert env[replication] == "1"
    assert "/opt/kafka/bin/kafka-broker-api-versions.sh" in " ".join(kafka["healthcheck"]["test"])


def test_topic_init_creates_every_registered_topic(compose: dict[str, Any]) -> None:
    from shared import topics

    step = compose["services"]["topics"]
    assert step["depends_on"] == {"kafka": {"condition": "service_healthy"}}
    assert environment(step)["KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092"
    # It loads the services' settings: without a token key, only HTTP_API=false lets it start.
    assert environment(step)["HTTP_API"] == "false"
    command = step["command"]
    registered = {topic.name for topic in topics.ALL_TOPICS}
    if command == ["python", "-m", "shared.topics"]:
        # `python -m shared.topics` creates ensure_topics' default set: it must be the whole registry.
        default = inspect.signature(topics.ensure_topics).parameters.get("topics")
        created = {topic.name for topic in default.default} if default is not None else registered
    else:
        created = set(re.findall(r"[a-z][a-z0-9._-]*", " ".join(command)))
    assert registered - created == set()


def test_services_build_on_base_image_python_slim_unless_told_otherwise(compose: dict[str, Any]) -> None:
    for name in (*SERVICES, "topics"):
        build = compose["services"][name]["build"]
        assert build["dockerfile"] == "deploy/Dockerfile"
        assert build["args"]["BASE_IMAGE"] == "${BASE_IMAGE:-python:3.11-slim}"


def test_image_is_slim_python_and_runs_as_non_root() -> None:
    dockerfile = (REPO_ROOT / "deploy" / "Dockerfile").read_text()
    assert re.search(r"^ARG BASE_IMAGE=python:3\.11-slim$", dockerfile, re.MULTILINE)
    assert re.search(r"^FROM \$\{BASE_IMAGE\}$", dockerfile, re.MULTILINE)
    users = re.findall(r"^USER\s+(\S+)", dockerfile, re.MULTILINE)
    assert users and users[-1] not in ("root", "0")
