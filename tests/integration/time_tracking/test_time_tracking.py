"""time-tracking in-process against the real broker: the gate for submitted time, the status history
from contracts.events in any order, late pauses, duplicates, dead letters."""

from datetime import UTC, datetime

from services.time_tracking.app import Settings, build
from shared.events.time_entries import TimeEntrySubmitted
from shared.topics import CONTRACT_EVENTS, TIME_ENTRIES, TIME_ENTRIES_SUBMITTED
from tests.integration.time_tracking.helpers import Contract, about, until_known, verdict_on
from tests.support import TopicReader, publish, publish_raw, running


async def test_time_submitted_while_paused_is_rejected(settings_for):
    contract = Contract()
    entry = contract.submitted(3, 4)
    async with running(build(settings_for(Settings))) as service:
        bootstrap = service.settings.kafka_bootstrap_servers
        async with TopicReader.opened(bootstrap, TIME_ENTRIES) as verdicts:
            await publish(bootstrap, CONTRACT_EVENTS, [contract.version(1, "active", 0), contract.version(2, "paused", 2)])
            await until_known(service, contract.contract_id, 1, 2)
            await publish(bootstrap, TIME_ENTRIES_SUBMITTED, [entry])
            verdict = await verdict_on(verdicts, entry.data.entry_id)
    assert verdict["type"] == "time_entry.rejected"
    assert verdict["data"] == {"entry_id": entry.data.entry_id, "contract_id": contract.contract_id,
                               "freelancer_id": contract.freelancer_id, "reason": "contract_paused"}
    assert verdict["causationid"] == entry.id and verdict["source"] == "time-tracking"
    assert verdicts.records[-1].key == contract.contract_id.encode()


async def test_time_before_a_pause_is_accepted_and_stays_eligible(settings_for):
    contract = Contract()
    entry = contract.submitted(1, 2.5)
    async with running(build(settings_for(Settings))) as service:
        bootstrap = service.settings.kafka_bootstrap_servers
        async with TopicReader.opened(bootstrap, TIME_ENTRIES) as verdicts:
            await publish(bootstrap, CONTRACT_EVENTS, [contract.version(1, "active", 0)])
            await until_known(service, contract.contract_id, 1)
            await publish(bootstrap, TIME_ENTRIES_SUBMITTED, [entry])
            accepted = await verdict_on(verdicts, entry.data.entry_id)
            await publish(bootstrap, CONTRACT_EVENTS, [contract.version(2, "paused", 3)])
            await until_known(service, contract.contract_id, 2)
            await verdicts.settle()
    assert accepted["type"] == "time_entry.accepted"
    assert accepted["data"]["minutes"] == 90 and accepted["data"]["payment_protection"] == "eligible"
    assert datetime.fromisoformat(accepted["data"]["started_at"]) == contract.at(1)
    assert verdicts.events(about(contract.contract_id)) == [accepted], "no revocation for work before the pause"


async def test_time_after_a_resume_is_accepted_and_time_in_the_pause_is_not(settings_for):
    contract = Contract()
    after, during = contract.submitted(4, 5), contract.submitted(2.5, 3.5)
    async with running(build(settings_for(Settings))) as service:
        bootstrap = service.settings.kafka_bootstrap_servers
        async with TopicReader.opened(bootstrap, TIME_ENTRIES) as verdicts:
            await publish(bootstrap, CONTRACT_EVENTS, [
                contract.version(1, "active", 0), contract.version(2, "paused", 2), contract.version(3, "active", 3),
            ])
            await until_known(service, contract.contract_id, 1, 2, 3)
            await publish(bootstrap, TIME_ENTRIES_SUBMITTED, [after, during])
            accepted, rejected = await verdict_on(verdicts, after.data.entry_id), await verdict_on(verdicts, during.data.entry_id)
    assert accepted["type"] == "time_entry.accepted" and accepted["data"]["payment_protection"] == "eligible"
    assert rejected["type"] == "time_entry.rejected" and rejected["data"]["reason"] == "contract_paused"


