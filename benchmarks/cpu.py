"""The CPU each process, and the whole machine, spent while a benchmark measured (Linux's /proc).

On a machine whose cores are full, a hop's latency is mostly a wait for a CPU: the latency benchmark
prints this beside its figures, so a reader sees whether the cores were full, and who filled them.
Elsewhere than Linux it says nothing.
"""

import os
import time
from pathlib import Path

TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def process_seconds(pid: int) -> float | None:
    """CPU seconds (user + system, every thread) the process has used; None if it cannot be read."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    after_name = stat.rpartition(")")[2].split()  # the name, in parentheses, may hold spaces
    return (int(after_name[11]) + int(after_name[12])) / TICKS_PER_SECOND


def machine_seconds() -> tuple[float, float] | None:
    """(busy, stolen) CPU seconds of all the machine's CPUs since boot: stolen is what a virtual
    machine's host gave to others while it wanted to run."""
    try:
        total = Path("/proc/stat").read_text().split("\n", 1)[0].split()
    except OSError:
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(value) for value in total[1:9])
    return (user + nice + system + irq + softirq) / TICKS_PER_SECOND, steal / TICKS_PER_SECOND


class CpuWindow:
    """`with CpuWindow({"billing-monitor": pid, ...}) as window:` around what is measured; then
    `window.said()`: each process's CPU seconds in the window, and the machine's."""

    def __init__(self, pids: dict[str, int]) -> None:
        self._pids = pids
        self._before: dict[str, float | None] = {}
        self._machine_before: tuple[float, float] | None = None
        self._started = 0.0
        self._text = ""

    def __enter__(self) -> "CpuWindow":
        self._before = {name: process_seconds(pid) for name, pid in self._pids.items()}
        self._machine_before = machine_seconds()
        self._started = time.perf_counter()
        return self

    def __exit__(self, *_exception: object) -> None:
        wall = time.perf_counter() - self._started
        machine = machine_seconds()
        spent = []
        for name, pid in self._pids.items():
            before, after = self._before[name], process_seconds(pid)
            if before is not None and after is not None:
                spent.append(f"{name} {after - before:.1f} s")
        if not spent or machine is None or self._machine_before is None:
            return
        cpus = os.cpu_count() or 1
        busy, stolen = (now - then for now, then in zip(machine, self._machine_before, strict=True))
        self._text = (f"{wall:.1f} s on {cpus} CPUs ({wall * cpus:.1f} s of CPU): {', '.join(spent)}; "
                      f"the whole machine {busy:.1f} s busy ({busy / (wall * cpus):.0%}), {stolen:.1f} s stolen")

    def said(self) -> str:
        """What the window measured, or "" where /proc could not tell."""
        return self._text
