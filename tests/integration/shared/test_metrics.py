"""/metrics tells an operator how far behind a service is, read from the broker itself."""

import re
import time

import httpx

from tests.integration.shared.echo import echo_service, opening
from tests.support import TopicReader, publish, running


async def scrape(service) -> str:
    transport = httpx.ASGITransport(app=service.http_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://service") as http:
        response = await http.get("/metrics")
    assert response.status_code == 200
    return response.text


def lag(metrics: str, topic: str) -> int:
    pattern = rf'contract_pause_consumer_lag{{partition="\d+",topic="{re.escape(topic)}"}} (\S+)'
    values = [float(v) for v in re.findall(pattern, metrics)]
    assert values, f"no lag reported for {topic}"
    return int(sum(values))


async def test_consumer_lag_is_non_zero_while_the_service_is_stopped_and_zero_once_caught_up(
    kafka_bootstrap, echo_topics, tmp_path
):
    commands, events = echo_topics
    database = tmp_path / "echo.db"
    async with TopicReader.opened(kafka_bootstrap, events) as outputs:
        async with running(echo_service(kafka_bootstrap, database, commands, events)) as first:
            await publish(kafka_bootstrap, commands, [opening("c-lag-0")])
            await outputs.wait_for(count=1)
        assert lag(await scrape(first), commands.name) == 0

        await publish(kafka_bootstrap, commands, [opening(f"c-lag-{n}") for n in range(1, 6)])
        stopped = echo_service(kafka_bootstrap, database, commands, events)
        await stopped.store.open()
        assert lag(await scrape(stopped), commands.name) == 5
        await stopped.store.close()

        async with running(echo_service(kafka_bootstrap, database, commands, events)) as caught_up:
            await outputs.wait_for(count=6)
            deadline = time.monotonic() + 20
            while (behind := lag(await scrape(caught_up), commands.name)) and time.monotonic() < deadline:
                await outputs.poll(0.2)  # offsets are committed within 0.2 s of their batch (shared.offsets)
            assert behind == 0
            metrics = await scrape(caught_up)
    assert f'contract_pause_events_consumed_total{{topic="{commands.name}",type="contract.open"}} 5.0' in metrics
    assert f'contract_pause_events_published_total{{topic="{events.name}",type="contract.opened"}} 5.0' in metrics
    assert "contract_pause_outbox_backlog 0.0" in metrics
    assert "contract_pause_outbox_parked 0.0" in metrics
