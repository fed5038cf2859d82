"""One hostile record at a time, between valid neighbours on its partition, through the four real
services: the record is dead-lettered with its reason, every neighbour is applied, the partition
moves on, nothing is lost and no service stops (issue 9)."""

import asyncio
import hashlib
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import insert, select

from benchmarks.hostile_events import CONSUMERS, rfc3339
from benchmarks.hostile_inputs import RawJson, encode
from benchmarks.hostile_ledger import applied_ids, deaths
from shared.store import outbox
from shared.topics import (
    BILLING_EVENTS,
    BILLING_PROBLEMS,
    CONTRACT_COMMANDS,
    CONTRACT_EVENTS,
    TIME_ENTRIES,
    TIME_ENTRIES_SUBMITTED,
)
from tests.integration.hostile.cases import bad, event_of, payment_failed, run_id, sandwiched, through
from tests.support import TopicReader, publish_raw

NOW = datetime.now(UTC)


def snapshot(key: str, **changes) -> dict:  # noqa: ANN003 - fields of ContractSnapshot
    return {"client_id": "client-1", "freelancer_id": "fl-1", "kind": "hourly", "status": "active", "holds": [],
            "version": 1, "changed_at": rfc3339(NOW - timedelta(hours=1))} | changes


def with_raw(event: dict, path: tuple[str, ...], value: object) -> dict:
    changed = json.loads(json.dumps(event))
    target = changed
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    return changed


def without(event: dict, name: str) -> dict:
    return {field: value for field, value in event.items() if field != name}


