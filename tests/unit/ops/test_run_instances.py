"""`contract-pause run --instances N` before anything starts: names, ports, where the stores go, and the one
line it says when it cannot honour what was asked."""

from pathlib import Path

import pytest

from ops import postgres_local, run
from ops.cli import main
from ops.run import LOCAL_POSTGRES, Runner, assigned_http_ports

SERVICES = ["billing-monitor", "contract-state", "notification", "time-tracking"]


@pytest.fixture(autouse=True)
def no_database_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)


def test_one_instance_keeps_the_names_and_ports_of_today() -> None:
    assert assigned_http_ports() == dict(zip(SERVICES, range(8081, 8085)))


def test_the_first_instance_of_each_keeps_its_port_the_next_take_the_following_blocks() -> None:
    ports = assigned_http_ports(instances=3)
    assert ports["contract-state#1"] == 8082 and ports["notification#1"] == 8083
    assert ports["billing-monitor#2"] == 8085 and ports["contract-state#2"] == 8086
    assert ports["time-tracking#3"] == 8092
    assert sorted(ports.values()) == list(range(8081, 8093))


def test_runner_has_n_processes_per_service_on_a_throwaway_postgresql(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(postgres_local, "missing_reason", lambda: None)
    runner = Runner(kafka_port=0, instances=2)
    assert [service.name for service in runner.services] == [f"{name}#{n}" for n in (1, 2) for name in SERVICES]
    assert {service.module for service in runner.services if service.name.startswith("contract-state")} == {"contract_state"}
    assert runner.postgres == LOCAL_POSTGRES


def test_one_instance_without_postgresql_asked_for_stays_on_sqlite() -> None:
    assert Runner(kafka_port=0).postgres is None


def test_each_service_gets_its_own_database_on_the_server_named() -> None:
    runner = Runner(kafka_port=0, instances=2, postgres="postgresql://ops:secret@db.internal:5433/ignored")
    runner.postgres_url = runner.postgres
    contract_state = next(service for service in runner.services if service.name == "contract-state#2")
    assert runner._store_for(contract_state) == {"DATABASE_URL": "postgresql://ops:secret@db.internal:5433/contract_state"}


def test_a_postgresql_database_url_names_the_server_for_several_instances(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://ops@db.internal/x")
    assert Runner(kafka_port=0, instances=2).postgres == "postgresql://ops@db.internal/x"


def test_several_instances_on_a_sqlite_database_url_are_refused_with_one_line(monkeypatch, capsys, tmp_path: Path) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'one.db'}")
    assert main(["run", "--instances", "2"]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and "SQLite takes one writer" in error and "--postgres" in error


def test_without_a_server_run_says_how_to_install_one_before_starting_anything(monkeypatch, capsys) -> None:
    monkeypatch.setattr(postgres_local, "server_binaries", lambda: None)
    monkeypatch.setattr(run.kafka_local, "LocalKafka", None)  # would fail loudly if a broker were started
    assert main(["run", "--instances", "2"]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and "apt-get install postgresql" in error, error


@pytest.mark.parametrize("count", ["0", "-1", "two"])
def test_instances_is_a_whole_number_of_one_or_more(count: str, capsys) -> None:
    with pytest.raises(SystemExit) as exit:
        main(["run", "--instances", count])
    assert exit.value.code == 2 and "1 or more" in capsys.readouterr().err
