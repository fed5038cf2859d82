"""`contract-pause outbox parked|retry` on a service's store."""

import asyncio
from datetime import UTC, datetime

from sqlalchemy import MetaData

from ops.cli import main
from shared.events.billing import AccountSuspended, AccountSuspendedData
from shared.store import Store
from shared.topics import BILLING_PROBLEMS


async def parked_store(url: str) -> None:
    store = Store(url, MetaData())
    await store.open()
    async with store.transaction() as tx:
        data = AccountSuspendedData(client_id="client-7", reason="private reason")
        await tx.emit(BILLING_PROBLEMS, AccountSuspended.new(data, source="test", time=datetime.now(UTC)))
    (row,) = await store.unsent(10)
    await store.park(row.seq, "MessageSizeTooLargeError: too big")
    await store.close()


async def test_parked_rows_are_listed_without_payloads_and_put_back_in_line(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'billing.db'}"
    await parked_store(url.replace("sqlite://", "sqlite+aiosqlite://"))
    arguments = ["--service", "billing-monitor", "--database-url", url]

    assert await _cli(["outbox", "parked", *arguments]) == 0
    listed = capsys.readouterr().out
    assert "billing.problems" in listed and "key=client-7" in listed and "MessageSizeTooLargeError" in listed
    assert "private reason" not in listed and "1 parked row(s)" in listed

    assert await _cli(["outbox", "retry", "--all", *arguments]) == 0
    assert "1 row(s) back in line" in capsys.readouterr().out
    assert await _cli(["outbox", "parked", *arguments]) == 0
    assert "0 parked row(s)" in capsys.readouterr().out


async def test_a_store_without_an_outbox_is_one_clear_line(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    assert await _cli(["outbox", "parked", "--service", "notification", "--database-url", url]) == 1
    assert "cannot read notification's outbox" in capsys.readouterr().out


async def _cli(argv: list[str]) -> int:
    return await asyncio.to_thread(main, argv)  # the command runs its own event loop