# name -> (topic, a function of the key giving the bad record)
Make = Callable[[str], object]
CASES: dict[str, tuple[str, Make]] = {
    "header value not UTF-8": (BILLING_EVENTS.name, lambda key: bad(
        BILLING_EVENTS.name, payment_failed(key), "invalid_header", headers=[("traceparent", b"\xff\xfe\x80")])),
    "header value null": (BILLING_EVENTS.name, lambda key: bad(
        BILLING_EVENTS.name, payment_failed(key), "invalid_header", headers=[("x-origin", None)])),
    "value over 64 KiB": (BILLING_EVENTS.name, lambda key: bad(
        BILLING_EVENTS.name, payment_failed(key) | {"padding": "p" * 70_000}, "too_large")),
    "not JSON": (BILLING_EVENTS.name, lambda key: bad(
        BILLING_EVENTS.name, b'{"specversion": "1.0", "id": ', "invalid_json", key=key.encode())),
    "JSON nested 1,000 levels deep": (BILLING_EVENTS.name, lambda key: bad(
        BILLING_EVENTS.name, b"[" * 1000 + b"]" * 1000, {"invalid_json", "schema_violation"}, key=key.encode())),
    "null value (a tombstone)": (BILLING_EVENTS.name, lambda key: bad(
        BILLING_EVENTS.name, None, "invalid_json", key=key.encode())),
    "key of 100 KiB": (BILLING_EVENTS.name, lambda key: bad(
        BILLING_EVENTS.name, payment_failed(key), "key_mismatch", key=key.encode() + b"k" * 100_000)),
    "unknown type": (BILLING_EVENTS.name, lambda key: bad(
        BILLING_EVENTS.name, payment_failed(key) | {"type": "billing.payment_refunded"}, "unknown_type")),
    "missing specversion": (BILLING_EVENTS.name, lambda key: bad(
        BILLING_EVENTS.name, without(payment_failed(key), "specversion"), "schema_violation")),
    "specversion 0.3": (BILLING_EVENTS.name, lambda key: bad(
        BILLING_EVENTS.name, payment_failed(key) | {"specversion": "0.3"}, "schema_violation")),
    '"3" for an int': (BILLING_EVENTS.name, lambda key: bad(
        BILLING_EVENTS.name, payment_failed(key, attempt="3"), "schema_violation")),
    "true for an int": (BILLING_EVENTS.name, lambda key: bad(
        BILLING_EVENTS.name, payment_failed(key, attempt=True), "schema_violation")),
    "attempt over 1000": (BILLING_EVENTS.name, lambda key: bad(
        BILLING_EVENTS.name, payment_failed(key, attempt=1001), "schema_violation")),
    "a unix number for a time": (BILLING_EVENTS.name, lambda key: bad(
        BILLING_EVENTS.name, payment_failed(key) | {"time": 1764150000}, "schema_violation")),
    "NaN": (BILLING_EVENTS.name, lambda key: bad(
        BILLING_EVENTS.name, payment_failed(key, amount_due=RawJson("NaN")), "schema_violation")),
    'amount_due "1E+1100000"': (BILLING_EVENTS.name, lambda key: bad(
        BILLING_EVENTS.name, payment_failed(key, amount_due="1E+1100000"), "schema_violation")),
    "amount_due 1E+1100000 as a number": (BILLING_EVENTS.name, lambda key: bad(
        BILLING_EVENTS.name, payment_failed(key, amount_due=RawJson("1E+1100000")), "schema_violation")),
    'amount_due "12.5" (a string for a number)': (BILLING_EVENTS.name, lambda key: bad(
        BILLING_EVENTS.name, payment_failed(key, amount_due="12.5"), "schema_violation")),
    "amount_due over 1e10": (BILLING_EVENTS.name, lambda key: bad(
        BILLING_EVENTS.name, payment_failed(key, amount_due=10**10 + 1), "schema_violation")),
    "amount_due negative": (BILLING_EVENTS.name, lambda key: bad(
        BILLING_EVENTS.name, payment_failed(key, amount_due=-0.01), "schema_violation")),
    "an id of 201 characters": (BILLING_EVENTS.name, lambda key: bad(
        BILLING_EVENTS.name, payment_failed(key) | {"id": "i" * 201}, "schema_violation")),
    "decline_code of 10,000 characters": (BILLING_EVENTS.name, lambda key: bad(
        BILLING_EVENTS.name, payment_failed(key, decline_code="d" * 10_000), "schema_violation")),
    "time 0001-01-01T00:00:00+01:00": (BILLING_EVENTS.name, lambda key: bad(
        BILLING_EVENTS.name, payment_failed(key) | {"time": "0001-01-01T00:00:00+01:00"}, "schema_violation")),
    "time 9999-12-31T23:59:59-01:00": (BILLING_EVENTS.name, lambda key: bad(
        BILLING_EVENTS.name, payment_failed(key) | {"time": "9999-12-31T23:59:59-01:00"}, "schema_violation")),
    "time 1969": (BILLING_EVENTS.name, lambda key: bad(
        BILLING_EVENTS.name, payment_failed(key) | {"time": "1969-12-31T23:59:59Z"}, "schema_violation")),
    "time 25 hours ahead": (BILLING_EVENTS.name, lambda key: bad(
        BILLING_EVENTS.name, payment_failed(key) | {"time": rfc3339(datetime.now(UTC) + timedelta(hours=25))},
        "time_in_future")),
    "time in 2999": (BILLING_EVENTS.name, lambda key: bad(
        BILLING_EVENTS.name, payment_failed(key) | {"time": "2999-06-01T00:00:00Z"}, "time_in_future")),
    "payment_failed stamped year 9999": (BILLING_EVENTS.name, lambda key: bad(
        BILLING_EVENTS.name, payment_failed(key) | {"time": "9999-06-01T00:00:00Z"}, "time_in_future")),
    "key is another client": (BILLING_EVENTS.name, lambda key: bad(
        BILLING_EVENTS.name, payment_failed(key + "-other"), "key_mismatch", key=key.encode())),
    "key missing": (BILLING_EVENTS.name, lambda key: bad(
        BILLING_EVENTS.name, payment_failed(key), "key_mismatch", key=None)),
    "key not UTF-8": (BILLING_EVENTS.name, lambda key: bad(
        BILLING_EVENTS.name, payment_failed(key), "key_mismatch", key=key.encode() + b"\xff")),
    "subject is another client": (BILLING_EVENTS.name, lambda key: bad(
        BILLING_EVENTS.name, payment_failed(key) | {"subject": key + "-other"}, "key_mismatch")),
    "billing.problems detail of 3,000 characters": (BILLING_PROBLEMS.name, lambda key: bad(
        BILLING_PROBLEMS.name, event_of(BILLING_PROBLEMS.name, key, "billing.problem_opened", {
            "kind": "chargeback", "detail": "x" * 3000, "opened_at": rfc3339(NOW), "open_problems": ["chargeback"]}),
        "schema_violation")),
    "contracts.commands weekly_limit_hours as a string": (CONTRACT_COMMANDS.name, lambda key: bad(
        CONTRACT_COMMANDS.name, event_of(CONTRACT_COMMANDS.name, key, "contract.open", {
            "client_id": "c", "freelancer_id": "f", "kind": "hourly", "weekly_limit_hours": "12"}),
        "schema_violation")),
    "contracts.commands key is another contract": (CONTRACT_COMMANDS.name, lambda key: bad(
        CONTRACT_COMMANDS.name, event_of(CONTRACT_COMMANDS.name, key + "-x", "contract.resume", {"actor_id": "a"}),
        "key_mismatch", key=key.encode())),
    "contracts.events version 2^63": (CONTRACT_EVENTS.name, lambda key: bad(
        CONTRACT_EVENTS.name, event_of(CONTRACT_EVENTS.name, key, "contract.opened", snapshot(key, version=2**63)),
        "schema_violation")),
    "contracts.events version 2^62": (CONTRACT_EVENTS.name, lambda key: bad(
        CONTRACT_EVENTS.name, event_of(CONTRACT_EVENTS.name, key, "contract.opened", snapshot(key, version=2**62)),
        "schema_violation")),
    "contracts.events changed_at 0001-01-01T00:00:00+01:00": (CONTRACT_EVENTS.name, lambda key: bad(
        CONTRACT_EVENTS.name, event_of(CONTRACT_EVENTS.name, key, "contract.opened",
                                       snapshot(key, changed_at="0001-01-01T00:00:00+01:00")),
        "schema_violation")),
    "time.entries.submitted started_at as a unix number": (TIME_ENTRIES_SUBMITTED.name, lambda key: bad(
        TIME_ENTRIES_SUBMITTED.name, event_of(TIME_ENTRIES_SUBMITTED.name, key, "time_entry.submitted", {
            "entry_id": run_id("e"), "freelancer_id": "f", "started_at": 1764150000,
            "ended_at": rfc3339(NOW), "source": "tracker"}), "schema_violation")),
    "time.entries.submitted ended_at 9999-12-31T23:59:59-01:00": (TIME_ENTRIES_SUBMITTED.name, lambda key: bad(
        TIME_ENTRIES_SUBMITTED.name, event_of(TIME_ENTRIES_SUBMITTED.name, key, "time_entry.submitted", {
            "entry_id": run_id("e"), "freelancer_id": "f", "started_at": rfc3339(NOW - timedelta(hours=1)),
            "ended_at": "9999-12-31T23:59:59-01:00", "source": "tracker"}), "schema_violation")),
    "time.entries minutes 2^63": (TIME_ENTRIES.name, lambda key: bad(
        TIME_ENTRIES.name, event_of(TIME_ENTRIES.name, key, "time_entry.accepted", {
            "entry_id": run_id("e"), "freelancer_id": "f", "started_at": rfc3339(NOW - timedelta(hours=1)),
            "ended_at": rfc3339(NOW), "minutes": 2**63, "payment_protection": "eligible"}), "schema_violation")),
    "time.entries subject is another contract": (TIME_ENTRIES.name, lambda key: bad(
        TIME_ENTRIES.name, event_of(TIME_ENTRIES.name, key, "time_entry.rejected", {
            "entry_id": run_id("e"), "freelancer_id": "f", "reason": "unknown_contract"}) | {"subject": "other"},
        "key_mismatch")),
}


