"""Every benchmark runs end to end at a tiny size and prints its figures beside its baseline.

Not a measurement (the sizes are far too small to mean anything): it keeps the scripts working as
the services change. Each run uses consumer groups and scratch topics of its own.
"""

import re
from pathlib import Path

import pytest

from benchmarks import batch_cpu, latency, memory, notices, pause_fanout, pause_storm, time_entries

pytestmark = [pytest.mark.kafka, pytest.mark.benchmark]


async def test_latency(registry_topics: str, capsys: pytest.CaptureFixture[str]) -> None:
    await latency.benchmark(registry_topics, rate=20, seconds=0.5, probed=20, profile=None, idle_singles=1)
    printed = capsys.readouterr().out
    for path in ("baseline: bare aiokafka 2-hop relay", "-> contract.paused", "-> freelancer's contract_paused",
                 "-> time gate refuses an entry", "single event on an idle system"):
        assert path in printed, printed
    if Path("/proc/self/stat").exists():  # what each process spent meanwhile: Linux says
        assert "CPU, baseline under load: " in printed and "bare hop 1 " in printed, printed
        for process in ("billing-monitor", "contract-state", "time-tracking", "notification", "this script"):
            assert re.search(rf"CPU, services under load: .*{process} \d+\.\d s", printed), printed


async def test_latency_of_the_pause_path_alone(registry_topics: str, capsys: pytest.CaptureFixture[str]) -> None:
    await latency.benchmark(registry_topics, rate=20, seconds=0.5, probed=20, profile=None, idle_singles=1,
                            without=latency.OPTIONAL)
    rows = {line[:34].strip(): line[34:] for line in capsys.readouterr().out.splitlines()}
    assert rows["-> contract.paused on the topic"].split()[2] == "10", rows  # count: every failure's pause
    assert rows["-> freelancer's contract_paused"].strip() == "(not measured)"
    assert rows["-> time gate refuses an entry"].strip() == "(not measured)"


async def test_pause_fanout(registry_topics: str, capsys: pytest.CaptureFixture[str]) -> None:
    (figures,) = await pause_fanout.benchmark(registry_topics, contracts=20, runs=1)
    assert 0 < figures.first_paused_seconds <= figures.last_paused_seconds
    assert figures.baseline_seconds > 0
    assert "baseline, bare aiokafka" in capsys.readouterr().out


async def test_time_entries(registry_topics: str, capsys: pytest.CaptureFixture[str]) -> None:
    await time_entries.main(registry_topics, entries=200, contracts=20, profile=None)
    assert "ratio service/baseline" in capsys.readouterr().out


async def test_notices(registry_topics: str, capsys: pytest.CaptureFixture[str]) -> None:
    bare, ours = await notices.main(registry_topics, contracts=30)
    assert bare > 0 and ours > 0
    assert "ratio service/baseline" in capsys.readouterr().out


async def test_pause_storm(registry_topics: str, capsys: pytest.CaptureFixture[str]) -> None:
    await pause_storm.benchmark(registry_topics, clients=10, per_client=2)
    printed = capsys.readouterr().out
    assert "last contract.paused after" in printed and "last freelancer notice after" in printed, printed


async def test_memory(registry_topics: str, capsys: pytest.CaptureFixture[str]) -> None:
    measured = await memory.benchmark(registry_topics, contracts=20)
    assert set(measured) == set(memory.SERVICES)
    assert all(empty > 0 and full > 0 for empty, full in measured.values())
    assert "empty MB" in capsys.readouterr().out


async def test_batch_cpu(capsys: pytest.CaptureFixture[str]) -> None:
    figures = await batch_cpu.benchmark(sizes=[1, 3], inputs=9)
    assert set(figures) == {(case.service, case.input_topic.name, size) for case in batch_cpu.CASES for size in (1, 3)}
    assert all(ours > 0 and bare > 0 for ours, bare in figures.values())
    assert "bare ms" in capsys.readouterr().out
