"""Billing facts from upstream (`billing.events`) and the problems derived from them (`billing.problems`)."""

from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BeforeValidator, Field, PlainSerializer, TypeAdapter

from shared.events.envelope import Data, Envelope, Id, OptionalId, UtcDatetime

MAX_AMOUNT = Decimal("1e10")  # above any real invoice; bounds the text written for the client


def _a_number(value: object) -> object:
    if isinstance(value, str | bool):
        raise ValueError("an amount is a JSON number, not text or a boolean")
    if isinstance(value, int | float):
        return Decimal(str(value))  # the shortest text that reads back as this number: as written
    return value


# A JSON number, read exactly as written; written back as a number (14 significant digits at most
# within the bounds, so a float carries it without loss).
Amount = Annotated[Decimal, BeforeValidator(_a_number), PlainSerializer(float, return_type=float, when_used="json")]
MAX_DETAIL_CHARS = 2000

ProblemKind = Literal["payment_failed", "payment_method_invalid", "account_suspended", "chargeback"]


# --- billing.events: facts reported by upstream billing systems -----------------------------


class PaymentFailedData(Data):
    client_id: Id
    payment_method_id: Id
    attempt: int = Field(ge=1, le=1000)
    decline_code: str | None = Field(default=None, max_length=100)
    amount_due: Amount | None = Field(default=None, ge=0, le=MAX_AMOUNT, decimal_places=4)


class PaymentSucceededData(Data):
    client_id: Id
    invoice_id: OptionalId = None


class PaymentMethodData(Data):
    client_id: Id
    payment_method_id: Id


class AccountSuspendedData(Data):
    client_id: Id
    reason: str | None = Field(default=None, max_length=500)


class AccountReinstatedData(Data):
    client_id: Id


class ChargebackOpenedData(Data):
    client_id: Id
    dispute_id: Id


class ChargebackClosedData(Data):
    client_id: Id
    dispute_id: Id
    outcome: Literal["won", "lost"]


class PaymentFailed(Envelope):
    type: Literal["billing.payment_failed"] = "billing.payment_failed"
    data: PaymentFailedData


class PaymentSucceeded(Envelope):
    type: Literal["billing.payment_succeeded"] = "billing.payment_succeeded"
    data: PaymentSucceededData


class PaymentMethodExpired(Envelope):
    type: Literal["billing.payment_method_expired"] = "billing.payment_method_expired"
    data: PaymentMethodData


class PaymentMethodRemoved(Envelope):
    type: Literal["billing.payment_method_removed"] = "billing.payment_method_removed"
    data: PaymentMethodData


class PaymentMethodUpdated(Envelope):
    type: Literal["billing.payment_method_updated"] = "billing.payment_method_updated"
    data: PaymentMethodData


class AccountSuspended(Envelope):
    type: Literal["billing.account_suspended"] = "billing.account_suspended"
    data: AccountSuspendedData


class AccountReinstated(Envelope):
    type: Literal["billing.account_reinstated"] = "billing.account_reinstated"
    data: AccountReinstatedData


class ChargebackOpened(Envelope):
    type: Literal["billing.chargeback_opened"] = "billing.chargeback_opened"
    data: ChargebackOpenedData


class ChargebackClosed(Envelope):
    type: Literal["billing.chargeback_closed"] = "billing.chargeback_closed"
    data: ChargebackClosedData


BillingEvent = Annotated[
    PaymentFailed
    | PaymentSucceeded
    | PaymentMethodExpired
    | PaymentMethodRemoved
    | PaymentMethodUpdated
    | AccountSuspended
    | AccountReinstated
    | ChargebackOpened
    | ChargebackClosed,
    Field(discriminator="type"),
]
BILLING_EVENT: TypeAdapter[BillingEvent] = TypeAdapter(BillingEvent)


# --- billing.problems: a client's open problems, as billing-monitor sees them ---------------


class ProblemOpenedData(Data):
    client_id: Id
    kind: ProblemKind
    detail: str = Field(max_length=MAX_DETAIL_CHARS, description="What is wrong and what to do, written for the client only.")
    opened_at: UtcDatetime
    open_problems: list[ProblemKind] = Field(max_length=4, description="The client's open problem kinds after this change.")


class ProblemResolvedData(Data):
    client_id: Id
    kind: ProblemKind
    resolved_at: UtcDatetime
    open_problems: list[ProblemKind] = Field(max_length=4)


class ProblemOpened(Envelope):
    type: Literal["billing.problem_opened"] = "billing.problem_opened"
    data: ProblemOpenedData


class ProblemResolved(Envelope):
    type: Literal["billing.problem_resolved"] = "billing.problem_resolved"
    data: ProblemResolvedData


BillingProblemEvent = Annotated[ProblemOpened | ProblemResolved, Field(discriminator="type")]
BILLING_PROBLEM_EVENT: TypeAdapter[BillingProblemEvent] = TypeAdapter(BillingProblemEvent)
