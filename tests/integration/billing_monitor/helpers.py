"""What billing-monitor's integration tests share: fresh client ids, reading what a client was told,
the standing the service stored, and the domain as the oracle of what a delivery order must yield."""

import asyncio
import json
import time
from uuid import uuid4

import httpx

from services.billing_monitor.domain import ClientStanding, ProblemChange, apply_billing_fact
from shared.events.billing import BillingEvent
from shared.service import Service
from tests.support import TopicReader, bearer


def new_client() -> str:
    return f"client-{uuid4().hex[:8]}"


def told(reader: TopicReader, client_id: str) -> list[dict]:
    """The billing.problems events keyed by this client, in partition order."""
    events = [json.loads(record.value) for record in reader.records if record.key == client_id.encode()]
    assert all(event["data"]["client_id"] == client_id for event in events), "key and client_id disagree"
    return events


async def wait_told(reader: TopicReader, client_id: str, count: int, timeout: float = 30) -> list[dict]:
    await reader.wait_for(lambda event: event["data"]["client_id"] == client_id, count=count, timeout=timeout)
    return told(reader, client_id)


def summary(events: list[dict]) -> list[tuple[str, str, list[str]]]:
    return [(event["type"], event["data"]["kind"], event["data"]["open_problems"]) for event in events]


def oracle(facts: list[BillingEvent]) -> tuple[ClientStanding, list[ProblemChange]]:
    """The standing and the events the rules give for one client's facts in this delivery order."""
    standing = ClientStanding(facts[0].data.client_id)
    changes: list[ProblemChange] = []
    for fact in facts:
        # `now` only stamps envelopes; ids depend on the cause alone, so any time will do here.
        decision = apply_billing_fact(standing, fact, now=fact.time)
        standing = decision.standing
        changes.extend(decision.changes)
    return standing, changes


async def standing_over_http(service: Service, client_id: str) -> dict:
    """The standing as the client themselves reads it."""
    response = await billing_problems_over_http(service, client_id, bearer(client_id, "client"))
    assert response.status_code == 200
    return response.json()


async def billing_problems_over_http(service: Service, client_id: str, headers: dict[str, str]) -> httpx.Response:
    transport = httpx.ASGITransport(app=service.http_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://billing-monitor") as http:
        return await http.get(f"/clients/{client_id}/billing-problems", headers=headers)


async def wait_for_standing(service: Service, client_id: str, expected: dict, timeout: float = 30) -> dict:
    """Poll the service's HTTP view until the client's watermarks are as expected (all facts applied)."""
    deadline = time.monotonic() + timeout
    while (seen := await standing_over_http(service, client_id))["latest_fact_at"] != expected:
        if time.monotonic() > deadline:
            raise AssertionError(f"{client_id}: watermarks {seen['latest_fact_at']} never became {expected}")
        await asyncio.sleep(0.1)
    return seen
