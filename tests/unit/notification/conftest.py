"""notification's store and HTTP API without a broker: a real SQLite file, the API behind the shared
border (tokens, roles, limits), and a scripted resolver in place of DNS."""

from collections.abc import Iterable

import httpx
import pytest

from shared.service import Service
from services.notification import api, store
from services.notification.app import Settings
from services.notification.targets import Targets

PUBLIC = "93.184.216.34"  # what the scripted resolver answers for a public name


class ScriptedDns:
    """A resolver whose answers the test sets, per name; names it was not told do not resolve."""

    def __init__(self, answers: dict[str, Iterable[str]]) -> None:
        self.answers = {name: list(addresses) for name, addresses in answers.items()}
        self.asked: list[str] = []

    async def __call__(self, host: str, port: int) -> list[str]:
        self.asked.append(host)
        if host not in self.answers:
            raise OSError(f"{host}: name or service not known")
        return self.answers[host]


@pytest.fixture
def dns() -> ScriptedDns:
    return ScriptedDns({"hooks.example": [PUBLIC], "down.example": [PUBLIC], "unreachable.example": [PUBLIC]})


@pytest.fixture
def targets(dns) -> Targets:
    return Targets(allow_private=False, resolve=dns)


@pytest.fixture
async def service(tmp_path, targets):
    """The service with only its API declared (nothing consumed), its store open."""
    service = Service(Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'notification.db'}"), store.tables)
    api.declare(service, targets)
    await service.store.open()
    yield service
    await service.store.close()


@pytest.fixture
def notification_store(service):
    return service.store


@pytest.fixture
async def http(service):
    transport = httpx.ASGITransport(app=service.http_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://notification") as client:
        yield client
