"""Apply functions of time-tracking: load state, ask the domain, save, emit on `time.entries`."""

from datetime import UTC, datetime

from services.time_tracking import store
from services.time_tracking.domain import ContractVersion, Recording, record, revoke_protection
from shared.events.contracts import CommandRejected, ContractEvent
from shared.events.time_entries import (
    ProtectionRevoked,
    ProtectionRevokedData,
    TimeEntryAccepted,
    TimeEntryAcceptedData,
    TimeEntryRejected,
    TimeEntrySubmitted,
)
from shared.logs import get_logger
from shared.store import Transaction
from shared.topics import TIME_ENTRIES

SOURCE = "time-tracking"

log = get_logger(__name__)


async def on_time_entry_submitted(tx: Transaction, submission: TimeEntrySubmitted) -> None:
    await submit(tx, submission)


async def submit(tx: Transaction, submission: TimeEntrySubmitted) -> Recording:
    """Judge one submission (from Kafka or the HTTP API) and publish its verdict, once per entry_id."""
    data = submission.data
    now = datetime.now(UTC)
    already = await store.load_entry(tx.connection, data.entry_id)
    history = await store.load_history(tx.connection, data.contract_id)
    recording = record(data, history, now, already)
    entry = recording.entry
    if not recording.first_time:
        log.info("time entry resubmitted; first verdict stands", entry_id=entry.entry_id, accepted=entry.accepted)
        return recording
    await store.save_entries(tx.connection, [entry], recorded_at=now)
    verdict = entry.verdict()
    if isinstance(verdict, TimeEntryAcceptedData):
        event = TimeEntryAccepted.derived_from(submission, verdict, source=SOURCE, time=now)
        log.info("time entry accepted", entry_id=entry.entry_id, contract_id=entry.contract_id,
                 minutes=entry.minutes, payment_protection=entry.payment_protection)
    else:
        event = TimeEntryRejected.derived_from(submission, verdict, source=SOURCE, time=now)
        log.info("time entry rejected", entry_id=entry.entry_id, contract_id=entry.contract_id, reason=entry.rejection)
    await tx.emit(TIME_ENTRIES, event)
    return recording


async def on_contract_event(tx: Transaction, event: ContractEvent) -> None:
    """Learn a contract version; if it reveals a pause or end under accepted work, revoke that work's protection."""
    if isinstance(event, CommandRejected):
        return  # a refused command changed nothing and carries no snapshot
    contract_id = event.data.contract_id
    version = ContractVersion.of(event.data)
    history = await store.load_history(tx.connection, contract_id)
    if history.knows(version.version):
        log.info("contract version already known", contract_id=contract_id, version=version.version)
        return
    history = history.learn(version)
    await store.add_version(tx.connection, contract_id, version)
    log.info("contract version learned", contract_id=contract_id, version=version.version,
             status=version.status, current_version=history.current.version, current_status=history.current.status)
    since = history.unavailable_since(version.version)
    candidates = await store.protected_entries_ending_after(tx.connection, contract_id, since)
    revoked = revoke_protection(history, candidates)
    now = datetime.now(UTC)
    await store.mark_revoked(tx.connection, [entry.entry_id for entry in revoked], revoked_at=now)
    for entry in revoked:
        data = ProtectionRevokedData(entry_id=entry.entry_id, contract_id=contract_id, reason="work_during_pause")
        await tx.emit(TIME_ENTRIES, ProtectionRevoked.derived_from(
            event, data, source=SOURCE, time=now, discriminator=entry.entry_id
        ))
        log.info("payment protection revoked", entry_id=entry.entry_id, contract_id=contract_id,
                 reason="work_during_pause", learned_version=version.version)
