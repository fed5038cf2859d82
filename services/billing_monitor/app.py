"""billing-monitor's wiring: consume `billing.events`, serve each client's standing over HTTP."""

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from services.billing_monitor.handlers import on_billing_fact, on_billing_facts
from services.billing_monitor.store import load_standing, standing_to_json, tables
from shared.auth import caller, refuse
from shared.events.billing import BILLING_EVENT, BillingProblemEvent
from shared.service import Service, run
from shared.settings import BaseServiceSettings
from shared.topics import BILLING_EVENTS, BILLING_PROBLEMS


class Settings(BaseServiceSettings):
    service_name: str = "billing-monitor"


def build(settings: Settings) -> Service:
    service = Service(settings, tables)
    service.consume(BILLING_EVENTS, BILLING_EVENT, on_billing_fact, apply_batch=on_billing_facts)
    service.produces(BILLING_PROBLEMS, BillingProblemEvent, "A client's billing problem opened or resolved, only on a change; keyed by client_id.")

    async def client_standing(request: Request) -> Response:
        """The client's open problems with the text the client was given: for the client and support."""
        client_id = request.path_params["client_id"]
        if not caller(request).is_("client", client_id) and caller(request).role != "support":
            raise refuse(403, "a client sees only their own billing problems")
        async with service.store.reading() as connection:
            standing = await load_standing(connection, client_id)
        body = {"client_id": client_id, "open_problems": standing.open_kinds, **standing_to_json(standing)}
        return JSONResponse(body)

    service.api("/clients/{client_id}/billing-problems", client_standing, allow={"client", "support"})
    return service


def main() -> None:
    run(Settings, build)
