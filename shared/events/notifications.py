"""One record per recipient per notification (`notifications`)."""

from typing import Annotated, Literal

from pydantic import Field, TypeAdapter

from shared.events.envelope import Data, Envelope, Id, UtcDatetime

RecipientRole = Literal["freelancer", "client", "support"]
NotificationKind = Literal[
    "contract_paused", "contract_resumed", "billing_action_required", "still_paused", "time_entry_blocked",
    "support_request_received", "support_request_refused", "support_case", "circumvention_report",
    "freelancer_waiting",
]
Channel = Literal["in_app", "email", "webhook"]


class NotificationCreatedData(Data):
    notification_id: Id
    recipient_id: Id
    recipient_role: RecipientRole
    kind: NotificationKind
    contract_ids: list[Id] = Field(max_length=10_000)
    title: str = Field(min_length=1, max_length=200)
    body: str = Field(min_length=1, max_length=4000)
    channels: list[Channel] = Field(min_length=1)
    created_at: UtcDatetime


class NotificationCreated(Envelope):
    type: Literal["notification.created"] = "notification.created"
    data: NotificationCreatedData


Notification = Annotated[NotificationCreated, Field(discriminator="type")]
NOTIFICATION: TypeAdapter[Notification] = TypeAdapter(Notification)