@pytest.mark.parametrize(("topic", "make"), CASES.values(), ids=CASES.keys())
async def test_a_bad_record_is_dead_lettered_with_its_reason_and_its_neighbours_are_applied(four_services, topic, make):
    key = run_id("key")
    record = make(key)
    ledger = await through(four_services, sandwiched(topic, key, record))
    verdicts = ledger.of(record)
    assert {v.group for v in verdicts} == set(CONSUMERS[topic])
    assert all(v.outcome == "dead_lettered" for v in verdicts)
    for verdict in verdicts:
        (letter,) = verdict.letters
        topic_name, partition, offset, group = letter.source
        assert (topic_name, partition, offset) == (topic, verdict.sent.partition, verdict.sent.offset)
        assert group == verdict.group
        assert letter.record.topic == f"{topic}.dlq"
        error = letter.header("x-dlq-error")
        assert error, "x-dlq-error says what was wrong"
        assert letter.header("x-dlq-failed-at")
    assert not [death for service in four_services.values() for death in deaths(service)]


async def test_a_value_too_big_for_a_dead_letter_goes_as_a_marked_truncated_copy(four_services):
    key = run_id("client")
    event = payment_failed(key)
    original = encode(event | {"padding": ""})
    huge = original[:-1] + b',"padding2":"' + b"q" * (1_000_000 - len(original) - 14) + b'"}'
    assert 990_000 < len(huge) < 1_048_576
    json.loads(huge)
    record = bad(BILLING_EVENTS.name, huge, "too_large", key=key.encode())
    ledger = await through(four_services, sandwiched(BILLING_EVENTS.name, key, record))
    letter = only_letter(ledger, record)
    assert letter.header("x-dlq-truncated") == "true"
    assert letter.header("x-dlq-original-size") == str(len(huge))
    assert letter.header("x-dlq-original-sha256") == hashlib.sha256(huge).hexdigest()
    assert len(letter.record.value) <= 512 * 1024 and huge.startswith(letter.record.value)
    assert letter.record.key == key.encode()


