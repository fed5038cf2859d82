"""Service.background: work started with the service and cancelled when it stops; a crash is contained."""

import asyncio

from sqlalchemy import MetaData

from shared.service import Service
from shared.settings import BaseServiceSettings


async def test_background_work_runs_while_the_service_runs_and_a_crashing_one_does_not_stop_the_others(
    kafka_bootstrap, tmp_path
):
    settings = BaseServiceSettings(
        service_name="background-test", kafka_bootstrap_servers=kafka_bootstrap,
        database_url=f"sqlite:///{tmp_path / 'background.db'}",
    )
    service = Service(settings, MetaData())
    ticks: list[int] = []
    cancelled = asyncio.Event()

    async def tick() -> None:
        try:
            while True:
                ticks.append(1)
                await asyncio.sleep(0.01)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    async def crash() -> None:
        raise RuntimeError("a background task that fails")

    service.background.extend([crash, tick])
    await service.start(http=False)
    try:
        await asyncio.sleep(0.2)
        assert len(ticks) > 5
    finally:
        await service.stop()
    assert cancelled.is_set()
    count = len(ticks)
    await asyncio.sleep(0.05)
    assert len(ticks) == count
