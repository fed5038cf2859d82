"""JSON logs render a library's traceback as text (not `<traceback object>`), and carry the event ids."""

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