async def test_a_value_just_over_64_kib_is_dead_lettered_whole(four_services):
    key = run_id("client")
    record = bad(BILLING_EVENTS.name, payment_failed(key) | {"padding": "p" * 66_000}, "too_large")
    ledger = await through(four_services, sandwiched(BILLING_EVENTS.name, key, record))
    letter = only_letter(ledger, record)
    assert letter.header("x-dlq-truncated") is None
    assert letter.record.value == record.value


async def test_one_bad_record_in_a_long_batch_of_one_partition_leaves_every_neighbour_applied(four_services):
    key = run_id("client")
    record = bad(BILLING_EVENTS.name, payment_failed(key), "invalid_header", headers=[("h", b"\xc3\x28")])
    await through(four_services, sandwiched(BILLING_EVENTS.name, key, record, before=60, after=60))


async def test_the_dead_letter_headers_say_where_it_came_from_and_never_echo_the_content(four_services):
    key = run_id("client")
    secret = "card-4242-secret-marker"
    record = bad(BILLING_EVENTS.name, payment_failed(key, attempt=secret, decline_code=secret), "schema_violation")
    ledger = await through(four_services, [record])
    letter = only_letter(ledger, record)
    names = {name for name in letter.headers}
    assert {"x-dlq-reason", "x-dlq-error", "x-dlq-source-topic", "x-dlq-source-partition", "x-dlq-source-offset",
            "x-dlq-consumer-group"} <= names
    assert letter.header("x-dlq-consumer-group") == "billing-monitor"
    assert secret not in (letter.header("x-dlq-error") or "")
    assert letter.record.value == record.value and letter.record.key == record.key


async def test_billing_monitor_never_writes_an_unbounded_detail(four_services):
    """A `payment_failed` with a huge amount is dead-lettered; the largest valid amount and decline
    code still give a bounded problem text."""
    key = run_id("client")
    huge = bad(BILLING_EVENTS.name, payment_failed(key, amount_due=RawJson("1E+1100000")), "schema_violation")
    huge_text = bad(BILLING_EVENTS.name, payment_failed(key, amount_due="1E+1100000"), "schema_violation")
    largest = payment_failed(key, amount_due=10**10, decline_code="d" * 100, attempt=1000)
    bootstrap = four_services["billing-monitor"].settings.kafka_bootstrap_servers
    async with TopicReader.opened(bootstrap, BILLING_PROBLEMS) as problems:
        await through(four_services, [huge, huge_text])
        await publish_raw(bootstrap, BILLING_EVENTS, key, [encode(largest)])
        (opened,) = await problems.wait_for(lambda e: e["data"]["client_id"] == key)
        await problems.settle(1)
    assert opened["causationid"] == largest["id"]
    assert len(opened["data"]["detail"]) <= 2000
    assert all(len(record.value) < 64 * 1024 for record in problems.records)
    assert len(problems.events(lambda e: e["data"]["client_id"] == key)) == 1


