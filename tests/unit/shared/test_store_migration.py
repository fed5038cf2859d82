"""A store written before the inbox was kept per topic opens with its history intact."""

from sqlalchemy import MetaData, text

from shared.store import Store
from shared.topics import BILLING_PROBLEMS, CONTRACT_COMMANDS


async def test_an_inbox_keyed_by_id_alone_is_carried_over_to_every_consumed_topic(tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"
    old = Store(url, MetaData())
    async with old.engine.begin() as connection:
        await connection.execute(text("CREATE TABLE inbox (event_id VARCHAR(200) PRIMARY KEY, received_at TIMESTAMP)"))
        await connection.execute(text("INSERT INTO inbox VALUES ('seen-before', '2026-11-01 00:00:00')"))
        await connection.execute(text(
            "CREATE TABLE outbox (seq INTEGER PRIMARY KEY, event_id VARCHAR(200), topic VARCHAR(200), key VARCHAR(200), "
            "type VARCHAR(100), payload BLOB, created_at TIMESTAMP, sent_at TIMESTAMP)"
        ))
    await old.close()

    store = Store(url, MetaData())
    await store.open([CONTRACT_COMMANDS, BILLING_PROBLEMS])
    try:
        async with store.transaction() as tx:
            assert await tx.first_times(CONTRACT_COMMANDS, ["seen-before", "new"]) == {"new"}
            assert await tx.first_times(BILLING_PROBLEMS, ["seen-before"]) == set()
        assert await store.parked_count() == 0
    finally:
        await store.close()
