"""What contract-state's integration tests share: fresh ids, the contract events about given contracts
as they were published, and the contract as the service's HTTP view shows it."""

import json
from uuid import uuid4

import httpx

from shared.service import Service
from tests.support import TopicReader, bearer


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid4().hex[:8]}"


def about(reader: TopicReader, *contract_ids: str) -> list[dict]:
    """contracts.events keyed by these contracts, in partition order."""
    keys = {contract_id.encode() for contract_id in contract_ids}
    events = [json.loads(record.value) for record in reader.records if record.key in keys]
    assert all(event["data"]["contract_id"].encode() in keys for event in events), "key and contract_id disagree"
    return events


async def wait_about(reader: TopicReader, *contract_ids: str, count: int, timeout: float = 30) -> list[dict]:
    """Wait until `count` events about these contracts were read; returns all of them."""
    await reader.wait_for(lambda event: event["data"]["contract_id"] in contract_ids, count=count, timeout=timeout)
    return about(reader, *contract_ids)


def summary(events: list[dict]) -> list[tuple]:
    """(type, status, holds, version) of changes; (type, reason) of rejections."""
    return [
        (event["type"], event["data"]["reason"]) if event["type"] == "contract.command_rejected"
        else (event["type"], event["data"]["status"], event["data"]["holds"], event["data"]["version"])
        for event in events
    ]


async def contract_over_http(service: Service, contract_id: str, headers: dict[str, str] | None = None) -> httpx.Response:
    """GET /contracts/{contract_id}, as support unless other headers say who asks."""
    transport = httpx.ASGITransport(app=service.http_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://contract-state") as http:
        return await http.get(f"/contracts/{contract_id}", headers=bearer("support-1", "support") if headers is None else headers)
