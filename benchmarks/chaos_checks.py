"""What a chaos run must end with, checked on everything the services wrote (benchmarks.chaos).

Read once the system has drained, on a broker of the run's own, so every record is the run's:
- every contract's last snapshot on contracts.events is the model's (status, holds, message, parties),
  and its refused commands are the model's;
- each client's billing.problems are the model's changes, in order;
- versions per contract strictly increase in the partition, with no gaps;
- every time entry has exactly one verdict on time.entries; every accepted, protected entry whose
  interval overlaps a time the contract was paused or ended (by its final history) is revoked, once;
- no two notices for one cause (recipient, kind, and the fact behind them: a contract version,
  a billing problem change, an entry's verdict);
- every output keyed as DESIGN.md says; nothing in a dead-letter topic (every input was valid).
Raw duplicate deliveries (a record whose event id the topic carried before) are counted, not
violations: consumers deduplicate on ids.
"""

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from benchmarks.chaos_workload import Workload
from ops.operate import read
from shared.topics import ALL_TOPICS, BILLING_PROBLEMS, CONTRACT_EVENTS, NOTIFICATIONS, TIME_ENTRIES, Topic

OUTPUTS = (BILLING_PROBLEMS, CONTRACT_EVENTS, TIME_ENTRIES, NOTIFICATIONS)
DEAD_LETTERS = tuple(topic for topic in ALL_TOPICS if topic.name.endswith(".dlq"))
REFUSED = "contract.command_rejected"
VERDICTS = ("time_entry.accepted", "time_entry.rejected")
REVOKED = "time_entry.protection_revoked"


@dataclass(frozen=True)
class Record:
    topic: str
    partition: int
    offset: int
    key: str | None
    headers: dict[str, str]
    event: dict[str, Any] | None  # None: not a readable event

    @property
    def data(self) -> dict[str, Any]:
        return (self.event or {}).get("data") or {}


@dataclass(frozen=True)
class Violation:
    invariant: str
    subject: str
    detail: str


@dataclass
class Findings:
    violations: list[Violation] = field(default_factory=list)
    duplicates: Counter = field(default_factory=Counter)  # topic -> records repeating an event id
    records: Counter = field(default_factory=Counter)  # topic -> records read
    checked: Counter = field(default_factory=Counter)  # what the checks looked at: contracts by status, verdicts

    def violate(self, invariant: str, subject: str, detail: str) -> None:
        self.violations.append(Violation(invariant, subject, detail))


async def read_outputs(bootstrap: str) -> dict[str, list[Record]]:
    """Every record of the output and dead-letter topics, in partition and offset order."""
    topics = [topic.name for topic in (*OUTPUTS, *DEAD_LETTERS)]
    found: dict[str, list[Record]] = {name: [] for name in topics}
    async for record, event in read(bootstrap, topics, from_beginning=True, follow=False):
        headers = {name: value.decode(errors="replace") for name, value in record.headers or ()}
        key = record.key.decode(errors="replace") if record.key is not None else None
        found[record.topic].append(Record(record.topic, record.partition, record.offset, key, headers, event))
    for records in found.values():
        records.sort(key=lambda record: (record.partition, record.offset))
    return found


def check(workload: Workload, outputs: dict[str, list[Record]]) -> Findings:
    findings = Findings()
    for topic in DEAD_LETTERS:
        for record in outputs.get(topic.name, []):
            findings.records[topic.name] += 1
            findings.violate("no valid input dead-lettered", f"{topic.name}@{record.partition}:{record.offset}",
                             f"{record.headers.get('x-dlq-reason')}: {record.headers.get('x-dlq-error', '')[:200]} "
                             f"(group {record.headers.get('x-dlq-consumer-group')})")
    unique = {topic.name: first_deliveries(topic, outputs.get(topic.name, []), findings) for topic in OUTPUTS}
    check_problems(workload, unique[BILLING_PROBLEMS.name], findings)
    histories = check_contracts(workload, unique[CONTRACT_EVENTS.name], findings)
    check_entries(workload, unique[TIME_ENTRIES.name], histories, findings)
    check_notices(unique, findings)
    return findings


