"""Apply functions of time-tracking: load state, ask the domain, save, emit on `time.entries`."""

from datetime import UTC, datetime

from services.time_tracking import store
from services.time_tracking.domain import ContractVersion, RecordedEntry, Recording, record, revoke_protection
from shared.events.contracts import CommandRejected, ContractEvent
from shared.events.time_entries import (
    ProtectionRevoked,
    ProtectionRevokedData,
    TimeEntryAccepted,
    TimeEntryAcceptedData,
    TimeEntryRejected,
    TimeEntrySubmitted,
)
from shared.events.envelope import Envelope
from shared.logs import bound_to_event, get_logger
from shared.store import Transaction
from shared.topics import TIME_ENTRIES

SOURCE = "time-tracking"
CONTRACT_LOCK = "contract"  # what `tx.lock` holds: judging time and learning versions of one contract take turns

log = get_logger(__name__)


async def on_time_entry_submitted(tx: Transaction, submission: TimeEntrySubmitted) -> None:
    await submit_all(tx, [submission])


async def on_time_entries_submitted(tx: Transaction, submissions: list[TimeEntrySubmitted]) -> None:
    """A batch from Kafka: the same as one by one, with state loaded and saved for all at once."""
    await submit_all(tx, submissions)


async def submit(tx: Transaction, submission: TimeEntrySubmitted) -> Recording:
    """One submission from the HTTP API."""
    (recording,) = await submit_all(tx, [submission])
    return recording


async def submit_all(tx: Transaction, submissions: list[TimeEntrySubmitted]) -> list[Recording]:
    """Judge submissions in order and publish each verdict, once per entry_id."""
    # Against the histories as they are once no other instance is learning a version of these contracts.
    await tx.lock(CONTRACT_LOCK, *{submission.data.contract_id for submission in submissions})
    now = datetime.now(UTC)
    recorded = await store.load_entries(tx.connection, {submission.data.entry_id for submission in submissions})
    histories = await store.load_histories(tx.connection, {submission.data.contract_id for submission in submissions})
    recordings, verdicts = [], []
    for submission in submissions:
        data = submission.data
        recording = record(data, histories[data.contract_id], now, recorded.get(data.entry_id))
        recordings.append(recording)
        if recording.first_time:
            recorded[data.entry_id] = recording.entry  # a resubmission later in the batch finds it
            verdicts.append(_verdict_event(submission, recording.entry, now))
        else:
            log.info("time entry resubmitted; first verdict stands", entry_id=data.entry_id,
                     accepted=recording.entry.accepted, **_about(submission))
    await store.save_entries(tx.connection, [r.entry for r in recordings if r.first_time], recorded_at=now)
    await tx.emit_all(TIME_ENTRIES, verdicts)
    return recordings


def _verdict_event(submission: TimeEntrySubmitted, entry: RecordedEntry, now: datetime) -> Envelope:
    verdict = entry.verdict()
    if isinstance(verdict, TimeEntryAcceptedData):
        log.info("time entry accepted", entry_id=entry.entry_id, contract_id=entry.contract_id,
                 minutes=entry.minutes, payment_protection=entry.payment_protection, **_about(submission))
        return TimeEntryAccepted.derived_from(submission, verdict, source=SOURCE, time=now)
    log.info("time entry rejected", entry_id=entry.entry_id, contract_id=entry.contract_id,
             reason=entry.rejection, **_about(submission))
    return TimeEntryRejected.derived_from(submission, verdict, source=SOURCE, time=now)


def _about(submission: TimeEntrySubmitted) -> dict[str, str]:
    # What bound_to_event would add, for a batch: binding context per entry costs more than judging it.
    return {"event_id": submission.id, "correlation_id": submission.correlation_id}


async def on_contract_event(tx: Transaction, event: ContractEvent) -> None:
    await on_contract_events(tx, [event])


async def on_contract_events(tx: Transaction, events: list[ContractEvent]) -> None:
    """Their contracts locked at once, in one order: entries another instance is judging against the
    old history are committed before we look for them. Then each event is learned."""
    await tx.lock(CONTRACT_LOCK, *{event.data.contract_id for event in events})
    for event in events:
        with bound_to_event(event):
            await _learn(tx, event)


async def _learn(tx: Transaction, event: ContractEvent) -> None:
    """Learn a contract version; if it reveals a pause or end under accepted work, revoke that work's protection."""
    if isinstance(event, CommandRejected):
        return  # a refused command changed nothing and carries no snapshot
    contract_id = event.data.contract_id
    version = ContractVersion.of(event.data)
    # Before the duplicate check: a store older than the parties table learns them from a replay too.
    await store.add_parties(tx.connection, contract_id, event.data.client_id, event.data.freelancer_id)
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
    await tx.emit_all(TIME_ENTRIES, [
        ProtectionRevoked.derived_from(
            event,
            ProtectionRevokedData(entry_id=entry.entry_id, contract_id=contract_id, reason="work_during_pause"),
            source=SOURCE, time=now, discriminator=entry.entry_id,
        )
        for entry in revoked
    ])
    for entry in revoked:
        log.info("payment protection revoked", entry_id=entry.entry_id, contract_id=contract_id,
                 reason="work_during_pause", learned_version=version.version)
