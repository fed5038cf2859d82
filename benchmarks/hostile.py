"""Benchmark (not a test) of issue 9: hostile inputs at scale against the four services.

    python -m benchmarks.hostile [--per-category 30] [--seed 1]

The generators of tests/integration/hostile (benchmarks.hostile_inputs, benchmarks.hostile_http)
draw, for each consumed topic, `--per-category` records of every way to break an event (and twice
as many valid ones), with a valid canary after every few on the same keys. The four services run
in this process on fresh SQLite files, on the broker named by KAFKA_BOOTSTRAP_SERVERS or else on a
LocalKafka this script starts. Then every API route of every service gets the hostile HTTP requests.

Printed per category: inputs tried, dead-lettered, applied, lost (must be 0), wrong (a valid record
dead-lettered, a broken one applied, a reason that does not fit), partitions blocked (must be 0),
HTTP requests and HTTP 5xx (must be 0). The exit status is 1 when a must-be-0 column is not.
"""

import argparse
import asyncio
import logging
import os
import secrets
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from pathlib import Path

from benchmarks.common import broker
from benchmarks.hostile_http import cases_for, send_all
from benchmarks.hostile_events import CONSUMED
from benchmarks.hostile_inputs import CATEGORIES, build_inputs
from benchmarks.hostile_ledger import DeadLetterReader, account, deaths, drained, publish_inputs
from services.billing_monitor import app as billing_monitor
from services.contract_state import app as contract_state
from services.notification import app as notification
from services.time_tracking import app as time_tracking
from shared.logs import configure_logging
from shared.service import Service
from shared.topics import ensure_topics

APPS = {"billing-monitor": billing_monitor, "contract-state": contract_state, "notification": notification,
        "time-tracking": time_tracking}
COLUMNS = ("tried", "dead_lettered", "applied", "lost", "wrong", "blocked", "http", "http_5xx")


async def start_all(bootstrap: str, directory: Path, secret: str) -> dict[str, Service]:
    services = {
        name: app.build(app.Settings(kafka_bootstrap_servers=bootstrap, database_url=f"sqlite:///{directory / name}.db",
                                     auth_jwt_secret=secret))
        for name, app in APPS.items()
    }
    for service in services.values():
        await service.start(http=False)
    deadline = time.monotonic() + 60
    for service in services.values():
        for subscriber in service.broker.subscribers:
            while not (getattr(subscriber, "consumer", None) and subscriber.consumer.assignment()):
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{service.name} got no partitions within 60 s")
                await asyncio.sleep(0.05)
    return services


def record_outcome(outcomes: list[str]) -> str:
    """One record's fate over the groups that consume its topic."""
    if "lost" in outcomes:
        return "lost"
    return outcomes[0] if len(set(outcomes)) == 1 else "mixed"


async def run(bootstrap: str, per_category: int, seed: int) -> dict[str, Counter]:
    await ensure_topics(bootstrap)
    table: dict[str, Counter] = defaultdict(Counter)
    secret = os.environ.get("AUTH_JWT_SECRET") or secrets.token_urlsafe(32)
    run_id = f"bench-{uuid.uuid4().hex[:6]}"
    with tempfile.TemporaryDirectory(prefix="hostile-") as workdir:
        services = await start_all(bootstrap, Path(workdir), secret)
        try:
            started = time.perf_counter()
            per_topic = per_category * (len(CATEGORIES) + 1)
            inputs = [item for index, topic in enumerate(CONSUMED)
                      for item in build_inputs(topic, per_topic, seed + index, f"{run_id}-{index}")]
            drawn = time.perf_counter()
            print(f"drew {len(inputs)} records ({per_topic} per topic and their canaries) in {drawn - started:.1f} s",
                  flush=True)
            async with DeadLetterReader.opened(bootstrap, CONSUMED) as letters:
                sent = await publish_inputs(bootstrap, inputs)
                blocked = await drained(list(services.values()), timeout=60 + len(inputs) / 50)
                ledger = await account(sent, services, letters)
            through = time.perf_counter()
            print(f"published and accounted for in {through - drawn:.1f} s "
                  f"({len(inputs) / (through - drawn):,.0f} records/s through the four services)", flush=True)

            per_record: dict[int, list] = defaultdict(list)
            for verdict in ledger.verdicts:
                per_record[id(verdict.sent)].append(verdict)
            for verdicts in per_record.values():
                row = table[verdicts[0].sent.input.category]
                row["tried"] += 1
                row[record_outcome([v.outcome for v in verdicts])] += 1
                row["wrong"] += any(v.wrong for v in verdicts)
            blocked_partitions = {(topic, partition) for (_, topic, partition) in blocked}
            for category in {s.input.category for s in sent
                             if (s.input.topic, s.partition) in blocked_partitions}:
                table[category]["blocked"] += len({(s.input.topic, s.partition) for s in sent
                                                   if s.input.category == category
                                                   and (s.input.topic, s.partition) in blocked_partitions})
            wrong = ledger.wrong
            if wrong:
                print("wrong outcomes (first 10):\n" + ledger.explain(wrong, 10), flush=True)

            for name, service in services.items():
                cases = cases_for(name, service.routes, secret, f"marker-{run_id}", service.settings.http_max_body_bytes)
                for outcome in await send_all(service.http_app(), cases):
                    row = table[outcome.case.category]
                    row["http"] += 1
                    row["http_5xx"] += outcome.status >= 500
                    row["wrong"] += outcome.wrong is not None
                    if outcome.wrong:
                        print(f"  {name} {outcome.case.label}: {outcome.wrong}", flush=True)
            print(f"HTTP done in {time.perf_counter() - through:.1f} s", flush=True)
            dead = [death for service in services.values() for death in deaths(service)]
            if dead:
                print("service tasks that died: " + "; ".join(dead), flush=True)
                table["(services)"]["lost"] += len(dead)
        finally:
            for service in services.values():
                await service.stop()
    return table


def print_table(table: dict[str, Counter]) -> bool:
    width = max(len(name) for name in table) + 2
    print("category".ljust(width) + "".join(column.rjust(14) for column in COLUMNS))
    total: Counter = Counter()
    for category in sorted(table, key=lambda name: (name.startswith("http"), name)):
        row = table[category]
        total.update(row)
        print(category.ljust(width) + "".join(str(row[column]).rjust(14) for column in COLUMNS))
    print("total".ljust(width) + "".join(str(total[column]).rjust(14) for column in COLUMNS))
    return total["lost"] == 0 and total["blocked"] == 0 and total["http_5xx"] == 0 and total["mixed"] == 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--per-category", type=int, default=30,
                        help="records per way of breaking an event, per consumed topic (default 30)")
    parser.add_argument("--seed", type=int, default=1, help="hypothesis seed of the draw (default 1)")
    options = parser.parse_args()
    configure_logging("hostile-benchmark", "ERROR", "console")
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)  # group coordinator chatter while groups form
    with broker() as bootstrap:
        print(f"broker {bootstrap}; {options.per_category} per category per topic; seed {options.seed}", flush=True)
        table = asyncio.run(run(bootstrap, options.per_category, options.seed))
    ok = print_table(table)
    print("lost 0, blocked 0, HTTP 5xx 0: OK" if ok else "FAILED: something was lost, blocked or answered 5xx")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
