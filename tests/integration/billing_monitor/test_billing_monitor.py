"""billing-monitor in-process against the real broker: every rule end to end, no event without a change,
duplicates, dead letters, and delivery order not mattering."""

import random

import pytest

from services.billing_monitor.app import Settings, build
from shared.topics import BILLING_EVENTS, BILLING_PROBLEMS
from tests.integration.billing_monitor.helpers import (
    new_client,
    oracle,
    standing_over_http,
    summary,
    told,
    wait_for_standing,
    wait_told,
)
from tests.support import TopicReader, publish, publish_raw, running
from tests.unit.billing_monitor.facts import at, fact

OPENED, RESOLVED = "billing.problem_opened", "billing.problem_resolved"

# (facts in time order, what billing.problems must say). Where a fact must emit nothing, a later
# suspension follows it: its event arriving proves the silent fact was processed before it.
SCENARIOS = {
    "payment_failed opens": (
        ["payment_failed"],
        [(OPENED, "payment_failed", ["payment_failed"])],
    ),
    "payment_succeeded resolves": (
        ["payment_failed", "payment_succeeded"],
        [(OPENED, "payment_failed", ["payment_failed"]), (RESOLVED, "payment_failed", [])],
    ),
    "payment_method_expired opens, updated resolves": (
        ["payment_method_expired", "payment_method_updated"],
        [(OPENED, "payment_method_invalid", ["payment_method_invalid"]), (RESOLVED, "payment_method_invalid", [])],
    ),
    "payment_method_removed opens": (
        ["payment_method_removed"],
        [(OPENED, "payment_method_invalid", ["payment_method_invalid"])],
    ),
    "payment_method_updated resolves both": (
        ["payment_failed", "payment_method_removed", "payment_method_updated"],
        [
            (OPENED, "payment_failed", ["payment_failed"]),
            (OPENED, "payment_method_invalid", ["payment_failed", "payment_method_invalid"]),
            (RESOLVED, "payment_method_invalid", ["payment_failed"]),
            (RESOLVED, "payment_failed", []),
        ],
    ),
    "account_suspended opens, reinstated resolves": (
        ["account_suspended", "account_reinstated"],
        [(OPENED, "account_suspended", ["account_suspended"]), (RESOLVED, "account_suspended", [])],
    ),
    "chargeback won resolves": (
        ["chargeback_opened", "chargeback_won"],
        [(OPENED, "chargeback", ["chargeback"]), (RESOLVED, "chargeback", [])],
    ),
    "chargeback lost keeps it open": (
        ["chargeback_opened", "chargeback_lost", "account_suspended"],
        [(OPENED, "chargeback", ["chargeback"]), (OPENED, "account_suspended", ["account_suspended", "chargeback"])],
    ),
    "a second failure emits nothing": (
        ["payment_failed", "payment_failed", "account_suspended"],
        [(OPENED, "payment_failed", ["payment_failed"]), (OPENED, "account_suspended", ["account_suspended", "payment_failed"])],
    ),
}


@pytest.mark.parametrize(("names", "expected"), SCENARIOS.values(), ids=SCENARIOS.keys())
async def test_each_rule_end_to_end(settings_for, registry_topics, names, expected):
    client = new_client()
    facts = [fact(name, client, at(minute)) for minute, name in enumerate(names)]
    async with TopicReader.opened(registry_topics, BILLING_PROBLEMS) as problems:
        async with running(build(settings_for(Settings))):
            await publish(registry_topics, BILLING_EVENTS, facts)
            events = await wait_told(problems, client, count=len(expected))
    assert summary(events) == expected
    _, changes = oracle(facts)
    assert [event["id"] for event in events] == [change.id for change in changes]
    causes = {billing_fact.id: billing_fact for billing_fact in facts}
    for event in events:
        cause = causes[event["causationid"]]
        assert event["correlationid"] == cause.id and event["source"] == "billing-monitor"
        moment = "opened_at" if event["type"] == OPENED else "resolved_at"
        assert event["data"][moment] == cause.time.isoformat().replace("+00:00", "Z")


async def test_a_late_fact_changes_nothing(settings_for, registry_topics):
    client = new_client()
    facts = [
        fact("payment_failed", client, at(1)),
        fact("payment_succeeded", client, at(3)),
        fact("payment_failed", client, at(2)),  # late: the payment succeeded after it
        fact("account_suspended", client, at(4)),
    ]
    async with TopicReader.opened(registry_topics, BILLING_PROBLEMS) as problems:
        async with running(build(settings_for(Settings))):
            await publish(registry_topics, BILLING_EVENTS, facts)
            events = await wait_told(problems, client, count=3)
    assert summary(events) == [
        (OPENED, "payment_failed", ["payment_failed"]),
        (RESOLVED, "payment_failed", []),
        (OPENED, "account_suspended", ["account_suspended"]),
    ]


