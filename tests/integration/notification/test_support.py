"""Get Support on the real broker (DESIGN.md, `support.requests`): acknowledgements, the support queue,
the client nudged once per pause, refusals, repeated ids, reports kept from the client, the privacy of
the freelancer, and support's view over HTTP."""

import json
from uuid import uuid4

import httpx

from shared.topics import BILLING_PROBLEMS, CONTRACT_EVENTS, NOTIFICATIONS, SUPPORT_REQUESTS
from services.notification.app import Settings, build
from tests.support import TopicReader, bearer, publish, publish_raw, running
from tests.unit.notification.factories import (
    ContractStory, circumvention_reported, problem_opened, problem_resolved, support_requested, unique,
)

SUPPORT = bearer("support-1", "support")
# What would give a client's billing problem away to a freelancer.
BILLING_WORDS = ("payment_failed", "payment_method", "chargeback", "suspend", "declin", "card", "dispute",
                 "billing", "a payment failed")


def to(*recipients: str, kind: str | None = None):
    return lambda e: e["data"]["recipient_id"] in recipients and (kind is None or e["data"]["kind"] == kind)


def about(contract_id: str):
    return lambda e: contract_id in e["data"]["contract_ids"]


def both(first, second):
    return lambda e: first(e) and second(e)


async def get(service, path: str, headers: dict[str, str]) -> httpx.Response:
    transport = httpx.ASGITransport(app=service.http_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://notification") as http:
        return await http.get(path, headers=headers)


async def test_a_freelancer_asks_about_a_platform_pause_and_the_client_is_nudged_once_per_pause(settings_for):
    canary = f"CANARY_{uuid4().hex[:10]}"
    contract = ContractStory(unique("c"), unique("client"), unique("fl"))
    client, freelancer, cid = contract.client_id, contract.freelancer_id, contract.contract_id
    first = support_requested(cid, freelancer, topic="contract_paused", message="My client does not answer")
    again_same_id = support_requested(cid, freelancer, request_id=first.data.request_id, message="again")
    second = support_requested(cid, freelancer, topic="contract_paused")
    async with TopicReader.opened(settings_for(Settings).kafka_bootstrap_servers, NOTIFICATIONS) as notices:
        async with running(build(settings_for(Settings))) as service:
            bootstrap = service.settings.kafka_bootstrap_servers
            await publish(bootstrap, CONTRACT_EVENTS, [contract.opened()])
            await publish(bootstrap, BILLING_PROBLEMS, [problem_opened(client, "payment_failed", f"Declined {canary}")])
            await publish(bootstrap, CONTRACT_EVENTS, [contract.paused(("platform",))])
            await notices.wait_for(to(freelancer, kind="contract_paused"))
            await notices.wait_for(to(client, kind="billing_action_required"))

            await publish(bootstrap, SUPPORT_REQUESTS, [first, first, again_same_id])
            await notices.wait_for(to(client, kind="freelancer_waiting"))
            await publish(bootstrap, SUPPORT_REQUESTS, [second])
            await notices.wait_for(both(to("support", kind="support_case"), about(cid)), count=2)
            await notices.wait_for(to(freelancer, kind="support_request_received"), count=2)
            await notices.settle()
            first_pause = list(notices.events(about(cid)))

            # the next pause: the client is nudged again
            await publish(bootstrap, BILLING_PROBLEMS, [problem_resolved(client, "payment_failed")])
            await publish(bootstrap, CONTRACT_EVENTS, [contract.resumed()])
            await publish(bootstrap, BILLING_PROBLEMS, [problem_opened(client, "chargeback", f"Dispute {canary}")])
            await publish(bootstrap, CONTRACT_EVENTS, [contract.paused(("platform",))])
            await notices.wait_for(to(freelancer, kind="contract_paused"), count=2)
            # billing.problems is its own consumer: the nudge names the dispute once it is known
            await notices.wait_for(to(client, kind="billing_action_required"), count=2)
            await publish(bootstrap, SUPPORT_REQUESTS, [support_requested(cid, freelancer)])
            await notices.wait_for(to(client, kind="freelancer_waiting"), count=2)
            await notices.settle()

            cases = await get(service, f"/support/cases?contract_id={cid}", SUPPORT)
            support_inbox = await get(service, "/recipients/support/notifications?limit=500", SUPPORT)
            forbidden = {role: (await get(service, "/support/cases", bearer(who, role))).status_code
                         for who, role in ((client, "client"), (freelancer, "freelancer"), ("op-1", "operator"))}
            anonymous = (await get(service, "/support/cases", {})).status_code
            freelancer_inbox = await get(service, f"/recipients/{freelancer}/notifications", bearer(freelancer, "freelancer"))
            intakes = {intake.topic.name: intake for intake in service.intakes}

    kinds = [(e["data"]["recipient_id"], e["data"]["kind"]) for e in first_pause]
    assert kinds.count((client, "freelancer_waiting")) == 1
    assert kinds.count(("support", "support_case")) == 2  # the first request and the second; not the repeated id
    assert kinds.count((freelancer, "support_request_received")) == 2
    assert intakes[SUPPORT_REQUESTS.name].duplicates == 1  # the same event twice; the same id in a new event is dropped later

    waiting = notices.events(to(client, kind="freelancer_waiting"))
    assert "a payment failed" in waiting[0]["data"]["body"] and "a payment is disputed" in waiting[1]["data"]["body"]
    assert "My client does not answer" not in json.dumps(waiting)
    assert all(e["data"]["recipient_role"] == "client" for e in waiting)
    case_records = notices.events(lambda e: e["data"]["kind"] == "support_case" and about(cid)(e))
    assert all(e["data"]["recipient_role"] == "support" and e["data"]["recipient_id"] == "support" for e in case_records)
    assert all(record.key == b"support" for record in notices.records if json.loads(record.value)["data"]["recipient_id"] == "support")
    assert "My client does not answer" in case_records[0]["data"]["body"]
    assert "a payment failed" in case_records[0]["data"]["body"]

    assert cases.status_code == 200
    listed = cases.json()["cases"]
    assert [c["case_id"] for c in listed][1:] == [second.data.request_id, first.data.request_id]  # newest first
    newest, _, oldest = listed
    assert oldest == {
        "case_id": first.data.request_id, "record": "support_case", "contract_id": cid, "client_id": client,
        "freelancer_id": freelancer, "requester_id": freelancer, "requester_role": "freelancer",
        "topic": "contract_paused", "message": "My client does not answer",
        "requested_at": first.time.isoformat(), "platform_paused": True,
        "client_open_problems": ["payment_failed"], "client_nudged": True,
    }
    assert listed[1]["client_nudged"] is False
    assert newest["client_open_problems"] == ["chargeback"] and newest["client_nudged"] is True
    assert forbidden == {"client": 403, "freelancer": 403, "operator": 403} and anonymous == 401
    assert cid in support_inbox.text

    to_freelancer = notices.events(to(freelancer))
    assert {e["data"]["kind"] for e in to_freelancer} == {"contract_paused", "support_request_received",
                                                          "contract_resumed"}
    for text in [json.dumps(e) for e in to_freelancer] + [freelancer_inbox.text]:
        assert canary not in text
        assert not [word for word in BILLING_WORDS if word in text.lower()], text
    assert "Get Support" in to_freelancer[0]["data"]["body"]  # the platform pause says how to ask


async def test_a_stranger_or_an_unknown_contract_is_refused_and_goes_no_further(settings_for):
    contract = ContractStory(unique("c"), unique("client"), unique("fl"))
    stranger, cid = unique("stranger"), contract.contract_id
    unknown = unique("c")
    async with TopicReader.opened(settings_for(Settings).kafka_bootstrap_servers, NOTIFICATIONS) as notices:
        async with running(build(settings_for(Settings))) as service:
            bootstrap = service.settings.kafka_bootstrap_servers
            await publish(bootstrap, CONTRACT_EVENTS, [contract.opened(), contract.paused(("platform",))])
            await notices.wait_for(to(contract.freelancer_id, kind="contract_paused"))
            await publish(bootstrap, SUPPORT_REQUESTS, [
                support_requested(cid, stranger), circumvention_reported(cid, stranger),
                support_requested(unknown, contract.freelancer_id),
            ])
            refused = await notices.wait_for(lambda e: e["data"]["kind"] == "support_request_refused", count=3)
            await notices.settle()
            cases = await get(service, "/support/cases", SUPPORT)
    assert sorted(e["data"]["recipient_id"] for e in refused) == sorted([stranger, stranger, contract.freelancer_id])
    assert len({e["data"]["body"].replace(unknown, cid) for e in refused}) == 1  # existence stays private
    after = notices.events(lambda e: e["data"]["kind"] != "support_request_refused" and
                           (about(cid)(e) or about(unknown)(e)) and e["data"]["kind"] != "contract_paused")
    assert after == []  # no case, no acknowledgement, no nudge
    assert cid not in cases.text and unknown not in cases.text


async def test_a_report_reaches_support_and_the_client_never_learns_of_it(settings_for):
    contract = ContractStory(unique("c"), unique("client"), unique("fl"))
    client, freelancer, cid = contract.client_id, contract.freelancer_id, contract.contract_id
    report = circumvention_reported(cid, freelancer, message="Client offered to pay by bank transfer")
    async with TopicReader.opened(settings_for(Settings).kafka_bootstrap_servers, NOTIFICATIONS) as notices:
        async with running(build(settings_for(Settings))) as service:
            bootstrap = service.settings.kafka_bootstrap_servers
            await publish(bootstrap, CONTRACT_EVENTS, [contract.opened()])
            await publish(bootstrap, BILLING_PROBLEMS, [problem_opened(client, "payment_failed", "Declined.")])
            await publish(bootstrap, CONTRACT_EVENTS, [contract.paused(("platform",))])
            await notices.wait_for(to(client, kind="billing_action_required"))
            await publish(bootstrap, SUPPORT_REQUESTS, [report, report])
            await notices.wait_for(both(to("support", kind="circumvention_report"), about(cid)))
            await notices.wait_for(to(freelancer, kind="support_request_received"))
            await notices.settle()
            cases = (await get(service, f"/support/cases?contract_id={cid}", SUPPORT)).json()["cases"]
            client_inbox = await get(service, f"/recipients/{client}/notifications", bearer(client, "client"))
            client_reads_cases = await get(service, "/support/cases", bearer(client, "client"))

    to_client = notices.events(to(client))
    assert [e["data"]["kind"] for e in to_client] == ["billing_action_required"]
    for text in [json.dumps(to_client), client_inbox.text]:
        assert "report" not in text.lower() and freelancer not in text and "bank transfer" not in text
    assert client_reads_cases.status_code == 403
    (case,) = cases
    assert (case["record"], case["topic"], case["requester_id"], case["requester_role"]) == (
        "circumvention_report", None, freelancer, "freelancer")
    assert case["message"] == "Client offered to pay by bank transfer"
    assert len(notices.events(to("support", kind="circumvention_report"))) == 1


async def test_a_request_keyed_by_another_contract_or_without_specversion_is_dead_lettered(settings_for):
    contract = ContractStory(unique("c"), unique("client"), unique("fl"))
    valid = support_requested(contract.contract_id, contract.freelancer_id)
    wrong_key = support_requested(contract.contract_id, contract.freelancer_id)
    no_specversion = json.loads(support_requested(contract.contract_id, contract.freelancer_id).to_json())
    del no_specversion["specversion"]
    bootstrap = settings_for(Settings).kafka_bootstrap_servers
    async with TopicReader.opened(bootstrap, SUPPORT_REQUESTS.dlq) as dead, \
            TopicReader.opened(bootstrap, NOTIFICATIONS) as notices:
        async with running(build(settings_for(Settings))):
            await publish(bootstrap, CONTRACT_EVENTS, [contract.opened()])
            await publish_raw(bootstrap, SUPPORT_REQUESTS, unique("other"), [wrong_key.to_json()])
            await publish_raw(bootstrap, SUPPORT_REQUESTS, contract.contract_id, [json.dumps(no_specversion).encode()])
            await publish(bootstrap, SUPPORT_REQUESTS, [valid])
            records = await dead.wait_for_records(2)
            await notices.wait_for(to(contract.freelancer_id, kind="support_request_received"))
            await notices.settle()
    reasons = sorted(dict(record.headers)["x-dlq-reason"].decode() for record in records)
    assert reasons == ["key_mismatch", "schema_violation"]
    assert len(notices.events(to(contract.freelancer_id, kind="support_request_received"))) == 1
