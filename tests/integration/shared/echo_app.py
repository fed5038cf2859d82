"""The echo service of test_mechanism as its own process, so a test can kill it at the worst moment.

    python echo_app.py <commands topic> <events topic> <database> [--die-after-commit]

With --die-after-commit the relay never runs, and the process exits (code 17) as soon as the
first transaction that emitted something has committed, after writing down the id it emitted.
"""

import asyncio
import json
import os
import signal
import sys
from pathlib import Path

from shared.logs import configure_logging
from shared.relay import OutboxRelay
from shared.service import Service
from shared.topics import Topic
from tests.integration.shared.echo import echo_service


def die_on_first_commit(service: Service, database: Path) -> None:
    async def record_and_die() -> None:
        first, *_ = await service.store.unsent(1)
        database.with_suffix(".committed-id").write_text(json.loads(first.payload)["id"])
        os._exit(17)

    OutboxRelay.start = lambda relay: None  # type: ignore[method-assign]
    service.store.when_committed(lambda _rows: asyncio.ensure_future(record_and_die()))


async def main() -> None:
    commands, events, database = sys.argv[1], sys.argv[2], Path(sys.argv[3])
    service = echo_service(
        os.environ["KAFKA_BOOTSTRAP_SERVERS"], database,
        Topic(commands, "contract_id", has_dlq=True), Topic(events, "contract_id"),
    )
    if "--die-after-commit" in sys.argv:
        die_on_first_commit(service, database)
    stopping = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stopping.set)
    await service.start(http=False)
    await stopping.wait()
    await service.stop()


if __name__ == "__main__":
    configure_logging("echo", "INFO", "json")
    asyncio.run(main())
