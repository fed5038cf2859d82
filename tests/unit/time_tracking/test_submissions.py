"""The desk that judges HTTP submissions in groups, on a real SQLite file, without a broker: fewer
transactions than requests, and every request answered as if it had been judged alone, in order."""

import asyncio
from contextlib import asynccontextmanager

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from services.time_tracking import handlers, store
from services.time_tracking.domain import Recording
from services.time_tracking.submissions import SubmissionDesk
from shared.events.time_entries import TimeEntrySubmitted
from shared.store import Store
from tests.integration.time_tracking.helpers import Contract


class CountedStore(Store):
    """The real store, counting the write transactions it begins."""

    def __init__(self, url: str) -> None:
        super().__init__(url, store.tables)
        self.transactions = 0
        self.began = asyncio.Event()
        self.waits_for_the_server = 0.0  # seconds; SQLite on the loop never waits, PostgreSQL does

    @asynccontextmanager
    async def transaction(self):  # noqa: ANN201 - the store's transaction context
        async with super().transaction() as tx:
            self.transactions += 1
            self.began.set()
            await asyncio.sleep(self.waits_for_the_server)
            yield tx

    def forget(self) -> None:
        """Count from here on."""
        self.transactions = 0
        self.began.clear()


@pytest.fixture
async def databases(tmp_path):
    opened = [CountedStore(f"sqlite+aiosqlite:///{tmp_path / f'time-tracking-{n}.db'}") for n in (1, 2)]
    for database in opened:
        await database.open()
    yield opened
    for database in opened:
        await database.close()


@pytest.fixture
def active() -> Contract:
    return Contract()


@pytest.fixture
def paused() -> Contract:
    return Contract()


@pytest.fixture
async def told(databases, active, paused) -> None:
    """Both stores know an active contract and one paused three hours into its story."""
    versions = [active.version(1, "active", 0), paused.version(1, "active", 0), paused.version(2, "paused", 3)]
    for database in databases:
        async with database.transaction() as tx:
            await handlers.on_contract_events(tx, versions)
        database.forget()


async def one_by_one(database: Store, submissions: list[TimeEntrySubmitted]) -> list[Recording]:
    """How the route judged them before: each request its own transaction, one after the other."""
    recordings = []
    for submission in submissions:
        async with database.transaction() as tx:
            recordings.append(await handlers.submit(tx, submission))
    return recordings


async def recorded_entry_ids(database: Store) -> set[str]:
    async with database.reading() as connection:
        return set((await connection.execute(text("SELECT entry_id FROM time_entries"))).scalars())


async def test_concurrent_submissions_share_transactions_and_each_gets_its_own_answer(databases, told, active, paused):
    grouped, sequential = databases
    submissions = [
        active.submitted(1, 2) if n % 3 else paused.submitted(4, 5)  # every third one falls in the pause
        for n in range(450)
    ]
    desk = SubmissionDesk(grouped, largest_group=200)

    answers = await asyncio.gather(*(desk.submit(submission) for submission in submissions))

    assert grouped.transactions == 3  # 200 + 200 + 50
    assert answers == await one_by_one(sequential, submissions)
    assert [answer.entry.entry_id for answer in answers] == [s.data.entry_id for s in submissions]
    assert sum(not answer.entry.accepted for answer in answers) == 150
    assert await recorded_entry_ids(grouped) == {s.data.entry_id for s in submissions}


async def test_requests_arriving_during_a_commit_form_the_next_group(databases, told, active):
    database, _ = databases
    database.waits_for_the_server = 0.01
    desk = SubmissionDesk(database)
    submissions = [active.submitted(1, 2) for _ in range(60)]
    waiting = []
    for submission in submissions:  # a steady stream, not a burst
        waiting.append(asyncio.create_task(desk.submit(submission)))
        await asyncio.sleep(0.001)

    answers = await asyncio.gather(*waiting)

    assert all(answer.first_time and answer.entry.accepted for answer in answers)
    assert 1 < database.transactions < len(submissions)


async def test_a_lone_submission_is_committed_at_once(databases, told, active):
    database, _ = databases
    desk = SubmissionDesk(database)

    answer = await asyncio.wait_for(desk.submit(active.submitted(1, 2)), timeout=5)

    assert answer.first_time and answer.entry.accepted
    assert database.transactions == 1


