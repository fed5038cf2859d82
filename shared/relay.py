"""Publishes the outbox in order, at least once: a row is marked sent only after Kafka acknowledged it.

A crash between a commit and the publication loses nothing: the row is still unsent and goes
out, with the same event id, when the service starts again. A row Kafka can never take (larger
than the broker accepts) is parked, so it cannot hold up the rows behind it; a refusal Kafka may
lift (no write permission on the topic, the broker away) keeps the rows and retries with backoff.
With several instances on one PostgreSQL store, their relays take turns (`Store.relay_turn`).
"""

import asyncio
from collections.abc import Awaitable, Callable, Sequence

from aiokafka.errors import (
    InvalidTopicError,
    MessageSizeTooLargeError,
    RecordListTooLargeError,
    TopicAuthorizationFailedError,
)

from shared.logs import get_logger
from shared.metrics import Metrics
from shared.store import RelayTurn, Store, Unsent

log = get_logger(__name__)

# Sends one message and returns a future that resolves when Kafka acknowledged it.
Send = Callable[[str, bytes, bytes], Awaitable[asyncio.Future]]

POLL_SECONDS = 1.0  # also publishes rows committed by a previous run or another writer
MAX_BACKOFF_SECONDS = 60.0
NEVER_PUBLISHABLE = (MessageSizeTooLargeError, RecordListTooLargeError, InvalidTopicError)


class OutboxRelay:
    def __init__(self, store: Store, send: Send, metrics: Metrics, batch_size: int = 500) -> None:
        self._store = store
        self._metrics = metrics
        self._send = send
        self._batch_size = batch_size
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._stopping = False
        self._refused_topics: set[str] = set()
        self.published = 0

    def wake(self) -> None:
        """Called after every commit that emitted something."""
        self._wakeup.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="outbox-relay")

    async def stop(self) -> None:
        """Publish what is committed, then stop; what Kafka does not take now goes out on the next start."""
        if self._task:
            # Not cancel(): a drain cut between Kafka's ack and mark_sent would publish those rows twice.
            self._stopping = True
            self._wakeup.set()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
            self._stopping = False
        try:
            await self.drain()
        except Exception as error:
            log.warning("outbox rows left unsent at stop; they go out on the next start", error=_said(error))

    async def drain(self) -> int:
        """Publish every unsent row; returns how many were published. Raises the first refusal
        worth retrying, after marking what did go out."""
        total = 0
        while True:
            async with self._store.relay_turn() as turn:  # another instance's relay waits meanwhile
                rows = await turn.unsent(self._batch_size)
                if not rows:
                    return total
                errors = await self._publish(rows)
                sent = [row for row, error in zip(rows, errors, strict=True) if error is None]
                if sent:
                    await turn.mark_sent([row.seq for row in sent])
                for row, error in zip(rows, errors, strict=True):
                    if isinstance(error, NEVER_PUBLISHABLE):
                        await self._park(turn, row, error)
            for row in sent:
                self._metrics.published.labels(row.topic, row.type).inc()
                self._refused_topics.discard(row.topic)
            total += len(sent)
            self.published += len(sent)
            retry = next((e for e in errors if e is not None and not isinstance(e, NEVER_PUBLISHABLE)), None)
            if retry is not None:
                raise retry

    async def _publish(self, rows: Sequence[Unsent]) -> list[BaseException | None]:
        """Send every row; per row, None once Kafka acknowledged it, else why not."""
        pending: list[asyncio.Future | BaseException] = []
        for row in rows:
            try:
                pending.append(await self._send(row.topic, row.key.encode(), row.payload))
            except Exception as error:  # e.g. larger than the producer may send: refused before sending
                pending.append(error)
        outcomes = await asyncio.gather(
            *(_failed(item) if isinstance(item, BaseException) else item for item in pending), return_exceptions=True
        )
        return [outcome if isinstance(outcome, BaseException) else None for outcome in outcomes]

    async def _park(self, turn: RelayTurn, row: Unsent, error: BaseException) -> None:
        await turn.park(row.seq, _said(error))
        log.error("outbox row parked: Kafka will not take it; `contract-pause outbox parked` lists it",
                  seq=row.seq, topic=row.topic, type=row.type, size=len(row.payload), error=_said(error))

    async def _run(self) -> None:
        backoff = POLL_SECONDS
        while not self._stopping:
            try:
                await asyncio.wait_for(self._wakeup.wait(), backoff)
            except TimeoutError:
                pass
            self._wakeup.clear()
            try:
                await self.drain()
                backoff = POLL_SECONDS
            except TopicAuthorizationFailedError as refusal:
                self._say_refused(refusal)
                backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
            except Exception as error:  # Kafka unreachable or the store busy: the rows stay unsent, try again
                log.warning("outbox publication failed; retrying", error=_said(error), retry_in_seconds=backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)

    def _say_refused(self, refusal: TopicAuthorizationFailedError) -> None:
        """One line per refused topic, not one per retry."""
        named = refusal.args[0] if refusal.args else None
        topics = set(named) if isinstance(named, set | list | tuple) else {str(named or "(unnamed)")}
        new = topics - self._refused_topics
        if new:
            self._refused_topics |= new
            log.error("outbox topic not authorized: this service's Kafka principal may not write it; "
                      "rows kept unsent and retried (grant WRITE, see `contract-pause acls`)", topics=sorted(new))


async def _failed(error: BaseException) -> None:
    raise error


def _said(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"[:500]
