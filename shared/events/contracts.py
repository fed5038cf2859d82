"""Commands to contracts (`contracts.commands`) and what became of them (`contracts.events`)."""

from typing import Annotated, Literal, Self

from pydantic import Field, TypeAdapter, model_validator

from shared.events.envelope import MAX_COUNT, Data, Envelope, Id, UtcDatetime

ContractKind = Literal["hourly", "fixed_price"]
ContractStatus = Literal["active", "paused", "ended"]
Hold = Literal["platform", "client"]
RejectionReason = Literal[
    "unknown_contract", "not_authorized", "contract_ended", "already_exists", "not_paused_by_client"
]


# --- contracts.commands -------------------------------------------------------------------


class OpenContractData(Data):
    contract_id: Id
    client_id: Id
    freelancer_id: Id
    kind: ContractKind
    weekly_limit_hours: float | None = Field(default=None, gt=0, le=168)


class PauseContractData(Data):
    contract_id: Id
    actor_id: Id
    message: str | None = Field(default=None, max_length=2000)


class ContractActorData(Data):
    contract_id: Id
    actor_id: Id


class OpenContract(Envelope):
    type: Literal["contract.open"] = "contract.open"
    data: OpenContractData


class PauseContract(Envelope):
    type: Literal["contract.pause"] = "contract.pause"
    data: PauseContractData


class ResumeContract(Envelope):
    type: Literal["contract.resume"] = "contract.resume"
    data: ContractActorData


class EndContract(Envelope):
    type: Literal["contract.end"] = "contract.end"
    data: ContractActorData


ContractCommand = Annotated[
    OpenContract | PauseContract | ResumeContract | EndContract, Field(discriminator="type")
]
CONTRACT_COMMAND: TypeAdapter[ContractCommand] = TypeAdapter(ContractCommand)


# --- contracts.events ---------------------------------------------------------------------


class ContractSnapshot(Data):
    """The contract as it is after a change. Says `platform`, never why."""

    contract_id: Id
    client_id: Id
    freelancer_id: Id
    kind: ContractKind
    status: ContractStatus
    holds: list[Hold] = Field(max_length=2)
    version: int = Field(ge=1, lt=MAX_COUNT)
    changed_at: UtcDatetime
    client_message: str | None = Field(default=None, max_length=2000)

    @model_validator(mode="after")
    def _status_follows_holds(self) -> Self:
        if self.status != "ended" and (self.status == "paused") != bool(self.holds):
            raise ValueError(f"status {self.status!r} contradicts holds {self.holds}: paused exactly while held")
        if len(set(self.holds)) != len(self.holds):
            raise ValueError(f"holds {self.holds} repeat a hold")
        if self.client_message is not None and "client" not in self.holds:
            raise ValueError("client_message belongs to a client hold, and there is none")
        return self


class CommandRejectedData(Data):
    command_id: Id
    contract_id: Id
    actor_id: Id
    reason: RejectionReason


class ContractOpened(Envelope):
    type: Literal["contract.opened"] = "contract.opened"
    data: ContractSnapshot


class ContractPaused(Envelope):
    type: Literal["contract.paused"] = "contract.paused"
    data: ContractSnapshot


class ContractResumed(Envelope):
    type: Literal["contract.resumed"] = "contract.resumed"
    data: ContractSnapshot


class ContractHoldsChanged(Envelope):
    type: Literal["contract.holds_changed"] = "contract.holds_changed"
    data: ContractSnapshot


class ContractEnded(Envelope):
    type: Literal["contract.ended"] = "contract.ended"
    data: ContractSnapshot


class CommandRejected(Envelope):
    type: Literal["contract.command_rejected"] = "contract.command_rejected"
    data: CommandRejectedData


ContractChange = ContractOpened | ContractPaused | ContractResumed | ContractHoldsChanged | ContractEnded
ContractEvent = Annotated[ContractChange | CommandRejected, Field(discriminator="type")]
CONTRACT_EVENT: TypeAdapter[ContractEvent] = TypeAdapter(ContractEvent)
