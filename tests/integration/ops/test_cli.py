"""The operator's command line against the real broker: publish from flags, tail with filters, show a contract."""

import json
import uuid
from datetime import UTC, datetime

from ops.cli import main
from shared.events.contracts import ContractOpened, ContractPaused, ContractSnapshot
from shared.topics import BILLING_EVENTS, CONTRACT_EVENTS, SUPPORT_REQUESTS
from tests.support import TopicReader, publish


def snapshot(contract_id: str, version: int, status: str, holds: list[str]) -> ContractSnapshot:
    return ContractSnapshot(contract_id=contract_id, client_id="client-cli", freelancer_id="fl-cli", kind="hourly",
                            status=status, holds=holds, version=version, changed_at=datetime.now(UTC))


async def test_publish_builds_a_valid_event_from_flags_and_keys_it_by_client(registry_topics, capsys):
    client = f"client-{uuid.uuid4().hex[:8]}"
    async with TopicReader.opened(registry_topics, BILLING_EVENTS) as reader:
        code = await _cli("--bootstrap", registry_topics, "publish", "billing", "payment_failed",
                          f"client_id={client}", "payment_method_id=pm-1", "attempt=2")
        assert code == 0
        (event,) = await reader.wait_for(lambda e: e["data"]["client_id"] == client)
    assert event["type"] == "billing.payment_failed" and event["data"]["attempt"] == 2
    assert reader.records[-1].key == client.encode()
    assert f"published billing.payment_failed {event['id']} on billing.events" in capsys.readouterr().out


async def test_publish_refuses_an_invalid_event_with_a_readable_line(registry_topics, capsys):
    code = await _cli("--bootstrap", registry_topics, "publish", "command", "pause", "contract_id=k-1")
    assert code == 2
    assert "actor_id: Field required" in capsys.readouterr().err


async def test_publish_support_presses_get_support_keyed_by_contract(registry_topics, capsys):
    contract = f"k-{uuid.uuid4().hex[:8]}"
    async with TopicReader.opened(registry_topics, SUPPORT_REQUESTS) as reader:
        assert await _cli("--bootstrap", registry_topics, "publish", "support", "requested", f"contract_id={contract}",
                          "requester_id=fl-1", "topic=contract_paused", "message=My client does not answer") == 0
        assert await _cli("--bootstrap", registry_topics, "publish", "support", "circumvention_reported",
                          f"contract_id={contract}", "reporter_id=fl-1", "report_id=rep-7",
                          "message=Offered cash") == 0
        requested, reported = await reader.wait_for(lambda e: e["data"]["contract_id"] == contract, count=2)
    assert requested["type"] == "support.requested" and requested["specversion"] == "1.0"
    assert requested["data"]["request_id"].startswith("request-") and requested["data"]["topic"] == "contract_paused"
    assert reported["type"] == "support.circumvention_reported" and reported["data"]["report_id"] == "rep-7"
    assert {record.key for record in reader.records} == {contract.encode()}
    assert "on support.requests" in capsys.readouterr().out
    assert await _cli("--bootstrap", registry_topics, "publish", "support", "requested", f"contract_id={contract}",
                      "requester_id=fl-1", "topic=lunch", "message=x") == 2
    assert "topic:" in capsys.readouterr().err


async def test_status_shows_the_newest_version_and_tail_filters_by_contract(registry_topics, capsys):
    contract = f"k-{uuid.uuid4().hex[:8]}"
    opened = ContractOpened.new(snapshot(contract, 1, "active", []), source="test", time=datetime.now(UTC))
    paused = ContractPaused.new(snapshot(contract, 2, "paused", ["platform"]), source="test", time=datetime.now(UTC))
    other = ContractOpened.new(snapshot(f"other-{contract}", 1, "active", []), source="test", time=datetime.now(UTC))
    await publish(registry_topics, CONTRACT_EVENTS, [paused, opened, other])  # the newest first: version wins

    assert await _cli("--bootstrap", registry_topics, "status", contract) == 0
    shown = capsys.readouterr().out
    assert "status:  paused" in shown and "holds:   platform" in shown and "version: 2" in shown

    assert await _cli("--bootstrap", registry_topics, "tail", "contracts.events", "--contract", contract,
                      "--from-beginning", "--no-follow") == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2
    assert all(contract in line and f"other-{contract}" not in line for line in lines)
    assert json.dumps(lines)  # readable text, one line per event


async def _cli(*argv: str) -> int:
    import asyncio

    return await asyncio.to_thread(main, list(argv))
