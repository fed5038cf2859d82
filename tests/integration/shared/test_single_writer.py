"""A second process of a service on the same SQLite file is refused at start, with one line and exit code 2,
while the first keeps running; another file, or the first gone, is no obstacle. No broker: the first
process waits for an unreachable one (holding its store), which is all these need."""

import os
import subprocess
import sys
import time
from pathlib import Path

from ops.kafka_local import free_port


def _start(database: Path) -> subprocess.Popen[bytes]:
    environment = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port()}",  # nothing listens there
        "DATABASE_URL": f"sqlite:///{database}",
        "LOG_FORMAT": "json",
        "HTTP_PORT": str(free_port()),
    }
    return subprocess.Popen([sys.executable, "-m", "services.contract_state"], env=environment,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _waiting_for_kafka(process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    """Past the lock: the service is up and waiting for the broker."""
    assert process.stderr is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stderr.readline().decode()
        if "kafka not reachable; waiting" in line:
            return
        assert line or process.poll() is None, f"exited with {process.returncode}"
    raise AssertionError("the first service never got to wait for Kafka")


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    process.communicate(timeout=15)


def test_a_second_process_on_the_same_sqlite_file_exits_2_with_one_line_and_the_first_keeps_running(tmp_path):
    database = tmp_path / "contract-state.db"
    first = _start(database)
    try:
        _waiting_for_kafka(first)
        second = _start(database)
        _, stderr = second.communicate(timeout=60)
        assert second.returncode == 2
        said = stderr.decode().strip().splitlines()
        assert len(said) == 1, said
        assert said[0].startswith("contract-state: configuration error: another process (another contract-state "
                                  f"instance?) already uses the SQLite store {database}, and SQLite takes one writer")
        assert "DATABASE_URL=postgresql://" in said[0] and "one instance" in said[0]
        assert first.poll() is None, "the first must keep running"

        elsewhere = _start(tmp_path / "other.db")
        try:
            _waiting_for_kafka(elsewhere)
        finally:
            _stop(elsewhere)
    finally:
        _stop(first)

    after = _start(database)  # the lock went with the first process
    try:
        _waiting_for_kafka(after)
    finally:
        _stop(after)
