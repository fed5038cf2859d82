"""Apply functions of time-tracking: load state, ask the domain, save, emit on `time.entries`."""

from dataclasses import dataclass
from datetime import UTC, datetime

from services.time_tracking import store
from services.time_tracking.domain import (
    ContractHistory,
    ContractVersion,
    RecordedEntry,
    Recording,
    record,
    revoke_protection,
)
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
            with bound_to_event(submission):
                log.info("time entry resubmitted; first verdict stands", entry_id=data.entry_id,
                         accepted=recording.entry.accepted)
    await store.save_entries(tx.connection, [r.entry for r in recordings if r.first_time], recorded_at=now)
    await tx.emit_all(TIME_ENTRIES, verdicts)
    return recordings


def _verdict_event(submission: TimeEntrySubmitted, entry: RecordedEntry, now: datetime) -> Envelope:
    verdict = entry.verdict()
    with bound_to_event(submission):
        if isinstance(verdict, TimeEntryAcceptedData):
            log.info("time entry accepted", entry_id=entry.entry_id, contract_id=entry.contract_id,
                     minutes=entry.minutes, payment_protection=entry.payment_protection)
            return TimeEntryAccepted.derived_from(submission, verdict, source=SOURCE, time=now)
        log.info("time entry rejected", entry_id=entry.entry_id, contract_id=entry.contract_id, reason=entry.rejection)
        return TimeEntryRejected.derived_from(submission, verdict, source=SOURCE, time=now)


async def on_contract_event(tx: Transaction, event: ContractEvent) -> None:
    await on_contract_events(tx, [event])


async def on_contract_events(tx: Transaction, events: list[ContractEvent]) -> None:
    """Their contracts locked at once, in one order: entries another instance is judging against the
    old history are committed before we look for them. Then each event is learned in order, on the
    history the events before it left, in a handful of statements whatever the size of the batch."""
    await tx.lock(CONTRACT_LOCK, *{event.data.contract_id for event in events})
    # A refused command changed nothing and carries no snapshot.
    snapshots = [event for event in events if not isinstance(event, CommandRejected)]
    # Before the duplicate check: a store older than the parties table learns them from a replay too.
    await store.add_parties(tx.connection, [
        (event.data.contract_id, event.data.client_id, event.data.freelancer_id) for event in snapshots
    ])
    learned = await _learn_all(tx, snapshots)
    await _revoke_all(tx, learned)


@dataclass(frozen=True)
class _Learned:
    """A version new to its contract, and the contract's history once it was learned."""

    event: ContractEvent
    version: ContractVersion
    history: ContractHistory

    @property
    def since(self) -> datetime:
        return self.history.unavailable_since(self.version.version)


async def _learn_all(tx: Transaction, events: list[ContractEvent]) -> list[_Learned]:
    """Add each event's version to its contract's history, in order; store the new versions."""
    histories = await store.load_histories(tx.connection, {event.data.contract_id for event in events})
    learned = []
    for event in events:
        contract_id = event.data.contract_id
        version = ContractVersion.of(event.data)
        with bound_to_event(event):
            if histories[contract_id].knows(version.version):
                log.info("contract version already known", contract_id=contract_id, version=version.version)
                continue
            history = histories[contract_id] = histories[contract_id].learn(version)
            log.info("contract version learned", contract_id=contract_id, version=version.version,
                     status=version.status, current_version=history.current.version,
                     current_status=history.current.status)
        learned.append(_Learned(event, version, history))
    await store.add_versions(tx.connection, [(each.history.contract_id, each.version) for each in learned])
    return learned


async def _revoke_all(tx: Transaction, learned: list[_Learned]) -> None:
    """For each learned version in order, revoke the protection of accepted work it reveals was done
    while the contract was paused or ended, on the history as it was then; each entry once."""
    earliest: dict[str, datetime] = {}
    for each in learned:
        contract_id = each.history.contract_id
        earliest[contract_id] = min(each.since, earliest.get(contract_id, each.since))
    candidates = await store.protected_entries_ending_after(tx.connection, earliest)
    now = datetime.now(UTC)
    revoked: dict[str, Envelope] = {}
    for each in learned:
        still_protected = [entry for entry in candidates[each.history.contract_id]
                           if entry.ended_at > each.since and entry.entry_id not in revoked]
        for entry in revoke_protection(each.history, still_protected):
            revoked[entry.entry_id] = _revocation(each, entry, now)
    await store.mark_revoked(tx.connection, list(revoked), revoked_at=now)
    await tx.emit_all(TIME_ENTRIES, list(revoked.values()))


def _revocation(learned: _Learned, entry: RecordedEntry, now: datetime) -> Envelope:
    with bound_to_event(learned.event):
        log.info("payment protection revoked", entry_id=entry.entry_id, contract_id=entry.contract_id,
                 reason="work_during_pause", learned_version=learned.version.version)
    data = ProtectionRevokedData(entry_id=entry.entry_id, contract_id=entry.contract_id, reason="work_during_pause")
    return ProtectionRevoked.derived_from(
        learned.event, data, source=SOURCE, time=now, discriminator=entry.entry_id
    )
