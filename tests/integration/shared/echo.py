"""A minimal service on the shared mechanism: every `contract.open` command yields one `contract.opened`."""

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import MetaData

from shared.events.contracts import CONTRACT_COMMAND, ContractOpened, ContractSnapshot, OpenContract, OpenContractData
from shared.service import Service
from shared.settings import BaseServiceSettings
from shared.store import Transaction
from shared.topics import Topic


def opening(contract_id: str, event_id: str | None = None) -> OpenContract:
    data = OpenContractData(contract_id=contract_id, client_id="client-1", freelancer_id="fl-1", kind="hourly")
    return OpenContract.new(data, source="test", time=datetime.now(UTC), event_id=event_id)


def echo_service(
    bootstrap: str, database: Path | None, commands: Topic, events: Topic, *, database_url: str | None = None
) -> Service:
    """The echo service on a SQLite file (`database`) or on any store URL (`database_url`, e.g. PostgreSQL)."""
    settings = BaseServiceSettings(
        service_name=f"echo-{commands.name}", kafka_bootstrap_servers=bootstrap,
        database_url=database_url or f"sqlite:///{database}",
    )
    service = Service(settings, MetaData())

    async def open_contract(tx: Transaction, command: OpenContract) -> None:
        snapshot = ContractSnapshot(
            **command.data.model_dump(exclude={"weekly_limit_hours"}),
            status="active", holds=[], version=1, changed_at=command.time,
        )
        await tx.emit(events, ContractOpened.derived_from(command, snapshot, source="echo", time=command.time))

    service.consume(commands, CONTRACT_COMMAND, open_contract)
    return service
