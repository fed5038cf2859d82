"""Forgetting what has grown old: inbox rows (the ids of inputs handled) and sent outbox rows.

An inbox row is what makes a redelivered input a duplicate, so it is kept far longer than any
redelivery may come (RETENTION_HOURS, seven days by default: as long as Kafka keeps a topic's
records by default). Unsent and parked outbox rows are kept whatever their age: Kafka is owed them.
"""

import asyncio
from datetime import UTC, datetime, timedelta

from shared.logs import get_logger
from shared.store import Store

log = get_logger(__name__)

PRUNE_EVERY_SECONDS = 3600.0


class Retention:
    def __init__(self, store: Store, period: timedelta, every_seconds: float = PRUNE_EVERY_SECONDS) -> None:
        self._store = store
        self._period = period
        self._every_seconds = every_seconds

    async def run(self) -> None:
        """Prune now and then for as long as the service runs; a failed round is retried in the next."""
        while True:
            try:
                await self.prune()
            except Exception as error:  # the store busy or away: nothing is lost by pruning later
                log.warning("pruning old inbox and outbox rows failed; trying again later",
                            error=f"{type(error).__name__}: {error}"[:500])
            await asyncio.sleep(self._every_seconds)

    async def prune(self) -> tuple[int, int]:
        """Delete what is older than the period: (inbox rows, outbox rows)."""
        inputs, outputs = await self._store.prune(datetime.now(UTC) - self._period)
        if inputs or outputs:
            log.info("old inbox and outbox rows pruned", inbox=inputs, outbox=outputs,
                     retention_hours=self._period / timedelta(hours=1))
        return inputs, outputs