async def test_an_event_published_three_times_opens_one_problem(settings_for, registry_topics):
    client = new_client()
    failure = fact("payment_failed", client, at(1))
    closing = fact("chargeback_opened", client, at(2))  # its event proves the copies were processed
    async with TopicReader.opened(registry_topics, BILLING_PROBLEMS) as problems:
        async with running(build(settings_for(Settings))) as service:
            await publish(registry_topics, BILLING_EVENTS, [failure, failure, failure, closing])
            events = await wait_told(problems, client, count=2)
            await problems.settle()
        assert service.intakes[0].duplicates == 2
    assert summary(told(problems, client)) == [
        (OPENED, "payment_failed", ["payment_failed"]),
        (OPENED, "chargeback", ["chargeback", "payment_failed"]),
    ]
    assert events[0]["causationid"] == failure.id


async def test_unknown_types_and_invalid_payloads_are_dead_lettered_and_the_partition_moves_on(
    settings_for, registry_topics
):
    client = new_client()
    template = fact("payment_failed", client, at(1)).to_json()
    unknown_type = template.replace(b'"billing.payment_failed"', b'"billing.payment_refunded"')
    attempt_zero = template.replace(b'"attempt":2', b'"attempt":0')
    assert unknown_type != template and attempt_zero != template
    good = fact("account_suspended", client, at(2))
    async with (
        TopicReader.opened(registry_topics, BILLING_PROBLEMS) as problems,
        TopicReader.opened(registry_topics, BILLING_EVENTS.dlq) as dead,
    ):
        async with running(build(settings_for(Settings))):
            # One key, so one partition: the bad messages come before the good one.
            await publish_raw(registry_topics, BILLING_EVENTS, client, [unknown_type, attempt_zero, good.to_json()])
            events = await wait_told(problems, client, count=1)
            await dead.wait_for_records(2)
    assert summary(events) == [(OPENED, "account_suspended", ["account_suspended"])]
    parked = [record for record in dead.records if record.key == client.encode()]
    assert [record.value for record in parked] == [unknown_type, attempt_zero]
    headers = [dict(record.headers) for record in parked]
    assert [h["x-dlq-reason"] for h in headers] == [b"unknown_type", b"schema_violation"]
    assert b"attempt" in headers[1]["x-dlq-error"]
    assert {h["x-dlq-consumer-group"] for h in headers} == {b"billing-monitor"}
    assert {h["x-dlq-source-topic"] for h in headers} == {BILLING_EVENTS.name.encode()}


async def test_shuffled_delivery_ends_in_the_standing_of_ordered_delivery(settings_for, registry_topics):
    # In time order; delivered backwards, the openings come last and only their times keep them out.
    names = [
        "payment_failed", "payment_method_expired", "account_suspended", "chargeback_opened", "payment_succeeded",
        "chargeback_won", "payment_method_removed", "account_reinstated", "payment_method_updated", "payment_failed",
    ]
    in_time_order = list(enumerate(names))
    shuffled = in_time_order[:]
    random.Random(20261126).shuffle(shuffled)
    deliveries = {"ordered": in_time_order, "reversed": in_time_order[::-1], "shuffled": shuffled}
    clients = {label: new_client() for label in deliveries}
    facts = {
        label: [fact(name, clients[label], at(minute)) for minute, name in delivery]
        for label, delivery in deliveries.items()
    }
    async with TopicReader.opened(registry_topics, BILLING_PROBLEMS) as problems:
        async with running(build(settings_for(Settings))) as service:
            for delivered in facts.values():
                await publish(registry_topics, BILLING_EVENTS, delivered)
            standings = {}
            for label, delivered in facts.items():
                expected_standing, expected_changes = oracle(delivered)
                watermarks = {kind: t.isoformat() for kind, t in sorted(expected_standing.latest_fact_at.items())}
                standings[label] = await wait_for_standing(service, clients[label], watermarks)
                events = await wait_told(problems, clients[label], count=len(expected_changes))
                assert [e["id"] for e in events] == [c.id for c in expected_changes], label
                assert events[-1]["data"]["open_problems"] == standings[label]["open_problems"], label
    assert standings["ordered"]["open_problems"] == ["payment_failed"]
    for label in ("reversed", "shuffled"):
        assert standings[label]["open_problems"] == standings["ordered"]["open_problems"], label
        assert standings[label]["latest_fact_at"] == standings["ordered"]["latest_fact_at"], label


async def test_the_http_view_shows_a_client_what_is_open_and_why(settings_for, registry_topics):
    client = new_client()
    suspension = fact("account_suspended", client, at(1))
    async with TopicReader.opened(registry_topics, BILLING_PROBLEMS) as problems:
        async with running(build(settings_for(Settings))) as service:
            assert (await standing_over_http(service, client))["open_problems"] == []
            await publish(registry_topics, BILLING_EVENTS, [suspension])
            (opened,) = await wait_told(problems, client, count=1)
            view = await standing_over_http(service, client)
    assert view["open_problems"] == ["account_suspended"]
    assert view["problems"]["account_suspended"]["detail"] == opened["data"]["detail"]
    assert "unpaid invoices" in opened["data"]["detail"]