def first_deliveries(topic: Topic, records: list[Record], findings: Findings) -> list[Record]:
    """The records carrying an event id for the first time; counts the rest as raw duplicates."""
    seen: set[str] = set()
    first = []
    for record in records:
        findings.records[topic.name] += 1
        if record.event is None or not isinstance(record.event.get("id"), str):
            findings.violate("outputs are events", f"{topic.name}@{record.partition}:{record.offset}", "unreadable")
            continue
        if record.event["id"] in seen:
            findings.duplicates[topic.name] += 1
            continue
        seen.add(record.event["id"])
        if record.key != str(record.data.get(topic.key)):
            findings.violate("keyed as DESIGN says", f"{topic.name}@{record.partition}:{record.offset}",
                             f"key {record.key!r}, {topic.key} {record.data.get(topic.key)!r}")
        first.append(record)
    return first


def check_problems(workload: Workload, records: list[Record], findings: Findings) -> None:
    seen: dict[str, list[tuple[str, str, tuple[str, ...]]]] = defaultdict(list)
    for record in records:
        data = record.data
        seen[data.get("client_id")].append((record.event["type"], data.get("kind"), tuple(data.get("open_problems", ()))))
    for client, expected in workload.problem_changes.items():
        if seen.get(client, []) != expected:
            findings.violate("billing problems as the model says", client, _difference(expected, seen.get(client, [])))


@dataclass(frozen=True)
class Version:
    version: int
    status: str
    changed_at: datetime


def check_contracts(workload: Workload, records: list[Record], findings: Findings) -> dict[str, list[Version]]:
    """Checks every contract's versions, last snapshot and refusals; returns each one's history."""
    snapshots: dict[str, list[dict[str, Any]]] = defaultdict(list)
    refusals: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for record in records:
        data = record.data
        if record.event["type"] == REFUSED:
            refusals[data.get("contract_id")].append((data.get("command_id"), data.get("reason")))
        else:
            snapshots[data.get("contract_id")].append(data)
    histories = {}
    for contract_id in workload.contracts:
        versions = snapshots.get(contract_id, [])
        if not versions:
            findings.violate("last snapshot is the model's", contract_id, "no contract event at all")
            continue
        numbers = [snapshot["version"] for snapshot in versions]
        for before, after in zip(numbers, numbers[1:]):
            if after <= before:
                findings.violate("versions strictly increase", contract_id, f"version {after} after {before} in {numbers}")
        missing = sorted(set(range(1, max(numbers) + 1)) - set(numbers))
        if missing:
            findings.violate("versions have no gaps", contract_id, f"missing {missing[:10]} of 1..{max(numbers)}")
        last = max(versions, key=lambda snapshot: snapshot["version"])
        findings.checked[f"contracts {last['status']}"] += 1
        expected = workload.expected(contract_id)
        got = {name: last.get(name) for name in expected}
        if got != expected:
            wrong = {name: (expected[name], got[name]) for name in expected if got[name] != expected[name]}
            findings.violate("last snapshot is the model's", contract_id,
                             f"version {last['version']}: " + ", ".join(f"{name} {want!r} expected, {have!r} found"
                                                                        for name, (want, have) in wrong.items()))
        if sorted(refusals.get(contract_id, [])) != sorted(workload.contracts[contract_id].refusals):
            findings.violate("commands refused as the model says", contract_id,
                             _difference(sorted(workload.contracts[contract_id].refusals),
                                         sorted(refusals.get(contract_id, []))))
        histories[contract_id] = sorted(
            (Version(snapshot["version"], snapshot["status"], datetime.fromisoformat(snapshot["changed_at"]))
             for snapshot in versions), key=lambda version: version.version)
    return histories


def unavailable(history: list[Version]) -> list[tuple[datetime, datetime | None]]:
    """The times the contract was paused or ended: from each such version's changed_at to the next
    version's (open-ended after the last); a stretch of no length is none."""
    spans = []
    for number, version in enumerate(history):
        if version.status == "active":
            continue
        end = history[number + 1].changed_at if number + 1 < len(history) else None
        if end is None or version.changed_at < end:
            spans.append((version.changed_at, end))
    return spans


