"""Who may read a client's billing problems over HTTP: the client themselves and support (DESIGN,
"HTTP APIs: who may call them"); any other caller is told 403, without a word of the problems."""

from services.billing_monitor.app import Settings, build
from shared.topics import BILLING_EVENTS, BILLING_PROBLEMS
from tests.integration.billing_monitor.helpers import billing_problems_over_http, new_client, wait_told
from tests.support import TopicReader, bearer, publish, running
from tests.unit.billing_monitor.facts import at, fact


async def test_the_client_and_support_read_the_problems_and_nobody_else(settings_for, registry_topics):
    client, other_client = new_client(), new_client()
    callers = {
        "the client": (bearer(client, "client"), 200),
        "support": (bearer("support-1", "support"), 200),
        "another client": (bearer(other_client, "client"), 403),
        "the client's id as a freelancer": (bearer(client, "freelancer"), 403),
        "a freelancer": (bearer("alice-1", "freelancer"), 403),
        "an operator": (bearer("operator-1", "operator"), 403),
        "nobody": ({}, 401),
    }
    async with TopicReader.opened(registry_topics, BILLING_PROBLEMS) as problems:
        async with running(build(settings_for(Settings))) as service:
            await publish(registry_topics, BILLING_EVENTS, [fact("account_suspended", client, at(1))])
            await wait_told(problems, client, count=1)
            answers = {who: await billing_problems_over_http(service, client, headers)
                       for who, (headers, _status) in callers.items()}
    for who, (_headers, status) in callers.items():
        assert answers[who].status_code == status, who
        body = answers[who].json()
        if status == 200:
            assert body["open_problems"] == ["account_suspended"], who
        else:
            assert set(body) == {"error", "detail"} and "account_suspended" not in answers[who].text, who
