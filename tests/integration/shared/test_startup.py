"""A service started while Kafka is away waits for it, saying so, instead of exiting."""

import os
import subprocess
import sys
import time
from pathlib import Path

from ops.kafka_local import free_port


def test_a_service_waits_for_an_unreachable_broker_with_a_line_per_attempt(tmp_path):
    environment = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port()}",  # nothing listens there
        "DATABASE_URL": f"sqlite:///{tmp_path / 'store.db'}",
        "LOG_FORMAT": "json",
        "HTTP_PORT": str(free_port()),
    }
    log = tmp_path / "stderr.log"
    with log.open("wb") as stderr:
        process = subprocess.Popen([sys.executable, "-m", "services.billing_monitor"], env=environment,
                                   stdout=subprocess.DEVNULL, stderr=stderr)
    try:
        # Until two attempts were told (a loaded machine takes seconds just to import the service).
        deadline = time.monotonic() + 60
        while len(_waits(log)) < 2 and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert process.poll() is None, "the service exited while Kafka was unreachable"
    finally:
        process.terminate()
        process.wait(timeout=15)
    waits = _waits(log)
    assert len(waits) >= 2, log.read_text()[-2000:]
    assert '"attempt": 2' in waits[1]


def _waits(log: Path) -> list[str]:
    return [line for line in log.read_text(errors="replace").splitlines() if "kafka not reachable; waiting" in line]
