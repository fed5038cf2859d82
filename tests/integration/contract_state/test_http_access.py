"""Who may read a contract over HTTP: its client, its freelancer and support (DESIGN, "HTTP APIs: who
may call them"). To anyone else the contract does not exist: the very answer an unknown contract gets."""

from services.contract_state.app import Settings, build
from shared.topics import CONTRACT_COMMANDS, CONTRACT_EVENTS
from tests.integration.contract_state.helpers import contract_over_http, new_id, wait_about
from tests.support import TopicReader, bearer, publish, running
from tests.unit.contract_state.builders import opening


async def test_the_parties_and_support_read_a_contract_and_to_others_it_does_not_exist(settings_for, registry_topics):
    client, freelancer, contract = new_id("client"), new_id("freelancer"), new_id("contract")
    callers = {
        "the client": (bearer(client, "client"), 200),
        "the freelancer": (bearer(freelancer, "freelancer"), 200),
        "support": (bearer("support-1", "support"), 200),
        "another client": (bearer(new_id("client"), "client"), 404),
        "another freelancer": (bearer(new_id("freelancer"), "freelancer"), 404),
        "the client's id as a freelancer": (bearer(client, "freelancer"), 404),
        "the freelancer's id as a client": (bearer(freelancer, "client"), 404),
        "an operator": (bearer("operator-1", "operator"), 403),
        "nobody": ({}, 401),
    }
    async with TopicReader.opened(registry_topics, CONTRACT_EVENTS) as events:
        async with running(build(settings_for(Settings))) as service:
            await publish(registry_topics, CONTRACT_COMMANDS, [opening(contract, client, freelancer)])
            (opened,) = await wait_about(events, contract, count=1)
            answers = {who: await contract_over_http(service, contract, headers)
                       for who, (headers, _status) in callers.items()}
            unknown_to_the_client = await contract_over_http(service, new_id("contract"), bearer(client, "client"))
            unknown_to_support = await contract_over_http(service, new_id("contract"))
    for who, (_headers, status) in callers.items():
        assert answers[who].status_code == status, who
        if status == 200:
            assert answers[who].json() == opened["data"], who
        else:
            assert contract not in answers[who].text and client not in answers[who].text, who
    assert unknown_to_the_client.status_code == unknown_to_support.status_code == 404
    for who in ("another client", "another freelancer", "the client's id as a freelancer"):
        assert answers[who].content == unknown_to_the_client.content == unknown_to_support.content, who
