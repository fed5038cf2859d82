"""GET /contracts/{contract_id}/history on the real broker: every change of a contract, by commands and
by billing, with version, type, status, holds, the actor's role and changed_at; for the parties and
support, and the unknown-contract 404 to anyone else."""

import httpx

from services.contract_state.app import Settings, build
from shared.topics import BILLING_PROBLEMS, CONTRACT_COMMANDS, CONTRACT_EVENTS
from tests.integration.contract_state.helpers import new_id, wait_about
from tests.support import TopicReader, bearer, publish, running
from tests.unit.contract_state.builders import ending, opening, pausing, problem_opened, problem_resolved, resuming


async def history_over_http(service, contract_id: str, headers: dict[str, str]) -> httpx.Response:
    transport = httpx.ASGITransport(app=service.http_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://contract-state") as http:
        return await http.get(f"/contracts/{contract_id}/history", headers=headers)


async def test_the_history_lists_every_change_with_who_made_it(settings_for, registry_topics):
    client, freelancer, contract = new_id("client"), new_id("freelancer"), new_id("contract")
    async with TopicReader.opened(registry_topics, CONTRACT_EVENTS) as events:
        async with running(build(settings_for(Settings))) as service:
            await publish(registry_topics, CONTRACT_COMMANDS, [
                opening(contract, client, freelancer, minute=0), pausing(client, contract, minute=1),
            ])
            await wait_about(events, contract, count=2)
            await publish(registry_topics, BILLING_PROBLEMS, [problem_opened(client, minute=5)])
            await wait_about(events, contract, count=3)
            await publish(registry_topics, CONTRACT_COMMANDS, [
                resuming(client, contract, minute=6), pausing(new_id("stranger"), contract, minute=7),
            ])
            await wait_about(events, contract, count=5)
            await publish(registry_topics, BILLING_PROBLEMS, [problem_resolved(client, minute=10)])
            await wait_about(events, contract, count=6)
            await publish(registry_topics, CONTRACT_COMMANDS, [ending(freelancer, contract, minute=12)])
            published = await wait_about(events, contract, count=7)
            support = await history_over_http(service, contract, bearer("support-1", "support"))
            as_client = await history_over_http(service, contract, bearer(client, "client"))
            as_freelancer = await history_over_http(service, contract, bearer(freelancer, "freelancer"))
            as_stranger = await history_over_http(service, contract, bearer(new_id("client"), "client"))
            unknown = await history_over_http(service, new_id("contract"), bearer("support-1", "support"))
            as_operator = await history_over_http(service, contract, bearer("operator-1", "operator"))
            anonymous = await history_over_http(service, contract, {})

    assert support.status_code == 200
    body = support.json()
    assert body["contract_id"] == contract
    changes = body["changes"]
    assert [(c["version"], c["type"], c["status"], c["holds"], c["actor_role"]) for c in changes] == [
        (1, "contract.opened", "active", [], "marketplace"),
        (2, "contract.paused", "paused", ["client"], "client"),
        (3, "contract.holds_changed", "paused", ["platform", "client"], "platform"),
        (4, "contract.holds_changed", "paused", ["platform"], "client"),
        (5, "contract.resumed", "active", [], "platform"),
        (6, "contract.ended", "ended", [], "freelancer"),
    ]
    changed = [e["data"]["changed_at"].replace("Z", "+00:00") for e in published if e["type"] != "contract.command_rejected"]
    assert [c["changed_at"] for c in changes] == changed
    assert "payment" not in support.text and "declined" not in support.text  # it says platform, never why
    assert as_client.json() == as_freelancer.json() == body
    assert as_stranger.status_code == unknown.status_code == 404
    assert as_stranger.content == unknown.content
    assert as_operator.status_code == 403 and anonymous.status_code == 401
