"""The rules of billing-monitor: which billing fact opens or resolves which problem, and when a fact
arrives too late to count. Pure: state and time in, new state and events out.

Rules (DESIGN.md, `billing.events`):
- payment_failed opens `payment_failed`; payment_succeeded resolves it.
- payment_method_expired / payment_method_removed open `payment_method_invalid`;
  payment_method_updated resolves both `payment_method_invalid` and `payment_failed`.
- account_suspended opens `account_suspended`; account_reinstated resolves it.
- chargeback_opened opens `chargeback`; chargeback_closed `won` resolves it, `lost` keeps it open.
- Late delivery: per client and problem kind we remember the `time` of the latest fact applied to
  that kind. A fact older than that changes nothing for that kind; a fact with the same `time` is
  not older, so it applies (the partition order, which is the upstream's publication order for one
  client, breaks the tie). A fact touching two kinds is judged for each kind on its own.
- An event is emitted only when a problem actually opens or resolves, carrying the client's open
  problem kinds (sorted) after that change.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal

from shared.events.billing import (
    MAX_DETAIL_CHARS,
    AccountReinstated,
    AccountSuspended,
    BillingEvent,
    ChargebackClosed,
    ChargebackOpened,
    PaymentFailed,
    PaymentFailedData,
    PaymentMethodExpired,
    PaymentMethodRemoved,
    PaymentMethodUpdated,
    PaymentSucceeded,
    ProblemKind,
    ProblemOpened,
    ProblemOpenedData,
    ProblemResolved,
    ProblemResolvedData,
)

SOURCE = "billing-monitor"

ProblemChange = ProblemOpened | ProblemResolved


@dataclass(frozen=True)
class OpenProblem:
    """An open problem as the client was told about it."""

    detail: str
    opened_at: datetime


@dataclass(frozen=True)
class ClientStanding:
    """A client's open billing problems, and per kind the `time` of the latest fact applied to it."""

    client_id: str
    open_problems: Mapping[ProblemKind, OpenProblem] = field(default_factory=dict)
    latest_fact_at: Mapping[ProblemKind, datetime] = field(default_factory=dict)

    @property
    def open_kinds(self) -> list[ProblemKind]:
        return sorted(self.open_problems)


@dataclass(frozen=True)
class Effect:
    """What one fact says about one problem kind: open (with the text for the client) or resolved."""

    kind: ProblemKind
    opens: bool
    detail: str = ""


@dataclass(frozen=True)
class Decision:
    standing: ClientStanding
    changes: tuple[ProblemChange, ...]
    # Kinds the fact was too old to touch: worth a log line, never an event.
    late_for: tuple[ProblemKind, ...] = ()


def apply_billing_fact(standing: ClientStanding, fact: BillingEvent, now: datetime) -> Decision:
    """Apply one billing fact to the client's standing. `now` only stamps the envelopes emitted."""
    if fact.data.client_id != standing.client_id:
        raise ValueError(f"a fact about {fact.data.client_id} applied to the standing of {standing.client_id}")
    changes: list[ProblemChange] = []
    late_for: list[ProblemKind] = []
    for effect in effects_of(fact):
        latest = standing.latest_fact_at.get(effect.kind)
        if latest is not None and fact.time < latest:
            late_for.append(effect.kind)
            continue
        # The watermark moves even when nothing else does: an older fact must not undo this one later.
        standing = replace(standing, latest_fact_at={**standing.latest_fact_at, effect.kind: fact.time})
        is_open = effect.kind in standing.open_problems
        if effect.opens and not is_open:
            detail = effect.detail[:MAX_DETAIL_CHARS]  # the contract bounds the text, whatever upstream sent
            standing = _opened(standing, effect.kind, OpenProblem(detail, fact.time))
            data = ProblemOpenedData(
                client_id=standing.client_id,
                kind=effect.kind,
                detail=detail,
                opened_at=fact.time,
                open_problems=standing.open_kinds,
            )
            changes.append(ProblemOpened.derived_from(fact, data, source=SOURCE, time=now, discriminator=effect.kind))
        elif not effect.opens and is_open:
            standing = _resolved(standing, effect.kind)
            data = ProblemResolvedData(
                client_id=standing.client_id,
                kind=effect.kind,
                resolved_at=fact.time,
                open_problems=standing.open_kinds,
            )
            changes.append(ProblemResolved.derived_from(fact, data, source=SOURCE, time=now, discriminator=effect.kind))
    return Decision(standing, tuple(changes), tuple(late_for))


