"""contract-state wiring: what it consumes, its HTTP API, its process entry point."""

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from services.contract_state import handlers, store
from shared.auth import caller, refuse
from shared.events.billing import BILLING_PROBLEM_EVENT
from shared.events.contracts import CONTRACT_COMMAND, ContractEvent
from shared.service import Service, run
from shared.settings import BaseServiceSettings
from shared.topics import BILLING_PROBLEMS, CONTRACT_COMMANDS, CONTRACT_EVENTS


class Settings(BaseServiceSettings):
    service_name: str = "contract-state"


def build(settings: Settings) -> Service:
    service = Service(settings, store.tables)
    service.consume(CONTRACT_COMMANDS, CONTRACT_COMMAND, handlers.on_contract_command,
                    apply_batch=handlers.on_contract_commands)
    service.consume(BILLING_PROBLEMS, BILLING_PROBLEM_EVENT, handlers.on_billing_problem,
                    apply_batch=handlers.on_billing_problems)
    service.produces(CONTRACT_EVENTS, ContractEvent, "Every contract after each change, and refused commands; keyed by contract_id.")

    async def contract(request: Request) -> Response:
        """GET /contracts/{contract_id}: the contract as `contracts.events` last described it, to its
        client, its freelancer and support. To anyone else it does not exist: the same 404 as unknown."""
        async with service.store.reading() as connection:
            found = await store.load_contract(connection, request.path_params["contract_id"], for_update=False)
        who = caller(request)
        if found is None or not (who.role == "support" or who.is_("client", found.client_id)
                                 or who.is_("freelancer", found.freelancer_id)):
            raise refuse(404, "no such contract")
        return Response(found.snapshot().model_dump_json(exclude_none=True), media_type="application/json")

    async def history(request: Request) -> Response:
        """GET /contracts/{contract_id}/history: every change, oldest first, with the role of who made it;
        to the contract's parties and support (the same 404 as unknown to anyone else)."""
        contract_id = request.path_params["contract_id"]
        async with service.store.reading() as connection:
            found = await store.load_contract(connection, contract_id, for_update=False)
            changes = await store.history_of(connection, contract_id) if found else []
        who = caller(request)
        if found is None or not (who.role == "support" or who.is_("client", found.client_id)
                                 or who.is_("freelancer", found.freelancer_id)):
            raise refuse(404, "no such contract")
        return JSONResponse({"contract_id": contract_id, "changes": changes})

    service.api("/contracts/{contract_id}", contract, allow={"client", "freelancer", "support"})
    service.api("/contracts/{contract_id}/history", history, allow={"client", "freelancer", "support"})
    return service


def main() -> None:
    run(Settings, build)
