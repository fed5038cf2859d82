"""time-tracking's HTTP API for tracker apps: the same rules, the same store and the same published
verdicts as the Kafka path."""

import asyncio
from datetime import UTC, datetime

from services.time_tracking.app import Settings, build
from shared.events.time_entries import TimeEntrySubmitted
from shared.topics import CONTRACT_EVENTS, TIME_ENTRIES, TIME_ENTRIES_SUBMITTED
from tests.integration.time_tracking.helpers import Contract, about, http_client, until_known, verdict_on
from tests.support import TopicReader, bearer, publish, running


def as_json(data) -> dict:  # noqa: ANN001 - submission data
    return data.model_dump(mode="json")


def as_freelancer(data) -> dict[str, str]:  # noqa: ANN001 - submission data
    """The headers of the freelancer the entry names, submitting as themselves."""
    return bearer(data.freelancer_id, "freelancer")


SUPPORT = bearer("support-1", "support")


async def test_http_and_kafka_give_the_same_answers_for_the_same_cases(settings_for):
    active, paused, fixed, unknown = Contract(), Contract(), Contract(kind="fixed_price"), Contract()
    cases = {
        "tracked": lambda: active.submission_data(1, 2.5),
        "manual": lambda: active.submission_data(1, 2, source="manual"),
        "paused": lambda: paused.submission_data(1, 2),
        "stranger": lambda: active.submission_data(1, 2, freelancer_id="fl-stranger"),
        "fixed": lambda: fixed.submission_data(1, 2),
        "backwards": lambda: active.submission_data(2, 1),
        "unknown": lambda: unknown.submission_data(1, 2),
    }
    over_http = {name: make() for name, make in cases.items()}
    over_kafka = {name: make() for name, make in cases.items()}
    async with running(build(settings_for(Settings))) as service:
        bootstrap = service.settings.kafka_bootstrap_servers
        async with TopicReader.opened(bootstrap, TIME_ENTRIES) as verdicts, http_client(service) as http:
            await publish(bootstrap, CONTRACT_EVENTS, [
                active.version(1, "active", 0), fixed.version(1, "active", 0),
                paused.version(1, "active", 0), paused.version(2, "paused", 3),
            ])
            for contract, version in ((active, 1), (fixed, 1), (paused, 2)):
                await until_known(service, contract.contract_id, version)
            await publish(bootstrap, TIME_ENTRIES_SUBMITTED, [
                TimeEntrySubmitted.new(data, source="tracker-app", time=datetime.now(UTC)) for data in over_kafka.values()
            ])
            answers = {name: await http.post("/time-entries", json=as_json(data), headers=as_freelancer(data))
                       for name, data in over_http.items()}
            from_http = {name: await verdict_on(verdicts, data.entry_id) for name, data in over_http.items()}
            from_kafka = {name: await verdict_on(verdicts, data.entry_id) for name, data in over_kafka.items()}

    def same_fields(event: dict) -> tuple[str, dict]:
        return event["type"], {k: v for k, v in event["data"].items() if k != "entry_id"}

    for name in cases:
        assert same_fields(from_http[name]) == same_fields(from_kafka[name]), name
        answer, event = answers[name], from_http[name]
        if event["type"] == "time_entry.accepted":
            assert answer.status_code == 201, name
            assert answer.json() == {"status": "accepted", "entry_id": over_http[name].entry_id,
                                     "minutes": event["data"]["minutes"],
                                     "payment_protection": event["data"]["payment_protection"]}
        else:
            assert answer.status_code == 409, name
            assert answer.json() == {"status": "rejected", "entry_id": over_http[name].entry_id,
                                     "reason": event["data"]["reason"]}
        assert event["source"] == "time-tracking" and event["subject"] == event["data"]["contract_id"]
    assert from_http["tracked"]["data"]["minutes"] == 90
    assert from_http["manual"]["data"]["payment_protection"] == "not_covered"
    assert [from_http[name]["data"]["reason"] for name in ("paused", "stranger", "fixed", "backwards", "unknown")] \
        == ["contract_paused", "not_contract_freelancer", "not_hourly", "invalid_interval", "unknown_contract"]


async def test_resubmitting_over_http_answers_the_first_verdict_and_publishes_nothing_new(settings_for):
    contract = Contract()
    accepted, refused = contract.submission_data(1, 2), contract.submission_data(1, 2, freelancer_id="fl-other")
    async with running(build(settings_for(Settings))) as service:
        bootstrap = service.settings.kafka_bootstrap_servers
        async with TopicReader.opened(bootstrap, TIME_ENTRIES) as verdicts, http_client(service) as http:
            await publish(bootstrap, CONTRACT_EVENTS, [contract.version(1, "active", 0)])
            await until_known(service, contract.contract_id, 1)
            first = await http.post("/time-entries", json=as_json(accepted), headers=as_freelancer(accepted))
            await publish(bootstrap, CONTRACT_EVENTS, [contract.version(2, "paused", 5)])
            await until_known(service, contract.contract_id, 2)
            # paused now: the first verdict stands
            again = await http.post("/time-entries", json=as_json(accepted), headers=as_freelancer(accepted))
            refused_first = await http.post("/time-entries", json=as_json(refused), headers=as_freelancer(refused))
            refused_again = await http.post("/time-entries", json=as_json(refused), headers=as_freelancer(refused))
            await publish(bootstrap, TIME_ENTRIES_SUBMITTED, [
                TimeEntrySubmitted.new(accepted, source="tracker-app", time=datetime.now(UTC))
            ])
            await verdicts.wait_for(about(contract.contract_id), count=2)
            await verdicts.settle(2)
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json() == again.json() == {"status": "accepted", "entry_id": accepted.entry_id, "minutes": 60,
                                            "payment_protection": "eligible"}
    assert (refused_first.status_code, refused_again.status_code) == (409, 409)
    assert refused_first.json() == refused_again.json()
    published = verdicts.events(about(contract.contract_id))
    assert sorted(e["type"] for e in published) == ["time_entry.accepted", "time_entry.rejected"]


