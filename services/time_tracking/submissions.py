"""Time submitted over HTTP, judged in groups (group commit).

Every request used to be a transaction of its own; under hundreds of POSTs a second the Kafka
consumer's batches, contract pauses among them, queued behind dozens of them for the one write
lock, and the time gate learned of a pause late. Now the requests that arrive while a group's
transaction runs wait at the desk and are judged together, in order, in the next one. A lone
request is judged at once: no group waits for company.
"""

import asyncio
from dataclasses import dataclass

from services.time_tracking import handlers
from services.time_tracking.domain import Recording
from shared.events.time_entries import TimeEntrySubmitted
from shared.logs import get_logger
from shared.store import Store, transient

log = get_logger(__name__)

LARGEST_GROUP = 200  # one group's transaction stays short, so a consumed pause is not held up long


@dataclass(frozen=True)
class _Waiting:
    submission: TimeEntrySubmitted
    answer: asyncio.Future[Recording]

    @property
    def gone(self) -> bool:
        """Answered already, or its caller stopped waiting (a client that disconnected)."""
        return self.answer.done()


class SubmissionDesk:
    """Where HTTP submissions wait for their verdict. One group is judged at a time, by a clerk task
    that lives while anyone waits; the requests never run the transaction themselves, so a caller
    that disconnects cannot cut short a transaction that others' answers ride on."""

    def __init__(self, store: Store, largest_group: int = LARGEST_GROUP) -> None:
        self._store = store
        self._largest_group = largest_group
        self._queue: list[_Waiting] = []
        self._group: list[_Waiting] = []
        self._clerk: asyncio.Task | None = None

    async def submit(self, submission: TimeEntrySubmitted) -> Recording:
        """The submission's recording, exactly as if it had been judged alone after those before it;
        raises what judging it raised."""
        waiting = _Waiting(submission, asyncio.get_running_loop().create_future())
        self._queue.append(waiting)
        if self._clerk is None or self._clerk.done():
            self._clerk = asyncio.create_task(self._judge_waiting(), name="time-submissions")
        return await waiting.answer

    async def _judge_waiting(self) -> None:
        try:
            while self._take_next_group():
                await self._judge(self._group)
        finally:
            # Someone is left only if the clerk itself was cancelled (the loop closing): tell them.
            for waiting in (*self._group, *self._queue):
                waiting.answer.cancel()
            self._group = []

    def _take_next_group(self) -> bool:
        # A request whose caller left before its group formed is not judged, as when it waited on the lock.
        present = [waiting for waiting in self._queue if not waiting.gone]
        self._group, self._queue = present[:self._largest_group], present[self._largest_group:]
        return bool(self._group)

    async def _judge(self, group: list[_Waiting]) -> None:
        try:
            recordings = await self._record([waiting.submission for waiting in group])
        except Exception as error:
            if transient(error) or len(group) == 1:
                # The store is away (each alone would fail too), or this was the one submission at fault.
                for waiting in group:
                    _tell(waiting, error=error)
                return
            log.warning("group of time submissions failed; judging each alone", size=len(group), exc_info=True)
            for waiting in group:
                if not waiting.gone:
                    await self._judge([waiting])
            return
        for waiting, recording in zip(group, recordings, strict=True):
            _tell(waiting, recording=recording)

    async def _record(self, submissions: list[TimeEntrySubmitted]) -> list[Recording]:
        async with self._store.transaction() as tx:  # its verdicts go to the relay as it commits
            return await handlers.submit_all(tx, submissions)


def _tell(waiting: _Waiting, recording: Recording | None = None, error: Exception | None = None) -> None:
    if waiting.gone:
        return
    if error is not None:
        waiting.answer.set_exception(error)
    else:
        waiting.answer.set_result(recording)
