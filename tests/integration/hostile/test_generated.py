"""Generated hostile records on every consumed topic (issue 9), through the four real services running
once for the module: valid events of every type, then broken one way each (benchmarks.hostile_inputs),
interleaved with valid canaries on the same keys. Every record is applied or dead-lettered with a
reason that fits how it was broken, every canary is applied, every partition catches up, no task dies.

HOSTILE_EXAMPLES (default 150) is the number of generated records over all six topics;
HOSTILE_SEED picks another draw.
"""

import os

import pytest

from benchmarks.hostile_events import CONSUMED
from benchmarks.hostile_inputs import build_inputs
from benchmarks.hostile_ledger import deaths, drained
from tests.integration.hostile.cases import run_id, through

EXAMPLES = int(os.environ.get("HOSTILE_EXAMPLES", "150"))
SEED = int(os.environ.get("HOSTILE_SEED", "20261127"))
PER_TOPIC = max(5, EXAMPLES // len(CONSUMED))


@pytest.mark.parametrize("topic", list(CONSUMED))
async def test_every_generated_record_is_applied_or_dead_lettered_and_every_canary_applied(four_services, topic):
    inputs = build_inputs(topic, PER_TOPIC, SEED + list(CONSUMED).index(topic), run_id("gen"))
    canaries = [item for item in inputs if item.canary]
    assert len(canaries) >= PER_TOPIC // 4

    ledger = await through(four_services, inputs, timeout=60)

    table = ledger.by_category()
    summary = "\n".join(f"  {category}: {dict(row)}" for category, row in sorted(table.items()))
    sent = sum(row["tried"] for row in table.values())
    assert sent == sum(row["applied"] + row["dead_lettered"] for row in table.values()), summary
    assert table["canary"]["applied"] == table["canary"]["tried"], summary
    assert set(ledger.reasons()) <= {"invalid_header", "too_large", "invalid_json", "unknown_type", "schema_violation",
                                     "time_in_future", "key_mismatch"}, ledger.reasons()
    print(f"{topic}: {sent} verdicts\n{summary}\nreasons {dict(ledger.reasons())}")


async def test_after_all_of_it_no_partition_is_behind_and_no_task_died(four_services):
    behind = await drained(list(four_services.values()), timeout=30)
    assert behind == {}, f"partitions not caught up: {behind}"
    assert [death for service in four_services.values() for death in deaths(service)] == []