async def test_requests_sent_together_answer_as_if_sent_one_after_another(settings_for):
    contract = Contract()
    accepted, refused = contract.submission_data(1, 2), contract.submission_data(1, 2, freelancer_id="fl-other")
    others = [contract.submission_data(3, 4) for _ in range(30)]
    together = [accepted, refused, *others, accepted, refused]  # judged in one group or a few
    async with running(build(settings_for(Settings))) as service:
        bootstrap = service.settings.kafka_bootstrap_servers
        async with TopicReader.opened(bootstrap, TIME_ENTRIES) as verdicts, http_client(service) as http:
            await publish(bootstrap, CONTRACT_EVENTS, [contract.version(1, "active", 0)])
            await until_known(service, contract.contract_id, 1)
            answers = await asyncio.gather(*(
                http.post("/time-entries", json=as_json(data), headers=as_freelancer(data)) for data in together
            ))
            await verdicts.wait_for(about(contract.contract_id), count=32)
            await verdicts.settle(1)
    by_entry: dict[str, list] = {}
    for data, answer in zip(together, answers, strict=True):
        by_entry.setdefault(data.entry_id, []).append(answer)
    assert sorted(answer.status_code for answer in by_entry[accepted.entry_id]) == [200, 201]
    assert [answer.status_code for answer in by_entry[refused.entry_id]] == [409, 409]
    for twice in (by_entry[accepted.entry_id], by_entry[refused.entry_id]):
        assert twice[0].json() == twice[1].json()
    assert all(answer.status_code == 201 for data in others for answer in by_entry[data.entry_id])
    published = verdicts.events(about(contract.contract_id))
    assert len(published) == 32 and len({event["data"]["entry_id"] for event in published}) == 32


async def test_malformed_requests_get_a_readable_422(settings_for):
    contract = Contract()
    valid = as_json(contract.submission_data(1, 2))
    freelancer = bearer(contract.freelancer_id, "freelancer")
    async with running(build(settings_for(Settings))) as service, http_client(service) as http:
        not_json = await http.post("/time-entries", content=b"{entry", headers=freelancer)
        missing = await http.post("/time-entries", json={k: v for k, v in valid.items() if k != "freelancer_id"},
                                  headers=freelancer)
        naive = await http.post("/time-entries", json=valid | {"started_at": "2026-01-01T10:00:00"}, headers=freelancer)
        bad_source = await http.post("/time-entries", json=valid | {"source": "guess"}, headers=freelancer)
        listed = await http.get(f"/contracts/{contract.contract_id}/time-entries", headers=SUPPORT)
    for answer in (not_json, missing, naive, bad_source):
        assert answer.status_code == 422 and answer.json()["error"] == "invalid"
    assert "JSON" in not_json.json()["detail"]
    assert "freelancer_id" in missing.json()["detail"]
    assert "started_at" in naive.json()["detail"] and "timezone" in naive.json()["detail"]
    assert "source" in bad_source.json()["detail"]
    assert listed.json() == {"contract_id": contract.contract_id, "entries": []}, "nothing was recorded"


async def test_the_list_shows_what_was_recorded_latest_work_first_with_revocations(settings_for):
    contract = Contract()
    early, late, refused = (contract.submission_data(1, 2), contract.submission_data(3, 4.5),
                            contract.submission_data(5, 6, freelancer_id="fl-other"))
    async with running(build(settings_for(Settings))) as service:
        bootstrap = service.settings.kafka_bootstrap_servers
        async with TopicReader.opened(bootstrap, TIME_ENTRIES) as verdicts, http_client(service) as http:
            await publish(bootstrap, CONTRACT_EVENTS, [contract.version(1, "active", 0)])
            await until_known(service, contract.contract_id, 1)
            await http.post("/time-entries", json=as_json(early), headers=as_freelancer(early))
            await publish(bootstrap, TIME_ENTRIES_SUBMITTED, [
                TimeEntrySubmitted.new(data, source="tracker-app", time=datetime.now(UTC)) for data in (late, refused)
            ])
            await verdicts.wait_for(about(contract.contract_id), count=3)
            await publish(bootstrap, CONTRACT_EVENTS, [contract.version(2, "paused", 4)])  # learned late
            await verdicts.wait_for(lambda e: e["type"] == "time_entry.protection_revoked"
                                    and e["data"]["entry_id"] == late.entry_id)
            listed = await http.get(f"/contracts/{contract.contract_id}/time-entries",
                                    headers=bearer(contract.client_id, "client"))
    assert listed.status_code == 200
    entries = listed.json()["entries"]
    assert [(e["entry_id"], e["status"]) for e in entries] == [
        (refused.entry_id, "rejected"), (late.entry_id, "accepted"), (early.entry_id, "accepted")
    ]
    assert entries[0]["reason"] == "not_contract_freelancer" and "minutes" not in entries[0]
    assert (entries[1]["minutes"], entries[1]["payment_protection"]) == (90, "revoked")
    assert (entries[2]["minutes"], entries[2]["payment_protection"]) == (60, "eligible")
    assert datetime.fromisoformat(entries[2]["started_at"]) == contract.at(1)
