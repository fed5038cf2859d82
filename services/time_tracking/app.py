"""time-tracking wiring: what it consumes, its HTTP API for tracker apps, its process entry point.

HTTP answers (same rules and store as the Kafka path; a verdict is also published on `time.entries`):
  POST /time-entries   201 accepted, 409 rejected, 422 malformed. Resubmitting an entry_id answers its
                       first verdict again: 200 if it was accepted (nothing new was created), 409 if rejected.
                       Only a freelancer, only as themselves (freelancer_id is the token's sub, else 403).
                       Requests that arrive together are judged together in one transaction (submissions.py).
  GET /contracts/{contract_id}/time-entries   every entry recorded for the contract, accepted and
                       rejected, latest work first; payment_protection is `revoked` once revoked. For the
                       contract's client and freelancer (as `contracts.events` named them) and support;
                       to anyone else the contract does not exist (404).
"""

from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from services.time_tracking import handlers, store
from services.time_tracking.domain import RecordedEntry
from services.time_tracking.submissions import SubmissionDesk
from shared.auth import Caller, caller, refuse
from shared.events.contracts import CONTRACT_EVENT
from shared.events.envelope import derived_id
from shared.events.time_entries import (
    TIME_ENTRY_SUBMISSION,
    TimeEntryEvent,
    TimeEntrySubmitted,
    TimeEntrySubmittedData,
)
from shared.http import json_body
from shared.service import Service, run
from shared.settings import BaseServiceSettings
from shared.topics import CONTRACT_EVENTS, TIME_ENTRIES, TIME_ENTRIES_SUBMITTED

API_SOURCE = "time-tracking-api"


class Settings(BaseServiceSettings):
    service_name: str = "time-tracking"


def build(settings: Settings) -> Service:
    service = Service(settings, store.tables)
    service.consume(CONTRACT_EVENTS, CONTRACT_EVENT, handlers.on_contract_event, apply_batch=handlers.on_contract_events)
    service.consume(TIME_ENTRIES_SUBMITTED, TIME_ENTRY_SUBMISSION, handlers.on_time_entry_submitted,
                    apply_batch=handlers.on_time_entries_submitted)
    service.produces(TIME_ENTRIES, TimeEntryEvent,
                     "Verdicts on submitted time and revoked payment protection; keyed by contract_id.")
    desk = SubmissionDesk(service.store)

    async def submit_time_entry(request: Request) -> Response:
        data: TimeEntrySubmittedData = await json_body(request, TimeEntrySubmittedData)
        if data.freelancer_id != caller(request).subject:
            raise refuse(403, "a freelancer submits time only as themselves")
        recording = await desk.submit(_as_submission(data))
        entry = recording.entry
        if not entry.accepted:
            return JSONResponse({"status": "rejected", "entry_id": entry.entry_id, "reason": entry.rejection}, 409)
        accepted = {"status": "accepted", "entry_id": entry.entry_id, "minutes": entry.minutes,
                    "payment_protection": entry.payment_protection}
        return JSONResponse(accepted, 201 if recording.first_time else 200)

    async def time_entries_of_contract(request: Request) -> Response:
        contract_id = request.path_params["contract_id"]
        async with service.store.reading() as connection:
            if not _may_read(caller(request), await store.parties_of(connection, contract_id)):
                raise refuse(404, "no such contract")
            entries = await store.entries_of_contract(connection, contract_id)
        return JSONResponse({"contract_id": contract_id, "entries": [_listed(entry) for entry in entries]})

    service.api("/time-entries", submit_time_entry, allow={"freelancer"}, methods=("POST",))
    service.api("/contracts/{contract_id}/time-entries", time_entries_of_contract,
                allow={"freelancer", "client", "support"})
    return service


def _as_submission(data: TimeEntrySubmittedData) -> TimeEntrySubmitted:
    """The HTTP request as the event a tracker would have published; its id follows the entry_id,
    so the verdict's derived id is the same however often the request is repeated."""
    event_id = derived_id(f"{API_SOURCE}|{data.entry_id}")
    return TimeEntrySubmitted.new(data, source=API_SOURCE, time=datetime.now(UTC), event_id=event_id)


def _may_read(who: Caller, parties: tuple[str, str] | None) -> bool:
    """Support reads every contract's entries; a client or freelancer only those of their own contracts."""
    if who.role == "support":
        return True
    return parties is not None and (who.is_("client", parties[0]) or who.is_("freelancer", parties[1]))


def _listed(entry: RecordedEntry) -> dict[str, object]:
    listed: dict[str, object] = {
        "entry_id": entry.entry_id,
        "freelancer_id": entry.freelancer_id,
        "started_at": entry.started_at.isoformat(),
        "ended_at": entry.ended_at.isoformat(),
        "source": entry.source,
        "status": "accepted" if entry.accepted else "rejected",
    }
    if entry.accepted:
        listed["minutes"] = entry.minutes
        listed["payment_protection"] = "revoked" if entry.protection_revoked else entry.payment_protection
    else:
        listed["reason"] = entry.rejection
    return listed


def main() -> None:
    run(Settings, build)
