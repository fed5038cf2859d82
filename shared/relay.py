"""Publishes the outbox in order, at least once: a row is marked sent only after Kafka acknowledged it.

A crash between a commit and the publication loses nothing: the row is still unsent and goes
out, with the same event id, when the service starts again. A row Kafka can never take (larger
than the broker accepts) is parked, so it cannot hold up the rows behind it; a refusal Kafka may
lift (no write permission on the topic, the broker away) keeps the rows and retries with backoff.
With several instances on one PostgreSQL store, their relays take turns (`Store.relay_turn`).

A store with one writer (SQLite) hands the relay each transaction's rows as it commits: once the
relay has published every older row, it sends those straight away instead of reading them back,
and marks them sent in one statement every `MARK_EVERY` seconds instead of one transaction per
batch. A crash before the mark publishes those rows again at the next start, with the same ids,
which every consumer's inbox skips; order per key is kept. Every `POLL_SECONDS`, and after any
failure, the relay reads the store again (rows an operator unparked meanwhile, say).
"""

import asyncio
import contextlib
import time
from collections import Counter
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
MARK_EVERY = 0.2  # seconds a published row may wait to be marked sent (one store's only writer)
MAX_HANDED = 5000  # rows held in memory for the relay; beyond, it reads them from the store
KEEP_UP_SECONDS = 5.0  # the longest the consumer waits for the relay between two batches
MARKS_PER_STATEMENT = 5000  # SQLite takes at most 32,766 parameters in one statement
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
        self._handed: list[Unsent] = []  # committed rows the store handed over, in commit order
        self._caught_up = False  # every row older than the handed ones is published: send those as they are
        self._unmarked: list[int] = []  # published from `_handed`, not yet marked sent
        self._mark_due = 0.0
        self._handed_sent = asyncio.Event()  # set while no handed row waits to be sent
        self._handed_sent.set()
        store.when_committed(self._committed)

    def wake(self) -> None:
        """Read the store now rather than at the next poll (rows written there by other means)."""
        self._caught_up = False
        self._wakeup.set()

    def _committed(self, rows: list[Unsent]) -> None:
        if self._store.single_writer and rows:
            self._handed += rows
            self._handed_sent.clear()
            if len(self._handed) > MAX_HANDED:
                # Consuming outruns Kafka's acks (a backlog): the rows wait in the store, not in memory.
                self._caught_up = False
                self._give_back_handed()
        self._wakeup.set()

    async def keep_up(self) -> None:
        """Wait until the rows handed over so far are sent (or left to the store after a failure).
        The consumer waits here between batches: a busy consumer otherwise starves the relay of the
        loop (SQLite on the loop never yields), and every output waits behind the whole backlog.
        Kafka's acks it does not wait for: the relay awaits them while the next batch is taken
        (waiting for them too cost each hop 3-5 ms a batch at 200 inputs/s, measured), and sends
        that batch's rows once they came, so rows still go out in order, one publication at a time.
        A relay reading a backlog from the store, or waiting for Kafka to take rows again, holds
        no one up: the outbox is there to take what it cannot publish yet."""
        if self._caught_up and not self._handed_sent.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._handed_sent.wait(), KEEP_UP_SECONDS)

    def _give_back_handed(self) -> None:
        """Forget the handed rows: the store still has them, and the next read publishes them."""
        self._handed.clear()
        self._handed_sent.set()

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
            await self._publish_handed()  # committed during the last read (the consumers stop first)
            await self._mark()
        except Exception as error:
            log.warning("outbox rows left unsent at stop; they go out on the next start", error=_said(error))

    async def drain(self) -> int:
        """Publish every unsent row the store holds and mark it sent; returns how many were
        published. Raises the first refusal worth retrying, after marking what did go out.

        It ends with the first read that leaves no row behind. Rows committed meanwhile are handed
        over (one writer) and go out as such: reading on until a read comes back empty never ended
        while a busy consumer kept committing (notification's drains took up to 6.5 s at 200 inputs/s,
        its notices waiting behind a read, a publication and a marking transaction per round)."""
        self._caught_up = False
        await self._mark()  # rows published from memory must not be read back as unsent
        total = 0
        while True:
            self._give_back_handed()  # committed before this read, so the read sees them
            async with self._store.relay_turn() as turn:  # another instance's relay waits meanwhile
                rows = await turn.unsent(self._batch_size)
                errors = await self._publish(rows)
                sent = [row for row, error in zip(rows, errors, strict=True) if error is None]
                if sent:
                    await turn.mark_sent([row.seq for row in sent])
                await self._park_never_publishable(turn, rows, errors)
            total += self._count_published(sent)
            _raise_retryable(errors)
            if len(rows) < self._batch_size:  # the store had nothing more when read
                self._caught_up = self._store.single_writer
                self._forget_handed_through(rows[-1].seq if rows else None)
                return total

    def _forget_handed_through(self, seq: int | None) -> None:
        """Drop handed rows the last read already published (those up to its last `seq`). The rest were
        committed after that read, so after every row it returned: they go out as handed rows."""
        if seq is not None:
            self._handed = [row for row in self._handed if row.seq > seq]
        if not self._handed:
            self._handed_sent.set()

    async def _publish_handed(self) -> None:
        """Send the rows handed over since the last turn; their marks wait for `_mark`."""
        while self._handed:
            rows, self._handed = self._handed[: self._batch_size], self._handed[self._batch_size :]
            sending = await self._send_all(rows)
            if not self._handed:
                self._handed_sent.set()
            errors = await _outcomes(sending)
            sent = [row for row, error in zip(rows, errors, strict=True) if error is None]
            if sent and not self._unmarked:
                self._mark_due = time.monotonic() + MARK_EVERY
            self._unmarked += [row.seq for row in sent]
            self._count_published(sent)
            await self._park_never_publishable(RelayTurn(self._store), rows, errors)
            if any(_retryable(error) for error in errors):
                self._caught_up = False  # the rest stays in the store, read back once Kafka takes rows again
                self._give_back_handed()
                _raise_retryable(errors)
            await self._mark_if_due()  # commits may keep the list from emptying for long
        self._handed_sent.set()
        await self._mark_if_due()

    async def _mark_if_due(self) -> None:
        if self._unmarked and time.monotonic() >= self._mark_due:
            await self._mark()

    async def _mark(self) -> None:
        while self._unmarked:
            seqs = self._unmarked[:MARKS_PER_STATEMENT]
            await self._store.mark_sent(seqs)
            del self._unmarked[: len(seqs)]

    def _count_published(self, sent: list[Unsent]) -> int:
        for (topic, event_type), count in Counter((row.topic, row.type) for row in sent).items():
            self._metrics.published.labels(topic, event_type).inc(count)
            self._refused_topics.discard(topic)
        self.published += len(sent)
        return len(sent)

    async def _park_never_publishable(self, turn: RelayTurn, rows: Sequence[Unsent],
                                      errors: Sequence[BaseException | None]) -> None:
        for row, error in zip(rows, errors, strict=True):
            if isinstance(error, NEVER_PUBLISHABLE):
                await self._park(turn, row, error)

    async def _publish(self, rows: Sequence[Unsent]) -> list[BaseException | None]:
        """Send every row; per row, None once Kafka acknowledged it, else why not."""
        return await _outcomes(await self._send_all(rows))

    async def _send_all(self, rows: Sequence[Unsent]) -> list[asyncio.Future | BaseException]:
        """Give every row to the producer: per row, the future of its ack, or why it was refused."""
        pending: list[asyncio.Future | BaseException] = []
        for row in rows:
            try:
                pending.append(await self._send(row.topic, row.key.encode(), row.payload))
            except Exception as error:  # e.g. larger than the producer may send: refused before sending
                pending.append(error)
        return pending

    async def _park(self, turn: RelayTurn, row: Unsent, error: BaseException) -> None:
        await turn.park(row.seq, _said(error))
        log.error("outbox row parked: Kafka will not take it; `contract-pause outbox parked` lists it",
                  seq=row.seq, topic=row.topic, type=row.type, size=len(row.payload), error=_said(error))

    async def _run(self) -> None:
        backoff = POLL_SECONDS
        next_read = time.monotonic()  # the store is read first: rows a previous run left unsent
        while not self._stopping:
            try:
                await asyncio.wait_for(self._wakeup.wait(), self._idle_for(next_read, backoff))
            except TimeoutError:
                pass
            self._wakeup.clear()
            try:
                if self._caught_up and time.monotonic() < next_read:
                    await self._publish_handed()
                else:
                    await self.drain()
                    next_read = time.monotonic() + POLL_SECONDS
                backoff = POLL_SECONDS
            except TopicAuthorizationFailedError as refusal:
                self._say_refused(refusal)
                backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
            except Exception as error:  # Kafka unreachable or the store busy: the rows stay unsent, try again
                log.warning("outbox publication failed; retrying", error=_said(error), retry_in_seconds=backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)

    def _idle_for(self, next_read: float, backoff: float) -> float:
        """How long to wait for a commit before turning anyway: to mark rows, or to read the store."""
        if not self._caught_up:
            return backoff
        due = min(next_read, self._mark_due) if self._unmarked else next_read
        return max(0.0, due - time.monotonic())

    def _say_refused(self, refusal: TopicAuthorizationFailedError) -> None:
        """One line per refused topic, not one per retry."""
        named = refusal.args[0] if refusal.args else None
        topics = set(named) if isinstance(named, set | list | tuple) else {str(named or "(unnamed)")}
        new = topics - self._refused_topics
        if new:
            self._refused_topics |= new
            log.error("outbox topic not authorized: this service's Kafka principal may not write it; "
                      "rows kept unsent and retried (grant WRITE, see `contract-pause acls`)", topics=sorted(new))


def _retryable(error: BaseException | None) -> bool:
    return error is not None and not isinstance(error, NEVER_PUBLISHABLE)


def _raise_retryable(errors: Sequence[BaseException | None]) -> None:
    retry = next((error for error in errors if _retryable(error)), None)
    if retry is not None:
        raise retry


async def _outcomes(pending: Sequence[asyncio.Future | BaseException]) -> list[BaseException | None]:
    """Per row sent, None once Kafka acknowledged it, else why not."""
    outcomes = await asyncio.gather(
        *(_failed(item) if isinstance(item, BaseException) else item for item in pending), return_exceptions=True
    )
    return [outcome if isinstance(outcome, BaseException) else None for outcome in outcomes]


async def _failed(error: BaseException) -> None:
    raise error


def _said(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"[:500]
