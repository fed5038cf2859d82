"""Inputs for contract-state's unit tests: commands and billing changes at chosen times."""

from datetime import UTC, datetime, timedelta

from shared.events.billing import ProblemKind, ProblemOpened, ProblemOpenedData, ProblemResolved, ProblemResolvedData
from shared.events.contracts import (
    ContractActorData,
    EndContract,
    OpenContract,
    OpenContractData,
    PauseContract,
    PauseContractData,
    ResumeContract,
)

T0 = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
NOW = T0 + timedelta(days=1)  # when the service publishes; never a change's time


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def opening(contract_id: str = "k-1", client_id: str = "c-1", freelancer_id: str = "f-1", minute: float = 0) -> OpenContract:
    data = OpenContractData(contract_id=contract_id, client_id=client_id, freelancer_id=freelancer_id, kind="hourly")
    return OpenContract.new(data, source="test", time=at(minute))


def pausing(actor_id: str, contract_id: str = "k-1", minute: float = 1, message: str | None = None) -> PauseContract:
    data = PauseContractData(contract_id=contract_id, actor_id=actor_id, message=message)
    return PauseContract.new(data, source="test", time=at(minute))


def resuming(actor_id: str, contract_id: str = "k-1", minute: float = 2) -> ResumeContract:
    return ResumeContract.new(ContractActorData(contract_id=contract_id, actor_id=actor_id), source="test", time=at(minute))


def ending(actor_id: str, contract_id: str = "k-1", minute: float = 3) -> EndContract:
    return EndContract.new(ContractActorData(contract_id=contract_id, actor_id=actor_id), source="test", time=at(minute))


def problem_opened(
    client_id: str = "c-1",
    kind: ProblemKind = "payment_failed",
    open_problems: list[ProblemKind] | None = None,
    minute: float = 5,
    event_minute: float | None = None,
    detail: str = "Your card ending 4242 was declined (insufficient_funds), 49.90 due.",
) -> ProblemOpened:
    data = ProblemOpenedData(
        client_id=client_id, kind=kind, detail=detail, opened_at=at(minute),
        open_problems=[kind] if open_problems is None else open_problems,
    )
    return ProblemOpened.new(data, source="billing-monitor", time=at(minute if event_minute is None else event_minute))


def problem_resolved(
    client_id: str = "c-1",
    kind: ProblemKind = "payment_failed",
    open_problems: list[ProblemKind] | None = None,
    minute: float = 10,
    event_minute: float | None = None,
) -> ProblemResolved:
    data = ProblemResolvedData(client_id=client_id, kind=kind, resolved_at=at(minute), open_problems=open_problems or [])
    return ProblemResolved.new(data, source="billing-monitor", time=at(minute if event_minute is None else event_minute))