async def test_each_refusal_and_manual_time(settings_for):
    hourly, fixed, ended = Contract(), Contract(kind="fixed_price"), Contract()
    cases = {
        "manual": (hourly.submitted(1, 2, source="manual"), "time_entry.accepted", "not_covered"),
        "stranger": (hourly.submitted(1, 2, freelancer_id="fl-someone-else"), "time_entry.rejected",
                     "not_contract_freelancer"),
        "fixed": (fixed.submitted(1, 2), "time_entry.rejected", "not_hourly"),
        "ended": (ended.submitted(1, 2), "time_entry.rejected", "contract_ended"),
        "unknown": (Contract().submitted(1, 2), "time_entry.rejected", "unknown_contract"),
        "backwards": (hourly.submitted(2, 1), "time_entry.rejected", "invalid_interval"),
        "too long": (hourly.submitted(0, 25), "time_entry.rejected", "invalid_interval"),
        "future": (hourly.submitted(19, 21), "time_entry.rejected", "invalid_interval"),
    }
    async with running(build(settings_for(Settings))) as service:
        bootstrap = service.settings.kafka_bootstrap_servers
        async with TopicReader.opened(bootstrap, TIME_ENTRIES) as verdicts:
            await publish(bootstrap, CONTRACT_EVENTS, [
                hourly.version(1, "active", 0), fixed.version(1, "active", 0),
                ended.version(1, "active", 0), ended.version(2, "ended", 5),
            ])
            for contract, version in ((hourly, 1), (fixed, 1), (ended, 2)):
                await until_known(service, contract.contract_id, version)
            await publish(bootstrap, TIME_ENTRIES_SUBMITTED, [entry for entry, *_ in cases.values()])
            outcomes = {name: await verdict_on(verdicts, entry.data.entry_id) for name, (entry, *_) in cases.items()}
    for name, (_, event_type, detail) in cases.items():
        data = outcomes[name]["data"]
        assert (outcomes[name]["type"], data.get("payment_protection") or data.get("reason")) == (event_type, detail), name


async def test_resubmitting_an_entry_records_it_once(settings_for):
    contract = Contract()
    entry = contract.submitted(1, 2)
    same_entry_new_event = TimeEntrySubmitted.new(entry.data, source="tracker-app", time=datetime.now(UTC))
    refused = contract.submitted(1, 2, freelancer_id="fl-someone-else")
    async with running(build(settings_for(Settings))) as service:
        bootstrap = service.settings.kafka_bootstrap_servers
        async with TopicReader.opened(bootstrap, TIME_ENTRIES) as verdicts:
            await publish(bootstrap, CONTRACT_EVENTS, [contract.version(1, "active", 0)])
            await until_known(service, contract.contract_id, 1)
            await publish(bootstrap, TIME_ENTRIES_SUBMITTED, [entry, entry, refused, same_entry_new_event, refused])
            await verdicts.wait_for(about(contract.contract_id), count=2)
            # The same entry_id again, now that its first verdict is out: still nothing new.
            await publish(bootstrap, TIME_ENTRIES_SUBMITTED, [
                TimeEntrySubmitted.new(entry.data, source="tracker-app", time=datetime.now(UTC))
            ])
            await verdicts.settle(2)
            submissions = {intake.topic.name: intake for intake in service.intakes}[TIME_ENTRIES_SUBMITTED.name]
    published = verdicts.events(about(contract.contract_id))
    assert sorted((e["data"]["entry_id"], e["type"]) for e in published) == sorted([
        (entry.data.entry_id, "time_entry.accepted"), (refused.data.entry_id, "time_entry.rejected"),
    ])
    assert submissions.duplicates == 2  # the same event ids; the other two are resubmissions, judged no more


async def test_contract_events_in_any_order_keep_the_highest_version_and_every_interval(settings_for):
    contract = Contract()
    v1, v2, v3, v4 = (contract.version(1, "active", 0), contract.version(2, "paused", 2),
                      contract.version(3, "active", 4), contract.version(4, "paused", 6))
    in_first_pause, between, in_second_pause = contract.submitted(2.5, 3), contract.submitted(4.5, 5.5), \
        contract.submitted(6.5, 7)
    async with running(build(settings_for(Settings))) as service:
        bootstrap = service.settings.kafka_bootstrap_servers
        async with TopicReader.opened(bootstrap, TIME_ENTRIES) as verdicts:
            await publish(bootstrap, CONTRACT_EVENTS, [v3, v1])
            await until_known(service, contract.contract_id, 1, 3)
            await publish(bootstrap, TIME_ENTRIES_SUBMITTED, [between])
            assert (await verdict_on(verdicts, between.data.entry_id))["type"] == "time_entry.accepted"

            await publish(bootstrap, CONTRACT_EVENTS, [v2])  # late: v3 stays current, its pause is history
            await until_known(service, contract.contract_id, 2)
            await publish(bootstrap, TIME_ENTRIES_SUBMITTED, [in_first_pause, in_second_pause])
            first = await verdict_on(verdicts, in_first_pause.data.entry_id)
            before_v4 = await verdict_on(verdicts, in_second_pause.data.entry_id)

            await publish(bootstrap, CONTRACT_EVENTS, [v4, v2, v1])  # v4 pauses it now; v2, v1 again change nothing
            await until_known(service, contract.contract_id, 4)
            late = contract.submitted(0.5, 1)
            await publish(bootstrap, TIME_ENTRIES_SUBMITTED, [late])
            after_v4 = await verdict_on(verdicts, late.data.entry_id)
            await verdicts.settle()
    assert (first["type"], first["data"]["reason"]) == ("time_entry.rejected", "contract_paused")
    assert before_v4["type"] == "time_entry.accepted", "v2 arriving late did not roll the status back to paused"
    assert (after_v4["type"], after_v4["data"]["reason"]) == ("time_entry.rejected", "contract_paused")
    revoked = verdicts.events(lambda e: e["type"] == "time_entry.protection_revoked" and about(contract.contract_id)(e))
    assert [e["data"]["entry_id"] for e in revoked] == [in_second_pause.data.entry_id]


