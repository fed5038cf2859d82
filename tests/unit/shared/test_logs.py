"""JSON logs render a library's traceback as text (not `<traceback object>`), and carry the event ids
while an event is handled."""

import json
import subprocess
import sys

PROGRAM = """
import logging
from shared.logs import configure_logging, get_logger
configure_logging("svc", "INFO", "json")
try:
    raise ValueError("boom")
except ValueError:
    logging.getLogger("uvicorn.error").exception("library failure")
    get_logger("ours").exception("our failure")
"""


def test_tracebacks_in_json_logs_are_text():
    finished = subprocess.run([sys.executable, "-c", PROGRAM], capture_output=True, text=True, timeout=30, check=True)
    lines = [json.loads(line) for line in finished.stderr.splitlines()]
    assert [line["event"] for line in lines] == ["library failure", "our failure"]
    for line in lines:
        assert line["service"] == "svc"
        assert "Traceback (most recent call last)" in line["exception"] and "ValueError: boom" in line["exception"]
        assert "<traceback object" not in json.dumps(line)


BOUND = """
import logging
from datetime import UTC, datetime
from shared.events.billing import PaymentFailed, PaymentFailedData
from shared.logs import bound_to_event, configure_logging, get_logger
configure_logging("svc", "INFO", "json")
def failure(event_id, correlation_id=None):
    data = PaymentFailedData(client_id="c-1", payment_method_id="pm-1", attempt=1)
    event = PaymentFailed.new(data, source="test", time=datetime(2026, 1, 1, tzinfo=UTC), event_id=event_id)
    return event.model_copy(update={"correlationid": correlation_id})
log = get_logger("ours")
with bound_to_event(failure("outer", "chain-1")):
    log.info("in outer")
    with bound_to_event(failure("inner")):
        log.info("in inner")
        logging.getLogger("aiokafka.x").warning("library line")
    log.info("outer again", event_id="named by the line")
log.info("after")
"""


def test_lines_carry_the_bound_event_and_only_inside_its_block():
    finished = subprocess.run([sys.executable, "-c", BOUND], capture_output=True, text=True, timeout=30, check=True)
    lines = {line["event"]: line for line in map(json.loads, finished.stderr.splitlines())}
    assert lines["in outer"].items() >= {"event_id": "outer", "correlation_id": "chain-1",
                                         "event_type": "billing.payment_failed"}.items()
    assert lines["in inner"]["event_id"] == "inner" and lines["in inner"]["correlation_id"] == "inner"
    assert lines["library line"]["event_id"] == "inner"
    assert lines["outer again"]["event_id"] == "named by the line" and lines["outer again"]["correlation_id"] == "chain-1"
    assert not {"event_id", "event_type", "correlation_id"} & lines["after"].keys()
