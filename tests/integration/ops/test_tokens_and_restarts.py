"""`contract-pause token` and the development key `run` hands its services; `run` restarting a service
that dies, with backoff, one line each time. No broker: these never reach Kafka."""

import io
import os
import stat
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
import pytest

from ops import dev_tokens
from ops.cli import main
from ops.run import MAX_RESTART_DELAY_SECONDS, Runner, ServiceProcess
from shared.auth import TokenVerifier


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CONTRACT_PAUSE_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture
def no_secret_in_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AUTH_JWT_SECRET", raising=False)
    monkeypatch.delenv("AUTH_AUDIENCE", raising=False)


def test_token_prints_a_token_the_services_accept_for_that_person_and_role(capsys):
    assert main(["token", "--as", "alice-1", "--role", "freelancer", "--ttl", "30m"]) == 0
    token = capsys.readouterr().out.strip()
    verifier = TokenVerifier(secret=os.environ["AUTH_JWT_SECRET"])
    who = verifier.verify(token)
    assert (who.subject, who.role) == ("alice-1", "freelancer")
    expires = datetime.fromtimestamp(jwt.decode(token, options={"verify_signature": False})["exp"], UTC)
    assert timedelta(minutes=29) < expires - datetime.now(UTC) <= timedelta(minutes=30)


def test_token_carries_the_audience_when_one_is_set(capsys, monkeypatch):
    monkeypatch.setenv("AUTH_AUDIENCE", "contract-pause")
    assert main(["token", "--as", "client-42", "--role", "client"]) == 0
    token = capsys.readouterr().out.strip()
    assert TokenVerifier(secret=os.environ["AUTH_JWT_SECRET"], audience="contract-pause").verify(token).subject == "client-42"


@pytest.mark.parametrize("ttl", ["8x", "0s", "31d", "h", "-1h"])
def test_token_refuses_a_duration_it_cannot_read_with_one_line(capsys, ttl):
    assert main(["token", "--as", "alice-1", "--role", "freelancer", f"--ttl={ttl}"]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_without_a_key_token_says_how_to_get_one(cache, no_secret_in_env, capsys):
    assert main(["token", "--as", "alice-1", "--role", "freelancer"]) == 1
    error = capsys.readouterr().err.strip()
    assert "AUTH_JWT_SECRET" in error and "contract-pause run" in error and len(error.splitlines()) == 1


def test_run_keeps_one_private_key_and_token_signs_with_it(cache, no_secret_in_env, capsys):
    secret = dev_tokens.ensure_secret()
    kept = cache / dev_tokens.SECRET_FILE_NAME
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600 and kept.read_text() == secret and len(secret) >= 32
    assert dev_tokens.ensure_secret() == secret, "the next run reuses it"
    assert main(["token", "--as", "bob-1", "--role", "freelancer"]) == 0
    assert TokenVerifier(secret=secret).verify(capsys.readouterr().out.strip()).subject == "bob-1"

    kept.chmod(0o644)  # others could read it: it is no secret any more
    replaced = dev_tokens.ensure_secret()
    assert replaced != secret and stat.S_IMODE(kept.stat().st_mode) == 0o600


def test_a_secret_in_the_environment_wins_and_nothing_is_written(cache, monkeypatch):
    monkeypatch.setenv("AUTH_JWT_SECRET", "s" * 40)
    assert dev_tokens.ensure_secret() == "s" * 40
    assert not (cache / dev_tokens.SECRET_FILE_NAME).exists()


def test_restart_delays_double_up_to_the_cap_and_start_over_after_a_stable_stretch():
    service = ServiceProcess("billing_monitor", 8081)
    delays = [service.next_restart_delay(now=0.0) for _ in range(8)]
    assert delays == [1, 2, 4, 8, 16, 30, 30, 30]
    assert max(delays) == MAX_RESTART_DELAY_SECONDS
    service.started_at = 100.0
    assert service.next_restart_delay(now=200.0) == 1


class _Crashing(ServiceProcess):
    """A "service" that notes the key it was given, then dies with `code`."""

    def __init__(self, notes: Path, code: int) -> None:
        super().__init__("crashing", 0)
        self.notes, self.code = notes, code

    @property
    def command(self) -> list[str]:
        note = f"open({str(self.notes)!r}, 'a').write(os.environ['AUTH_JWT_SECRET'] + chr(10))"
        return [sys.executable, "-c", f"import os, sys; {note}; sys.exit({self.code})"]


def _supervise(runner: Runner, seconds: float) -> None:
    runner._start_services()
    supervisor = threading.Thread(target=runner._supervise)
    supervisor.start()
    time.sleep(seconds)
    runner._stopping.set()
    supervisor.join()
    runner._stop_services()


def test_run_restarts_a_service_that_dies_with_backoff_saying_so_each_time(tmp_path):
    output = io.StringIO()
    runner = Runner(kafka_port=0, console_stream=output)
    runner.services = [_Crashing(tmp_path / "starts", code=3)]
    _supervise(runner, seconds=4.6)
    said = [line for line in output.getvalue().splitlines() if "exited unexpectedly" in line]
    assert [line.split("restarting it in ")[1] for line in said][:3] == ["1 s", "2 s", "4 s"]
    assert all("crashing exited unexpectedly with code 3" in line for line in said)
    starts = (tmp_path / "starts").read_text().splitlines()
    assert len(starts) == len(said) >= 3
    assert set(starts) == {runner.auth_secret}, "every start gets the run's key"


def test_run_does_not_restart_a_service_that_refused_its_configuration(tmp_path):
    output = io.StringIO()
    runner = Runner(kafka_port=0, console_stream=output)
    runner.services = [_Crashing(tmp_path / "starts", code=2)]
    _supervise(runner, seconds=1.5)
    assert "crashing refused its configuration (exit code 2); not restarting it" in output.getvalue()
    assert len((tmp_path / "starts").read_text().splitlines()) == 1
