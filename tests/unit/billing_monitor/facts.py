"""Billing facts for tests, by a short name, and the DESIGN.md table restated as the oracle tests check against."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from shared.events.billing import (
    AccountReinstated,
    AccountReinstatedData,
    AccountSuspended,
    AccountSuspendedData,
    BillingEvent,
    ChargebackClosed,
    ChargebackClosedData,
    ChargebackOpened,
    ChargebackOpenedData,
    PaymentFailed,
    PaymentFailedData,
    PaymentMethodData,
    PaymentMethodExpired,
    PaymentMethodRemoved,
    PaymentMethodUpdated,
    PaymentSucceeded,
    PaymentSucceededData,
    ProblemKind,
)

T0 = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)

# What each fact implies for each kind it touches: True = open, False = resolved.
IMPLIES: dict[str, dict[ProblemKind, bool]] = {
    "payment_failed": {"payment_failed": True},
    "payment_succeeded": {"payment_failed": False},
    "payment_method_expired": {"payment_method_invalid": True},
    "payment_method_removed": {"payment_method_invalid": True},
    "payment_method_updated": {"payment_method_invalid": False, "payment_failed": False},
    "account_suspended": {"account_suspended": True},
    "account_reinstated": {"account_suspended": False},
    "chargeback_opened": {"chargeback": True},
    "chargeback_won": {"chargeback": False},
    "chargeback_lost": {"chargeback": True},
}
FACT_NAMES = tuple(IMPLIES)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def fact(name: str, client_id: str, time: datetime, event_id: str | None = None) -> BillingEvent:
    """A billing fact of the given short name (see IMPLIES) about `client_id`, happened at `time`."""
    new = {"source": "test-billing", "time": time, "event_id": event_id}
    match name:
        case "payment_failed":
            data = PaymentFailedData(
                client_id=client_id, payment_method_id="pm-1", attempt=2,
                decline_code="insufficient_funds", amount_due=Decimal("49.90"),
            )
            return PaymentFailed.new(data, **new)
        case "payment_succeeded":
            return PaymentSucceeded.new(PaymentSucceededData(client_id=client_id, invoice_id="inv-1"), **new)
        case "payment_method_expired":
            return PaymentMethodExpired.new(PaymentMethodData(client_id=client_id, payment_method_id="pm-1"), **new)
        case "payment_method_removed":
            return PaymentMethodRemoved.new(PaymentMethodData(client_id=client_id, payment_method_id="pm-1"), **new)
        case "payment_method_updated":
            return PaymentMethodUpdated.new(PaymentMethodData(client_id=client_id, payment_method_id="pm-2"), **new)
        case "account_suspended":
            return AccountSuspended.new(AccountSuspendedData(client_id=client_id, reason="unpaid invoices"), **new)
        case "account_reinstated":
            return AccountReinstated.new(AccountReinstatedData(client_id=client_id), **new)
        case "chargeback_opened":
            return ChargebackOpened.new(ChargebackOpenedData(client_id=client_id, dispute_id="dp-7"), **new)
        case "chargeback_won" | "chargeback_lost":
            outcome = name.removeprefix("chargeback_")
            data = ChargebackClosedData(client_id=client_id, dispute_id="dp-7", outcome=outcome)
            return ChargebackClosed.new(data, **new)
    raise ValueError(f"no fact called {name!r}")


def expected_open_kinds(delivered: list[tuple[str, datetime]]) -> list[ProblemKind]:
    """The oracle: per kind, the latest fact by time (among equal times, the last delivered) decides."""
    latest: dict[ProblemKind, tuple[datetime, int, bool]] = {}
    for position, (name, time) in enumerate(delivered):
        for kind, opens in IMPLIES[name].items():
            latest[kind] = max(latest.get(kind, (time, position, opens)), (time, position, opens))
    return sorted(kind for kind, (_, _, opens) in latest.items() if opens)