def check_entries(workload: Workload, records: list[Record], histories: dict[str, list[Version]],
                  findings: Findings) -> None:
    verdicts: dict[str, list[dict[str, Any]]] = defaultdict(list)
    revoked: dict[str, int] = Counter()
    for record in records:
        if record.event["type"] in VERDICTS:
            verdicts[record.data.get("entry_id")].append({"type": record.event["type"], **record.data})
        elif record.event["type"] == REVOKED:
            revoked[record.data.get("entry_id")] += 1
    findings.checked["entries revoked"] = sum(1 for count in revoked.values() if count)
    for entry_id, entry in workload.entries.items():
        given = verdicts.get(entry_id, [])
        for verdict in given[:1]:
            findings.checked[f"entries {verdict['type'].removeprefix('time_entry.')}"] += 1
        if len(given) != 1:
            findings.violate("one verdict per entry", entry_id,
                             f"{len(given)} verdicts: {[(v['type'], v.get('reason')) for v in given]}")
        if revoked[entry_id] > 1:
            findings.violate("revoked at most once", entry_id, f"{revoked[entry_id]} revocations")
        if revoked[entry_id] and not any(v["type"] == "time_entry.accepted" for v in given):
            findings.violate("only accepted entries are revoked", entry_id, "revoked without being accepted")
        for verdict in given:
            if verdict.get("contract_id") != entry.contract_id:
                findings.violate("one verdict per entry", entry_id, f"verdict names {verdict.get('contract_id')}")
            if verdict["type"] != "time_entry.accepted" or verdict.get("payment_protection") != "eligible":
                continue
            started, ended = datetime.fromisoformat(verdict["started_at"]), datetime.fromisoformat(verdict["ended_at"])
            overlapping = [(start, end) for start, end in unavailable(histories.get(entry.contract_id, []))
                           if start < ended and (end is None or started < end)]
            findings.checked["eligible entries overlapping a pause"] += bool(overlapping)
            if overlapping and not revoked[entry_id]:
                start, end = overlapping[0]
                findings.violate("accepted work during a pause is revoked", entry_id,
                                 f"{entry.contract_id}: {started:%H:%M:%S}-{ended:%H:%M:%S} overlaps "
                                 f"{start:%H:%M:%S}-{f'{end:%H:%M:%S}' if end else 'now'}, still eligible")


def check_notices(unique: dict[str, list[Record]], findings: Findings) -> None:
    causes = {record.event["id"]: record for topic in (BILLING_PROBLEMS, CONTRACT_EVENTS, TIME_ENTRIES)
              for record in unique[topic.name]}
    notices: dict[tuple, set[str]] = defaultdict(set)
    for record in unique[NOTIFICATIONS.name]:
        data = record.data
        cause = _cause(causes.get(record.event.get("causationid")), record.event.get("causationid"))
        notices[(data.get("recipient_id"), data.get("kind"), cause)].add(data.get("notification_id"))
    findings.checked["notices"] = sum(len(ids) for ids in notices.values())
    for (recipient, kind, cause), ids in notices.items():
        if len(ids) > 1:
            findings.violate("one notice per cause", recipient, f"{len(ids)} {kind} notices for {cause}")


def _cause(record: Record | None, event_id: str | None) -> tuple:
    """What a notice is about, whatever the id of the event that told the notifier."""
    if record is None:
        return ("event", event_id)
    data, kind = record.data, record.event["type"]
    if record.topic == CONTRACT_EVENTS.name:
        if kind == REFUSED:
            return ("refusal", data.get("command_id"))
        return ("contract", data.get("contract_id"), data.get("version"))
    if record.topic == BILLING_PROBLEMS.name:
        return (kind, data.get("client_id"), data.get("kind"), data.get("opened_at") or data.get("resolved_at"))
    return (kind, data.get("entry_id"))


def _difference(expected: Iterable, found: Iterable) -> str:
    expected, found = list(expected), list(found)
    missing = [item for item in expected if item not in found]
    extra = [item for item in found if item not in expected]
    if not missing and not extra:
        return f"same {len(expected)} in another order: expected {expected[:6]}, found {found[:6]}"
    return f"expected {len(expected)}, found {len(found)}; missing {missing[:4]}, unexpected {extra[:4]}"
