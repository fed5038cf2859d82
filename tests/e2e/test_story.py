"""The story the product exists for, end to end: four service processes, a real broker, event by event."""

import json

import httpx

from ops.demo import StoryFailed, play
from tests.support import bearer


async def test_the_demo_story_plays_out_event_by_event(system):
    lines: list[str] = []
    try:
        timeline = await play(system.bootstrap, say=lines.append, notification_url=system.services["notification"].url)
    except StoryFailed as failure:
        raise AssertionError(f"{failure}\n" + "\n".join(lines) + f"\n{system.diagnosis()}") from failure
    types = [event["type"] for _topic, event in timeline]

    # The order that matters to people, read off the real topics.
    def first(event_type: str, **data) -> int:
        return next(i for i, (_, e) in enumerate(timeline)
                    if e["type"] == event_type and all(e["data"].get(k) == v for k, v in data.items()))

    assert first("billing.payment_failed") < first("billing.problem_opened") < first("contract.paused")
    assert first("contract.paused") < first("time_entry.rejected", reason="contract_paused")
    assert first("billing.problem_resolved") < first("contract.resumed")
    assert types.count("contract.paused") == 2
    assert types.count("billing.problem_opened") == 1 and types.count("billing.problem_resolved") == 1

    freelancer_notices = [e["data"] for _, e in timeline
                          if e["type"] == "notification.created" and e["data"]["recipient_role"] == "freelancer"]
    assert {n["kind"] for n in freelancer_notices} >= {"contract_paused", "time_entry_blocked", "contract_resumed"}
    leaked = [n for n in freelancer_notices if any(s in json.dumps(n) for s in ("insufficient_funds", "480.00", "pm-visa"))]
    assert leaked == []
    blocked = [n for n in freelancer_notices if n["kind"] == "time_entry_blocked"]
    assert len(blocked) == len({tuple(n["contract_ids"]) for n in blocked}), "one blocked notice per contract and pause"
    assert not any("protection_revoked" in t for t in types)
    assert any("Done in" in line for line in lines)
    assert any("without a token: 401" in line for line in lines), "the demo showed the inbox refusing strangers"
    assert first("support.requested") < first("notification.created", kind="freelancer_waiting")
    assert {n["kind"] for n in freelancer_notices} >= {"support_request_received"}
    assert any("GET /support/cases as support" in line and "payment_failed" in line for line in lines)
    await _each_api_answers_the_parties_of_the_story(system, timeline)


async def _each_api_answers_the_parties_of_the_story(system, timeline) -> None:  # noqa: ANN001
    """Over real HTTP, on the story's own contract: its people are answered, others are refused."""
    opened = next(e["data"] for _, e in timeline if e["type"] == "contract.opened")
    contract, client, freelancer = opened["contract_id"], opened["client_id"], opened["freelancer_id"]
    urls = {name: service.url for name, service in system.services.items()}
    asks = [
        (f"{urls['contract-state']}/contracts/{contract}", bearer(client, "client"), 200),
        (f"{urls['contract-state']}/contracts/{contract}", bearer(freelancer, "freelancer"), 200),
        (f"{urls['contract-state']}/contracts/{contract}", bearer("someone-else", "freelancer"), 404),
        (f"{urls['contract-state']}/contracts/{contract}/history", bearer("support-1", "support"), 200),
        (f"{urls['contract-state']}/contracts/{contract}/history", bearer(freelancer, "freelancer"), 200),
        (f"{urls['contract-state']}/contracts/{contract}/history", bearer("someone-else", "client"), 404),
        (f"{urls['notification']}/support/cases", bearer("support-1", "support"), 200),
        (f"{urls['notification']}/support/cases", bearer(client, "client"), 403),
        (f"{urls['time-tracking']}/contracts/{contract}/time-entries", bearer(freelancer, "freelancer"), 200),
        (f"{urls['time-tracking']}/contracts/{contract}/time-entries", bearer(client, "client"), 200),
        (f"{urls['time-tracking']}/contracts/{contract}/time-entries", bearer("someone-else", "client"), 404),
        (f"{urls['billing-monitor']}/clients/{client}/billing-problems", bearer(client, "client"), 200),
        (f"{urls['billing-monitor']}/clients/{client}/billing-problems", bearer("support-1", "support"), 200),
        (f"{urls['billing-monitor']}/clients/{client}/billing-problems", bearer(freelancer, "freelancer"), 403),
        (f"{urls['billing-monitor']}/clients/{client}/billing-problems", {}, 401),
    ]
    async with httpx.AsyncClient(timeout=5) as http:
        for url, headers, status in asks:
            answer = await http.get(url, headers=headers)
            assert answer.status_code == status, (url, answer.text)
            assert answer.headers["content-type"].startswith("application/json"), url


async def test_every_service_reports_health_and_metrics(system):
    async with httpx.AsyncClient(timeout=5) as http:
        for service in system.services.values():
            health = await http.get(f"{service.url}/health")
            assert {key: value for key, value in health.json().items() if key != "partitions_assigned"} == {
                "status": "ready", "kafka": True, "store": True}
            assert health.json()["partitions_assigned"] and all(health.json()["partitions_assigned"].values())
            metrics = (await http.get(f"{service.url}/metrics")).text
            assert "contract_pause_consumer_lag" in metrics and "contract_pause_outbox_backlog" in metrics