async def test_a_pause_learned_late_revokes_protection_of_the_work_it_covers_once(settings_for):
    contract = Contract()
    before, across, during, after_resume = (contract.submitted(1, 2), contract.submitted(2.5, 3.5),
                                            contract.submitted(4, 5), contract.submitted(6.5, 7))
    manual = contract.submitted(4, 5, source="manual")
    async with running(build(settings_for(Settings))) as service:
        bootstrap = service.settings.kafka_bootstrap_servers
        async with TopicReader.opened(bootstrap, TIME_ENTRIES) as verdicts:
            await publish(bootstrap, CONTRACT_EVENTS, [contract.version(1, "active", 0)])
            await until_known(service, contract.contract_id, 1)
            entries = [before, across, during, after_resume, manual]
            await publish(bootstrap, TIME_ENTRIES_SUBMITTED, entries)
            await verdicts.wait_for(about(contract.contract_id), count=len(entries))

            # The pause (at 3h) and resume (at 6h) reach time-tracking only now, resume first.
            await publish(bootstrap, CONTRACT_EVENTS, [contract.version(3, "active", 6), contract.version(2, "paused", 3)])
            revoked = await verdicts.wait_for(lambda e: e["type"] == "time_entry.protection_revoked"
                                              and about(contract.contract_id)(e), count=2)
            # Learning the pause again, or the end of the contract later, revokes nothing twice.
            await publish(bootstrap, CONTRACT_EVENTS, [contract.version(2, "paused", 3), contract.version(4, "ended", 8)])
            await until_known(service, contract.contract_id, 4)
            await verdicts.settle()
    accepted = verdicts.events(lambda e: e["type"] == "time_entry.accepted" and about(contract.contract_id)(e))
    assert len(accepted) == len(entries)
    assert sorted(e["data"]["entry_id"] for e in revoked) == sorted([across.data.entry_id, during.data.entry_id])
    assert all(e["data"]["reason"] == "work_during_pause" for e in revoked)
    assert len(verdicts.events(lambda e: e["type"] == "time_entry.protection_revoked"
                               and about(contract.contract_id)(e))) == 2


async def test_unreadable_submissions_are_dead_lettered_and_the_partition_moves_on(settings_for):
    contract = Contract()
    good = contract.submitted(1, 2)
    no_source = good.to_json().replace(b',"source":"tracker"}', b"}")
    wrong_type = good.to_json().replace(b'"time_entry.submitted"', b'"time_entry.deleted"')
    async with running(build(settings_for(Settings))) as service:
        bootstrap = service.settings.kafka_bootstrap_servers
        async with (
            TopicReader.opened(bootstrap, TIME_ENTRIES) as verdicts,
            TopicReader.opened(bootstrap, TIME_ENTRIES_SUBMITTED.dlq) as dead,
        ):
            await publish(bootstrap, CONTRACT_EVENTS, [contract.version(1, "active", 0)])
            await until_known(service, contract.contract_id, 1)
            await publish_raw(bootstrap, TIME_ENTRIES_SUBMITTED, contract.contract_id,
                              [b"{not json", no_source, wrong_type, good.to_json()])
            verdict = await verdict_on(verdicts, good.data.entry_id)
            await dead.wait_for_records(3)
    mine = [record for record in dead.records if record.key == contract.contract_id.encode()]
    assert [dict(record.headers)["x-dlq-reason"] for record in mine] == [b"invalid_json", b"schema_violation",
                                                                         b"unknown_type"]
    assert [record.value for record in mine] == [b"{not json", no_source, wrong_type]
    assert b"source" in dict(mine[1].headers)["x-dlq-error"]
    assert all(dict(record.headers)["x-dlq-consumer-group"] == b"time-tracking" for record in mine)
    assert verdict["type"] == "time_entry.accepted"
