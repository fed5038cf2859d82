"""A restart mid-stream on the same database: the new instance carries on where the old one stopped,
nothing lost, nothing applied or published twice."""

import random
from collections import Counter

from services.billing_monitor.app import Settings, build
from services.billing_monitor.store import load_standing
from shared.topics import BILLING_EVENTS, BILLING_PROBLEMS
from tests.integration.billing_monitor.helpers import new_client, oracle, told
from tests.support import TopicReader, publish, running
from tests.unit.billing_monitor.facts import FACT_NAMES, at, fact

CLIENTS = 8
FACTS_PER_CLIENT = 30


async def test_a_new_instance_on_the_same_database_continues_without_loss_or_repeats(settings_for, registry_topics):
    picks = random.Random(7)
    clients = [new_client() for _ in range(CLIENTS)]
    # Random kinds and times: plenty of repeats, late facts and equal times.
    facts = {
        client: [fact(picks.choice(FACT_NAMES), client, at(picks.randrange(20))) for _ in range(FACTS_PER_CLIENT)]
        for client in clients
    }
    half = FACTS_PER_CLIENT // 2
    before_stop = [f for client in clients for f in facts[client][:half]]
    after_stop = [f for client in clients for f in facts[client][half:]]
    # Some facts the first instance saw come again after the restart: the inbox must remember them.
    again = [facts[client][0] for client in clients] + [facts[client][half - 1] for client in clients]

    expected = {client: oracle(facts[client]) for client in clients}
    expected_ids = {change.id for _, changes in expected.values() for change in changes}
    assert len(expected_ids) > CLIENTS, "the scenario should produce plenty of events"

    async with TopicReader.opened(registry_topics, BILLING_PROBLEMS) as problems:
        async with running(build(settings_for(Settings, database="billing-monitor"))):
            await publish(registry_topics, BILLING_EVENTS, before_stop)
            # Stop as soon as anything came out: the first half may be only partly applied.
            await problems.wait_for(lambda event: event["data"]["client_id"] in clients)

        await publish(registry_topics, BILLING_EVENTS, after_stop + again)

        async with running(build(settings_for(Settings, database="billing-monitor"))) as restarted:
            await problems.wait_for(lambda event: event["id"] in expected_ids, count=len(expected_ids), timeout=60)
            await problems.settle()
            async with restarted.store.reading() as connection:
                stored = {client: await load_standing(connection, client) for client in clients}
        assert restarted.intakes[0].duplicates >= len(again)

    published = [event["id"] for client in clients for event in told(problems, client)]
    repeated = [event_id for event_id, times in Counter(published).items() if times > 1]
    assert repeated == [], "an event was published twice"
    assert set(published) == expected_ids
    for client in clients:
        standing, changes = expected[client]
        assert [event["id"] for event in told(problems, client)] == [change.id for change in changes], client
        assert stored[client].open_kinds == standing.open_kinds, client
        assert stored[client].latest_fact_at == standing.latest_fact_at, client
