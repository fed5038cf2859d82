"""The standing survives the database: JSON round trip, and load/save on a real SQLite file."""

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from services.billing_monitor.domain import ClientStanding, OpenProblem
from services.billing_monitor.store import load_standing, save_standings, standing_from_json, standing_to_json, tables
from shared.store import Store

KINDS = ["payment_failed", "payment_method_invalid", "account_suspended", "chargeback"]
times = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)
standings = st.builds(
    ClientStanding,
    client_id=st.just("client-s"),
    open_problems=st.dictionaries(st.sampled_from(KINDS), st.builds(OpenProblem, st.text(min_size=1), times)),
    latest_fact_at=st.dictionaries(st.sampled_from(KINDS), times),
)


@given(standings)
def test_a_standing_reads_back_as_it_was_written(standing):
    assert standing_from_json(standing.client_id, standing_to_json(standing)) == standing


async def test_load_and_save_on_sqlite(tmp_path):
    store = Store(f"sqlite+aiosqlite:///{tmp_path / 'billing.db'}", tables)
    await store.open()
    try:
        first = ClientStanding(
            "client-s",
            open_problems={"chargeback": OpenProblem("dispute dp-1", datetime(2026, 1, 1, tzinfo=UTC))},
            latest_fact_at={"chargeback": datetime(2026, 1, 1, tzinfo=UTC)},
        )
        second = ClientStanding("client-s", latest_fact_at={"chargeback": datetime(2026, 1, 2, tzinfo=UTC)})
        async with store.transaction() as tx:
            assert await load_standing(tx.connection, "client-s") == ClientStanding("client-s")
            await save_standings(tx.connection, [first])
        async with store.reading() as connection:
            assert await load_standing(connection, "client-s") == first
        async with store.transaction() as tx:
            await save_standings(tx.connection, [second])
        async with store.reading() as connection:
            assert await load_standing(connection, "client-s") == second
            assert await load_standing(connection, "client-other") == ClientStanding("client-other")
    finally:
        await store.close()
