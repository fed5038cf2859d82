"""A party of a contract asking the platform for help (`support.requests`), written by the
marketplace apps when someone presses "Get Support"."""

from typing import Annotated, Literal

from pydantic import Field, TypeAdapter

from shared.events.envelope import Data, Envelope, Id

MAX_MESSAGE_CHARS = 4000

SupportTopic = Literal["contract_paused", "payment_protection", "other"]
RefusalReason = Literal["not_a_party", "unknown_contract"]


class SupportRequestedData(Data):
    request_id: Id
    contract_id: Id
    requester_id: Id
    topic: SupportTopic
    message: str = Field(max_length=MAX_MESSAGE_CHARS)


class CircumventionReportedData(Data):
    """Someone was offered payment outside the platform; the other party must never learn of it."""

    report_id: Id
    contract_id: Id
    reporter_id: Id
    message: str = Field(max_length=MAX_MESSAGE_CHARS)


class SupportRequested(Envelope):
    type: Literal["support.requested"] = "support.requested"
    data: SupportRequestedData


class CircumventionReported(Envelope):
    type: Literal["support.circumvention_reported"] = "support.circumvention_reported"
    data: CircumventionReportedData


SupportEvent = Annotated[SupportRequested | CircumventionReported, Field(discriminator="type")]
SUPPORT_EVENT: TypeAdapter[SupportEvent] = TypeAdapter(SupportEvent)