async def test_an_outbox_row_kafka_never_takes_is_parked_and_later_rows_flow(four_services):
    service = four_services["billing-monitor"]
    stuck_client, later_client = run_id("client"), run_id("client")
    async with service.store.transaction() as tx:
        await tx.connection.execute(insert(outbox).values(
            event_id=run_id("too-big"), topic=BILLING_PROBLEMS.name, key=stuck_client, type="billing.problem_opened",
            payload=b'{"padding":"' + b"z" * (2 * 1024 * 1024) + b'"}', created_at=datetime.now(UTC)))
    later = event_of(BILLING_EVENTS.name, later_client, "billing.account_suspended", {"reason": "unpaid"})
    bootstrap = service.settings.kafka_bootstrap_servers
    async with TopicReader.opened(bootstrap, BILLING_PROBLEMS) as problems:
        service.relay.wake()
        await publish_raw(bootstrap, BILLING_EVENTS, later_client, [encode(later)])
        await problems.wait_for(lambda e: e["data"]["client_id"] == later_client)
    async with service.store.reading() as connection:
        row = (await connection.execute(
            select(outbox.c.parked_at, outbox.c.sent_at).where(outbox.c.key == stuck_client))).one()
    assert row.parked_at is not None and row.sent_at is None
    transport = httpx.ASGITransport(app=service.http_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://billing-monitor") as http:
        metrics = (await http.get("/metrics")).text
    parked = [line for line in metrics.splitlines() if line.startswith("contract_pause_outbox_parked ")]
    assert parked and float(parked[0].split()[1]) >= 1
    assert not deaths(service)


async def test_a_payment_failure_stamped_year_9999_cannot_block_the_real_resolution(four_services):
    bootstrap = four_services["contract-state"].settings.kafka_bootstrap_servers
    client, contract = run_id("client"), run_id("contract")
    opening = event_of(CONTRACT_COMMANDS.name, contract, "contract.open",
                       {"client_id": client, "freelancer_id": run_id("fl"), "kind": "hourly"})
    failed = payment_failed(client) | {"time": rfc3339(datetime.now(UTC) - timedelta(minutes=3))}
    from_the_future = bad(BILLING_EVENTS.name, payment_failed(client) | {"time": "9999-06-01T00:00:00Z"},
                          {"time_in_future", "schema_violation"})
    succeeded = event_of(BILLING_EVENTS.name, client, "billing.payment_succeeded", {},
                         time=rfc3339(datetime.now(UTC) - timedelta(minutes=1)))
    async with TopicReader.opened(bootstrap, CONTRACT_EVENTS) as events:
        await publish_raw(bootstrap, CONTRACT_COMMANDS, contract, [encode(opening)])
        await events.wait_for(lambda e: e["type"] == "contract.opened" and e["data"]["contract_id"] == contract)
        await publish_raw(bootstrap, BILLING_EVENTS, client, [encode(failed)])
        await events.wait_for(lambda e: e["type"] == "contract.paused" and e["data"]["contract_id"] == contract)
        ledger = await through(four_services, [from_the_future])
        await publish_raw(bootstrap, BILLING_EVENTS, client, [encode(succeeded)])
        (resumed,) = await events.wait_for(
            lambda e: e["type"] == "contract.resumed" and e["data"]["contract_id"] == contract, timeout=30)
    assert resumed["data"]["holds"] == [] and resumed["data"]["status"] == "active"
    assert [v.outcome for v in ledger.of(from_the_future)] == ["dead_lettered"]


async def test_one_event_id_on_two_topics_is_applied_on_each(four_services):
    """time-tracking: an id first seen on contracts.events, then on time.entries.submitted, still gets a verdict."""
    bootstrap = four_services["time-tracking"].settings.kafka_bootstrap_servers
    contract, freelancer = run_id("contract"), run_id("fl")
    shared_id = run_id("same-id")
    opened = event_of(CONTRACT_EVENTS.name, contract, "contract.opened",
                      snapshot(contract, freelancer_id=freelancer, changed_at=rfc3339(NOW - timedelta(hours=5))),
                      id=shared_id)
    submitted = event_of(TIME_ENTRIES_SUBMITTED.name, contract, "time_entry.submitted", {
        "entry_id": run_id("entry"), "freelancer_id": freelancer, "started_at": rfc3339(NOW - timedelta(hours=3)),
        "ended_at": rfc3339(NOW - timedelta(hours=2)), "source": "tracker"}, id=shared_id)
    async with TopicReader.opened(bootstrap, TIME_ENTRIES) as verdicts:
        await publish_raw(bootstrap, CONTRACT_EVENTS, contract, [encode(opened)])
        await _until_in_inbox(four_services["time-tracking"], CONTRACT_EVENTS.name, shared_id)
        await publish_raw(bootstrap, TIME_ENTRIES_SUBMITTED, contract, [encode(submitted)])
        (verdict,) = await verdicts.wait_for(lambda e: e["data"]["entry_id"] == submitted["data"]["entry_id"])
    assert verdict["type"] == "time_entry.accepted" and verdict["causationid"] == shared_id


HANDLED = {
    "billing-monitor, one event at a time": ("billing-monitor", BILLING_EVENTS.name, "billing.account_reinstated", {}),
    "time-tracking, a whole batch at once": ("time-tracking", TIME_ENTRIES_SUBMITTED.name, "time_entry.submitted", {
        "entry_id": "doomed", "freelancer_id": "f", "started_at": rfc3339(NOW - timedelta(hours=2)),
        "ended_at": rfc3339(NOW - timedelta(hours=1)), "source": "tracker"}),
}


@pytest.mark.parametrize(("name", "topic", "event_type", "data"), HANDLED.values(), ids=HANDLED.keys())
async def test_a_handler_that_keeps_failing_dead_letters_only_its_event(four_services, name, topic, event_type, data):
    service = four_services[name]
    key = run_id("key")
    doomed = bad(topic, event_of(topic, key, event_type, data), "handler_error")
    intake = next(intake for intake in service.intakes if intake.topic.name == topic)
    one, many = intake._apply, intake._apply_batch  # noqa: SLF001 - the real handlers, made to fail for one event
    calls = []

    async def failing_on_one(tx, event):  # noqa: ANN001, ANN202
        if event.id == doomed.event_id:
            calls.append(time.monotonic())
            raise RuntimeError("this handler fails on this event, every time")
        return await one(tx, event)

    async def batch_failing_on_one(tx, events):  # noqa: ANN001, ANN202
        if any(event.id == doomed.event_id for event in events):
            raise RuntimeError("the batch holds the event the handler fails on")
        return await many(tx, events)

    intake._apply = failing_on_one  # noqa: SLF001
    if many is not None:
        intake._apply_batch = batch_failing_on_one  # noqa: SLF001
    try:
        ledger = await through(four_services, sandwiched(topic, key, doomed, before=5, after=5))
    finally:
        intake._apply, intake._apply_batch = one, many  # noqa: SLF001
    assert [v.reasons for v in ledger.of(doomed)] == [("handler_error",)]
    assert len(calls) >= 3, "three attempts before giving up"
    assert not deaths(service)


def only_letter(ledger, record):  # noqa: ANN001, ANN201
    """The one dead letter a record got (topics read by one group)."""
    (verdict,) = ledger.of(record)
    (letter,) = verdict.letters
    return letter


async def _until_in_inbox(service, topic: str, event_id: str, timeout: float = 30) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while event_id not in await applied_ids(service, topic):
        assert time.monotonic() < deadline, f"{event_id} never applied from {topic}"
        await asyncio.sleep(0.1)


def test_the_cases_cover_every_consumed_topic():
    assert {topic for topic, _ in CASES.values()} == set(CONSUMERS)
