"""The story the product exists for, end to end: four service processes, a real broker, event by event."""

import json

import httpx

from ops.demo import play


async def test_the_demo_story_plays_out_event_by_event(system):
    lines: list[str] = []
    timeline = await play(system.bootstrap, say=lines.append)
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


async def test_every_service_reports_health_and_metrics(system):
    async with httpx.AsyncClient(timeout=5) as http:
        for service in system.services.values():
            health = await http.get(f"{service.url}/health")
            assert health.json() == {"status": "ready", "kafka": True, "store": True}
            metrics = (await http.get(f"{service.url}/metrics")).text
            assert "contract_pause_consumer_lag" in metrics and "contract_pause_outbox_backlog" in metrics

