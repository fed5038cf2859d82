"""Publishes the outbox in order, at least once: a row is marked sent only after Kafka acknowledged it.

A crash between a commit and the publication loses nothing: the row is still unsent and goes
out, with the same event id, when the service starts again.
"""

import asyncio
from collections.abc import Awaitable, Callable

from shared.logs import get_logger
from shared.metrics import Metrics
from shared.store import Store

log = get_logger(__name__)

# Sends one message and returns a future that resolves when Kafka acknowledged it.
Send = Callable[[str, bytes, bytes], Awaitable[asyncio.Future]]

POLL_SECONDS = 1.0  # also publishes rows committed by a previous run or another writer


class OutboxRelay:
    def __init__(self, store: Store, send: Send, metrics: Metrics, batch_size: int = 500) -> None:
        self._store = store
        self._metrics = metrics
        self._send = send
        self._batch_size = batch_size
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._stopping = False
        self.published = 0

    def wake(self) -> None:
        """Called after every commit that emitted something."""
        self._wakeup.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="outbox-relay")

    async def stop(self) -> None:
        """Publish what is committed, then stop."""
        if self._task:
            # Not cancel(): a drain cut between Kafka's ack and mark_sent would publish those rows twice.
            self._stopping = True
            self._wakeup.set()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
            self._stopping = False
        await self.drain()

    async def drain(self) -> int:
        """Publish every unsent row; returns how many were published."""
        total = 0
        while rows := await self._store.unsent(self._batch_size):
            acknowledgements = [await self._send(row.topic, row.key.encode(), row.payload) for row in rows]
            await asyncio.gather(*acknowledgements)
            await self._store.mark_sent([row.seq for row in rows])
            for row in rows:
                self._metrics.published.labels(row.topic, row.type).inc()
            total += len(rows)
        self.published += total
        return total

    async def _run(self) -> None:
        while not self._stopping:
            try:
                await asyncio.wait_for(self._wakeup.wait(), POLL_SECONDS)
            except TimeoutError:
                pass
            self._wakeup.clear()
            try:
                await self.drain()
            except Exception:  # Kafka unreachable or the store busy: the rows stay unsent, try again
                log.exception("outbox publication failed; retrying")
                await asyncio.sleep(POLL_SECONDS)
