"""The CPU window counts what a process spent while it was open, and what the machine did."""

import os
import re
import time
from pathlib import Path

import pytest

from benchmarks.cpu import CpuWindow, process_seconds

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads Linux's /proc")


def burn(seconds: float) -> None:
    deadline = time.process_time() + seconds
    while time.process_time() < deadline:
        pass


def test_a_window_counts_the_cpu_spent_inside_it_only():
    burn(0.3)  # before the window: not counted
    with CpuWindow({"this test": os.getpid()}) as window:
        burn(0.4)
    spent = float(re.search(r"this test (\d+\.\d) s", window.said()).group(1))
    assert 0.3 <= spent <= 0.6, window.said()
    assert re.search(r"the whole machine \d+\.\d s busy \(\d+%\), \d+\.\d s stolen", window.said())


def test_a_process_that_is_gone_is_left_out():
    assert process_seconds(2**22 + 12345) is None  # above Linux's largest pid
    with CpuWindow({"gone": 2**22 + 12345}) as window:
        pass
    assert window.said() == ""
