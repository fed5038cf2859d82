"""What time-tracking's integration tests share: a contract told on `contracts.events`, time submitted
against it, waiting until the service has learned a version, and reading verdicts off `time.entries`."""

import asyncio
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import httpx

from services.time_tracking import store
from shared.events.contracts import (
    ContractEnded,
    ContractOpened,
    ContractPaused,
    ContractResumed,
    ContractSnapshot,
)
from shared.events.time_entries import TimeEntrySubmitted, TimeEntrySubmittedData
from shared.service import Service
from tests.support import TopicReader

# Hours before now at which each test's story begins: all of it lies in the past.
STORY_START = timedelta(hours=20)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid4().hex[:8]}"


@dataclass
class Contract:
    """One contract's story, as contract-state would publish it."""

    kind: str = "hourly"
    contract_id: str = field(default_factory=lambda: unique("contract"))
    client_id: str = field(default_factory=lambda: unique("client"))
    freelancer_id: str = field(default_factory=lambda: unique("fl"))
    start: datetime = field(default_factory=lambda: datetime.now(UTC).replace(microsecond=0) - STORY_START)

    def at(self, hours: float) -> datetime:
        return self.start + timedelta(hours=hours)

    def version(self, number: int, status: str, hours: float):  # noqa: ANN201 - one of the contract event types
        """Version `number`, stamped `hours` into the story; opened first, then paused / resumed / ended."""
        snapshot = ContractSnapshot(
            contract_id=self.contract_id, client_id=self.client_id, freelancer_id=self.freelancer_id,
            kind=self.kind, status=status, holds=["platform"] if status == "paused" else [],
            version=number, changed_at=self.at(hours),
        )
        event_type = ContractOpened if number == 1 else {
            "paused": ContractPaused, "active": ContractResumed, "ended": ContractEnded
        }[status]
        return event_type.new(snapshot, source="contract-state", time=self.at(hours))

    def submission_data(self, start: float, end: float, source: str = "tracker", freelancer_id: str | None = None,
                        entry_id: str | None = None) -> TimeEntrySubmittedData:
        return TimeEntrySubmittedData(
            entry_id=entry_id or unique("entry"), contract_id=self.contract_id,
            freelancer_id=freelancer_id or self.freelancer_id,
            started_at=self.at(start), ended_at=self.at(end), memo="work", source=source,
        )

    def submitted(self, start: float, end: float, **options: Any) -> TimeEntrySubmitted:
        return TimeEntrySubmitted.new(self.submission_data(start, end, **options), source="tracker-app",
                                      time=datetime.now(UTC))


async def until_known(service: Service, contract_id: str, *versions: int, timeout: float = 30) -> None:
    """Wait until the service has learned these versions of the contract (contract events produce no output)."""
    deadline = time.monotonic() + timeout
    while True:
        async with service.store.reading() as connection:
            history = await store.load_history(connection, contract_id)
        if all(history.knows(version) for version in versions):
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{contract_id}: versions {versions} not learned in {timeout}s; knows {history}")
        await asyncio.sleep(0.05)


def about(*contract_ids: str):  # noqa: ANN201 - a predicate for TopicReader
    return lambda event: event["data"]["contract_id"] in contract_ids


async def verdict_on(reader: TopicReader, entry_id: str) -> dict:
    """The one verdict (accepted or rejected) published for an entry."""
    (event,) = await reader.wait_for(
        lambda e: e["data"]["entry_id"] == entry_id and e["type"] != "time_entry.protection_revoked"
    )
    return event


def http_client(service: Service) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=service.http_app())
    return httpx.AsyncClient(transport=transport, base_url="http://time-tracking")
