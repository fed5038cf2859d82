"""A service started while Kafka is away waits for it, saying so, instead of exiting."""

import os
import subprocess
import sys
import time

from ops.kafka_local import free_port


def test_a_service_waits_for_an_unreachable_broker_with_a_line_per_attempt(tmp_path):
    environment = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port()}",  # nothing listens there
        "DATABASE_URL": f"sqlite:///{tmp_path / 'store.db'}",
        "LOG_FORMAT": "json",
        "HTTP_PORT": str(free_port()),
    }
    process = subprocess.Popen([sys.executable, "-m", "services.billing_monitor"], env=environment,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        time.sleep(4)
        assert process.poll() is None, "the service exited while Kafka was unreachable"
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=15)
    waits = [line for line in stderr.decode().splitlines() if "kafka not reachable; waiting" in line]
    assert len(waits) >= 2, stderr.decode()[-2000:]
    assert '"attempt": 2' in waits[1]
