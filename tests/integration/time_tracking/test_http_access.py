"""Who may submit and read time over HTTP (DESIGN, "HTTP APIs: who may call them"): a freelancer submits
only as themselves; a contract's entries are for its freelancer, its client and support, and to anyone
else the contract does not exist. Bodies that are not what they claim are 422s, never 500s."""

import json

from services.time_tracking.app import Settings, build
from shared.topics import CONTRACT_EVENTS
from tests.integration.time_tracking.helpers import Contract, http_client, unique, until_known
from tests.support import bearer, publish, running

SUPPORT = bearer("support-1", "support")


async def test_a_freelancer_submits_only_as_themselves(settings_for):
    contract = Contract()
    stranger = unique("fl")
    own, as_someone_else, strangers = (contract.submission_data(1, 2), contract.submission_data(2, 3),
                                       contract.submission_data(3, 4, freelancer_id=stranger))
    freelancer = bearer(contract.freelancer_id, "freelancer")
    submissions = {
        "the freelancer, as themselves": (own, freelancer, 201),
        "the freelancer, as a stranger": (contract.submission_data(2, 3, freelancer_id=stranger), freelancer, 403),
        "a stranger, as the freelancer": (as_someone_else, bearer(stranger, "freelancer"), 403),
        "a stranger, as themselves": (strangers, bearer(stranger, "freelancer"), 409),
        "the client": (as_someone_else, bearer(contract.client_id, "client"), 403),
        "the freelancer's id as a client": (as_someone_else, bearer(contract.freelancer_id, "client"), 403),
        "support": (as_someone_else, SUPPORT, 403),
        "an operator": (as_someone_else, bearer("operator-1", "operator"), 403),
        "nobody": (as_someone_else, {}, 401),
    }
    async with running(build(settings_for(Settings))) as service, http_client(service) as http:
        await publish(service.settings.kafka_bootstrap_servers, CONTRACT_EVENTS, [contract.version(1, "active", 0)])
        await until_known(service, contract.contract_id, 1)
        answers = {who: await http.post("/time-entries", json=data.model_dump(mode="json"), headers=headers)
                   for who, (data, headers, _status) in submissions.items()}
        listed = await http.get(f"/contracts/{contract.contract_id}/time-entries", headers=SUPPORT)
    for who, (_data, _headers, status) in submissions.items():
        assert answers[who].status_code == status, (who, answers[who].text)
    assert answers["a stranger, as themselves"].json()["reason"] == "not_contract_freelancer"
    assert answers["the client"].json()["error"] == "forbidden"
    assert answers["nobody"].json()["error"] == "unauthenticated"
    recorded = {entry["entry_id"] for entry in listed.json()["entries"]}
    assert recorded == {own.entry_id, strangers.entry_id}, "a refused caller records nothing"


async def test_a_contracts_entries_are_for_its_parties_and_support(settings_for):
    contract = Contract()
    entry = contract.submission_data(1, 2)
    callers = {
        "the freelancer": (bearer(contract.freelancer_id, "freelancer"), 200),
        "the client": (bearer(contract.client_id, "client"), 200),
        "support": (SUPPORT, 200),
        "another client": (bearer(unique("client"), "client"), 404),
        "another freelancer": (bearer(unique("fl"), "freelancer"), 404),
        "the client's id as a freelancer": (bearer(contract.client_id, "freelancer"), 404),
        "the freelancer's id as a client": (bearer(contract.freelancer_id, "client"), 404),
        "an operator": (bearer("operator-1", "operator"), 403),
        "nobody": ({}, 401),
    }
    path = f"/contracts/{contract.contract_id}/time-entries"
    async with running(build(settings_for(Settings))) as service, http_client(service) as http:
        await publish(service.settings.kafka_bootstrap_servers, CONTRACT_EVENTS, [contract.version(1, "active", 0)])
        await until_known(service, contract.contract_id, 1)
        submitted = await http.post("/time-entries", json=entry.model_dump(mode="json"),
                                    headers=bearer(contract.freelancer_id, "freelancer"))
        answers = {who: await http.get(path, headers=headers) for who, (headers, _status) in callers.items()}
        unknown = await http.get(f"/contracts/{unique('contract')}/time-entries",
                                 headers=bearer(contract.client_id, "client"))
    assert submitted.status_code == 201
    for who, (_headers, status) in callers.items():
        assert answers[who].status_code == status, who
        if status == 200:
            assert [e["entry_id"] for e in answers[who].json()["entries"]] == [entry.entry_id], who
        else:
            assert entry.entry_id not in answers[who].text, who
    assert unknown.status_code == 404
    for who in ("another client", "another freelancer", "the client's id as a freelancer"):
        assert answers[who].content == unknown.content, f"{who} can tell the contract exists"


async def test_bodies_that_are_not_what_they_claim_are_422s_never_500s(settings_for):
    contract = Contract()
    valid = contract.submission_data(1, 2).model_dump(mode="json")
    freelancer = bearer(contract.freelancer_id, "freelancer")
    bodies = {
        "invalid UTF-8": b'{"entry_id": "\xff\xfe", "memo": "\xc3\x28"}',
        "1,000-deep nesting": b'{"memo": ' + b"[" * 1000 + b"]" * 1000 + b"}",
        "1,000-deep objects": b'{"a":' * 1000 + b"1" + b"}" * 1000,
        "a list": b"[]",
        "a number for a time": json.dumps(valid | {"started_at": 1767261600}).encode(),
        "a number for a string": json.dumps(valid | {"memo": 5}).encode(),
        "year 1 east of UTC": json.dumps(valid | {"started_at": "0001-01-01T00:00:00+01:00"}).encode(),
        "year 9999 west of UTC": json.dumps(valid | {"ended_at": "9999-12-31T23:59:59-01:00"}).encode(),
        "a five-digit year": json.dumps(valid | {"ended_at": "10000-01-01T00:00:00Z"}).encode(),
        "a huge number": json.dumps(valid).replace('"memo": "work"', '"memo": 1' + "0" * 5000).encode(),
        "NaN": json.dumps(valid).replace('"memo": "work"', '"memo": NaN').encode(),
    }
    async with running(build(settings_for(Settings))) as service, http_client(service) as http:
        answers = {what: await http.post("/time-entries", content=body, headers=freelancer)
                   for what, body in bodies.items()}
        listed = await http.get(f"/contracts/{contract.contract_id}/time-entries", headers=SUPPORT)
    for what, answer in answers.items():
        assert answer.status_code == 422, (what, answer.status_code, answer.text)
        assert answer.json()["error"] == "invalid", what
    assert listed.json()["entries"] == []
