"""What the pause story must leave on the topics, wherever the services and the broker run."""

import json
from typing import Any

Timeline = list[tuple[str, dict[str, Any]]]


def check_story(timeline: Timeline, lines: list[str]) -> None:
    types = [event["type"] for _topic, event in timeline]

    def first(event_type: str, **data: Any) -> int:
        return next(i for i, (_, e) in enumerate(timeline)
                    if e["type"] == event_type and all(e["data"].get(k) == v for k, v in data.items()))

    assert first("billing.payment_failed") < first("billing.problem_opened") < first("contract.paused")
    assert first("contract.paused") < first("time_entry.rejected", reason="contract_paused")
    assert first("billing.problem_resolved") < first("contract.resumed")
    assert types.count("contract.paused") == 2
    assert types.count("billing.problem_opened") == 1 and types.count("billing.problem_resolved") == 1
    assert first("support.requested") < first("notification.created", kind="freelancer_waiting")

    freelancer_notices = [e["data"] for _, e in timeline
                          if e["type"] == "notification.created" and e["data"]["recipient_role"] == "freelancer"]
    assert {n["kind"] for n in freelancer_notices} >= {"contract_paused", "time_entry_blocked", "contract_resumed",
                                                       "support_request_received"}
    leaked = [n for n in freelancer_notices if any(s in json.dumps(n) for s in ("insufficient_funds", "480.00", "pm-visa"))]
    assert leaked == [], "a freelancer was told the client's billing details"
    assert any("Done in" in line for line in lines)
    assert any("without a token: 401" in line for line in lines), "notification's API let a stranger read an inbox"
