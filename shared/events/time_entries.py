"""Time submitted by tracker apps (`time.entries.submitted`) and the verdicts (`time.entries`)."""

from typing import Annotated, Literal, Self

from pydantic import Field, TypeAdapter, model_validator

from shared.events.envelope import MAX_COUNT, Data, Envelope, Id, UtcDatetime

EntrySource = Literal["tracker", "manual"]
PaymentProtection = Literal["eligible", "not_covered"]
EntryRejectionReason = Literal[
    "contract_paused", "contract_ended", "unknown_contract", "not_contract_freelancer", "invalid_interval", "not_hourly"
]


class TimeEntrySubmittedData(Data):
    # The interval's order is not checked here: a backwards interval is a business
    # refusal (`invalid_interval`) the tracker app hears about, not a malformed message.
    entry_id: Id
    contract_id: Id
    freelancer_id: Id
    started_at: UtcDatetime
    ended_at: UtcDatetime
    memo: str = Field(default="", max_length=4000)
    source: EntrySource


class TimeEntryAcceptedData(Data):
    entry_id: Id
    contract_id: Id
    freelancer_id: Id
    started_at: UtcDatetime
    ended_at: UtcDatetime
    minutes: int = Field(ge=0, lt=MAX_COUNT)
    payment_protection: PaymentProtection

    @model_validator(mode="after")
    def _ends_after_start(self) -> Self:
        if self.ended_at <= self.started_at:
            raise ValueError("ended_at must be after started_at")
        return self


class TimeEntryRejectedData(Data):
    entry_id: Id
    contract_id: Id
    freelancer_id: Id
    reason: EntryRejectionReason


class ProtectionRevokedData(Data):
    entry_id: Id
    contract_id: Id
    reason: Literal["work_during_pause"]


class TimeEntrySubmitted(Envelope):
    type: Literal["time_entry.submitted"] = "time_entry.submitted"
    data: TimeEntrySubmittedData


class TimeEntryAccepted(Envelope):
    type: Literal["time_entry.accepted"] = "time_entry.accepted"
    data: TimeEntryAcceptedData


class TimeEntryRejected(Envelope):
    type: Literal["time_entry.rejected"] = "time_entry.rejected"
    data: TimeEntryRejectedData


class ProtectionRevoked(Envelope):
    type: Literal["time_entry.protection_revoked"] = "time_entry.protection_revoked"
    data: ProtectionRevokedData


TimeEntrySubmission = Annotated[TimeEntrySubmitted, Field(discriminator="type")]
TIME_ENTRY_SUBMISSION: TypeAdapter[TimeEntrySubmission] = TypeAdapter(TimeEntrySubmission)

TimeEntryEvent = Annotated[TimeEntryAccepted | TimeEntryRejected | ProtectionRevoked, Field(discriminator="type")]
TIME_ENTRY_EVENT: TypeAdapter[TimeEntryEvent] = TypeAdapter(TimeEntryEvent)
