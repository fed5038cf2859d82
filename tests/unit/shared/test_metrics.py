"""/metrics says what the service's process spends: CPU seconds and resident memory (Linux)."""

import re
from pathlib import Path

import pytest

from shared.metrics import Metrics

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="Prometheus reads these from Linux's /proc")


async def nothing_waiting() -> int:
    return 0


async def no_lag() -> dict:
    return {}


async def test_the_process_cpu_and_resident_memory_are_exported():
    text = (await Metrics().render(nothing_waiting, no_lag)).decode()
    cpu = float(re.search(r"^process_cpu_seconds_total (\S+)$", text, re.MULTILINE).group(1))
    resident = float(re.search(r"^process_resident_memory_bytes (\S+)$", text, re.MULTILINE).group(1))
    assert cpu > 0
    assert resident > 10 * 2**20  # an interpreter with the service's libraries loaded
