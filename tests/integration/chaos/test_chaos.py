"""Chaos in the suite (issue 14): the four services, two instances each on PostgreSQL, under kill -9
and a broker restart, must end as the model says (benchmarks.chaos at a size the suite can afford;
`python -m benchmarks.chaos` is the long run)."""

import os

import pytest

from benchmarks import chaos
from ops.postgres_local import missing_reason

pytestmark = [pytest.mark.chaos, pytest.mark.kafka, pytest.mark.postgres]


def test_four_services_two_instances_each_under_kills_and_a_broker_restart(tmp_path) -> None:
    if not os.environ.get("TEST_POSTGRES_URL") and (reason := missing_reason()):
        pytest.skip(f"{reason}; or set TEST_POSTGRES_URL")
    report = chaos.run(chaos.Options(instances=2, events=400, seed=14, rate=20, fault_every=3, logs=tmp_path))
    print(report.text())
    assert report.faults["broker restart"] == 1 and report.faults["kill -9"] >= 2, report.text()
    assert report.violations == [], report.text(examples=20)
