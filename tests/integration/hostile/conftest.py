"""Fixtures of the hostile-input tests: the four real services in this process, once per module."""

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack

import pytest

from services.billing_monitor import app as billing_monitor
from services.contract_state import app as contract_state
from services.notification import app as notification
from services.time_tracking import app as time_tracking
from shared.service import Service
from tests.support import running

APPS = {
    "billing-monitor": billing_monitor,
    "contract-state": contract_state,
    "notification": notification,
    "time-tracking": time_tracking,
}


def build_all(bootstrap: str, directory, names=tuple(APPS)) -> dict[str, Service]:  # noqa: ANN001 - a Path
    """Each service as its app.py builds it, on the test broker and a fresh SQLite file."""
    return {
        name: APPS[name].build(APPS[name].Settings(
            kafka_bootstrap_servers=bootstrap, database_url=f"sqlite:///{directory / name}.db"))
        for name in names
    }


@pytest.fixture(scope="module")
async def four_services(registry_topics: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[dict[str, Service]]:
    """billing-monitor, contract-state, notification and time-tracking, running for the whole module."""
    services = build_all(registry_topics, tmp_path_factory.mktemp("hostile"))
    async with AsyncExitStack() as stack:
        for service in services.values():
            await stack.enter_async_context(running(service))
        yield services