def effects_of(fact: BillingEvent) -> list[Effect]:
    """The DESIGN.md table: which problem kinds a fact opens or resolves."""
    match fact:
        case PaymentFailed():
            return [Effect("payment_failed", opens=True, detail=_payment_declined(fact.data))]
        case PaymentSucceeded():
            return [Effect("payment_failed", opens=False)]
        case PaymentMethodExpired():
            detail = (
                f"Your payment method {fact.data.payment_method_id} has expired, so we cannot charge you. "
                "Add a valid payment method to reactivate your contracts."
            )
            return [Effect("payment_method_invalid", opens=True, detail=detail)]
        case PaymentMethodRemoved():
            detail = (
                f"Your payment method {fact.data.payment_method_id} was removed, so we cannot charge you. "
                "Add a valid payment method to reactivate your contracts."
            )
            return [Effect("payment_method_invalid", opens=True, detail=detail)]
        case PaymentMethodUpdated():
            # A new payment method fixes an invalid one and lets the failed payment be collected.
            return [Effect("payment_method_invalid", opens=False), Effect("payment_failed", opens=False)]
        case AccountSuspended():
            return [Effect("account_suspended", opens=True, detail=_suspended(fact.data.reason))]
        case AccountReinstated():
            return [Effect("account_suspended", opens=False)]
        case ChargebackOpened():
            dispute = fact.data.dispute_id
            detail = (
                f"A payment of yours was disputed with your bank (chargeback, dispute {dispute}). "
                "Your contracts are paused while the dispute is open. Withdraw the dispute with your bank "
                f"or contact support quoting dispute {dispute} to reactivate them."
            )
            return [Effect("chargeback", opens=True, detail=detail)]
        case ChargebackClosed() if fact.data.outcome == "won":
            return [Effect("chargeback", opens=False)]
        case ChargebackClosed():
            # Lost: the payment stays reversed and is still owed. If its opening never reached us
            # (or comes later, older), the problem is open from now on all the same.
            dispute = fact.data.dispute_id
            detail = (
                f"The chargeback on dispute {dispute} was closed and the disputed payment stays reversed, "
                "so the amount is still owed. Pay the outstanding amount or contact support quoting "
                f"dispute {dispute} to reactivate your contracts."
            )
            return [Effect("chargeback", opens=True, detail=detail)]
    raise TypeError(f"no billing rule for {type(fact).__name__}")


def _opened(standing: ClientStanding, kind: ProblemKind, problem: OpenProblem) -> ClientStanding:
    return replace(standing, open_problems={**standing.open_problems, kind: problem})


def _resolved(standing: ClientStanding, kind: ProblemKind) -> ClientStanding:
    return replace(standing, open_problems={k: p for k, p in standing.open_problems.items() if k != kind})


def _payment_declined(data: PaymentFailedData) -> str:
    payment = "Your payment" if data.amount_due is None else f"Your payment of {_amount(data.amount_due)}"
    code = f" ({data.decline_code})" if data.decline_code else ""
    return (
        f"{payment} was declined{code} on attempt {data.attempt}. "
        "Update your payment method or retry the payment to reactivate your contracts."
    )


def _suspended(reason: str | None) -> str:
    reason = (reason or "").strip().rstrip(".")
    why = f"Your account was suspended: {reason}." if reason else "Your account was suspended."
    action = "Contact support to resolve this" if reason else "Contact support to learn why"
    return f"{why} {action} and have your account reinstated; your contracts stay paused until then."


def _amount(amount: Decimal) -> str:
    """At least two decimals (49.9 -> 49.90), more only when upstream sent more (0.125)."""
    return f"{amount:.2f}" if amount.as_tuple().exponent >= -2 else format(amount, "f")