async def test_the_same_entry_id_twice_in_a_group_answers_as_two_requests_in_a_row(databases, told, active, paused):
    grouped, sequential = databases
    accepted, refused = active.submission_data(1, 2), paused.submission_data(4, 5)
    twice = [active.submitted(1, 2, entry_id=accepted.entry_id), paused.submitted(4, 5, entry_id=refused.entry_id)] * 2
    desk = SubmissionDesk(grouped)

    answers = await asyncio.gather(*(desk.submit(submission) for submission in twice))

    assert grouped.transactions == 1
    assert answers == await one_by_one(sequential, twice)
    first_accepted, first_refused, again_accepted, again_refused = answers
    assert (first_accepted.first_time, first_accepted.entry.accepted) == (True, True)  # 201
    assert (again_accepted.first_time, again_accepted.entry) == (False, first_accepted.entry)  # 200
    assert (first_refused.entry.accepted, again_refused.entry.accepted) == (False, False)  # 409, 409
    assert again_refused.entry == first_refused.entry and not again_refused.first_time
    verdicts = [row for row in await grouped.unsent(100) if row.type != "time_entry.protection_revoked"]
    assert len(verdicts) == 2, "one verdict per entry_id"


async def test_a_failing_submission_fails_only_its_own_request(databases, told, active, monkeypatch):
    database, _ = databases
    judge = handlers.record

    def record_with_a_bug(submission, *args):  # noqa: ANN001, ANN202 - as the domain's record
        if submission.entry_id == "entry-the-rules-choke-on":
            raise ValueError("a bug the rules hit on this one submission")
        return judge(submission, *args)

    monkeypatch.setattr(handlers, "record", record_with_a_bug)
    submissions = [active.submitted(1, 2) for _ in range(4)]
    submissions.insert(2, active.submitted(1, 2, entry_id="entry-the-rules-choke-on"))
    desk = SubmissionDesk(database)

    answers = await asyncio.gather(*(desk.submit(submission) for submission in submissions), return_exceptions=True)

    assert isinstance(answers[2], ValueError)
    assert all(isinstance(answer, Recording) and answer.entry.accepted for i, answer in enumerate(answers) if i != 2)
    assert database.transactions == 1 + 5  # the group, rolled back; then each alone
    assert await recorded_entry_ids(database) == {s.data.entry_id for i, s in enumerate(submissions) if i != 2}


async def test_an_unavailable_store_fails_every_waiter_without_trying_each_alone(databases, told, active):
    database, _ = databases
    async with database.transaction() as tx:  # a store error as SQLite raises it (OperationalError: transient)
        await tx.connection.execute(text("ALTER TABLE time_entries RENAME TO time_entries_away"))
    database.forget()
    desk = SubmissionDesk(database)

    answers = await asyncio.gather(*(desk.submit(active.submitted(1, 2)) for _ in range(5)), return_exceptions=True)

    assert all(isinstance(answer, OperationalError) for answer in answers)
    assert database.transactions == 1


async def test_a_caller_leaving_does_not_break_its_group_nor_the_desk(databases, told, active):
    database, _ = databases
    desk = SubmissionDesk(database)
    submissions = [active.submitted(1, 2) for _ in range(3)]
    waiting = [asyncio.create_task(desk.submit(submission)) for submission in submissions]
    await database.began.wait()  # their group is being judged

    waiting[1].cancel()  # a client that disconnected
    answers = await asyncio.gather(*waiting, return_exceptions=True)
    later = await desk.submit(active.submitted(1, 2))

    assert isinstance(answers[1], asyncio.CancelledError)
    assert isinstance(answers[0], Recording) and isinstance(answers[2], Recording) and later.entry.accepted
    # Its group was judged whole: the submission of the caller who left is recorded too.
    assert submissions[1].data.entry_id in await recorded_entry_ids(database)


async def test_a_caller_leaving_before_its_group_forms_is_not_judged(databases, told, active):
    database, _ = databases
    desk = SubmissionDesk(database)
    submissions = [active.submitted(1, 2) for _ in range(3)]
    waiting = [asyncio.create_task(desk.submit(submission)) for submission in submissions]
    await asyncio.sleep(0)  # all three wait at the desk; the clerk has not begun

    waiting[1].cancel()
    answers = await asyncio.gather(*waiting, return_exceptions=True)

    assert isinstance(answers[1], asyncio.CancelledError)
    assert database.transactions == 1
    assert await recorded_entry_ids(database) == {submissions[0].data.entry_id, submissions[2].data.entry_id}
