"""The pause story over SASL_SSL: four services in this process, each logged in as its own principal
with only the ACLs the topic registry gives it."""

import asyncio
import importlib
import uuid
from contextlib import AsyncExitStack

import pytest

from ops.operate import billing_event, contract_command
from ops.run import discover_services
from shared.topics import BILLING_EVENTS, CONTRACT_COMMANDS, CONTRACT_EVENTS, NOTIFICATIONS
from tests.integration.security.conftest import PRODUCER, publish_as, reading
from tests.support import running

pytestmark = pytest.mark.kafka


async def test_a_payment_failure_pauses_the_contract_and_tells_the_freelancer_over_sasl_ssl(
    secured_kafka, secured_settings
):
    suffix = uuid.uuid4().hex[:8]
    client, freelancer, contract = f"client-{suffix}", f"fl-{suffix}", f"design-{suffix}"
    async with AsyncExitStack() as services:
        contract_events = await services.enter_async_context(reading(secured_kafka, CONTRACT_EVENTS))
        notifications = await services.enter_async_context(reading(secured_kafka, NOTIFICATIONS))
        apps = [importlib.import_module(f"services.{module}.app") for module in discover_services()]
        started = await asyncio.gather(
            *(services.enter_async_context(running(app.build(secured_settings(app.Settings)))) for app in apps),
            return_exceptions=True,  # every start finishes, and the stack stops those that did
        )
        for outcome in started:
            if isinstance(outcome, BaseException):
                raise outcome

        opened = contract_command("open", {"contract_id": contract, "client_id": client,
                                           "freelancer_id": freelancer, "kind": "hourly"})
        await publish_as(secured_kafka, PRODUCER, CONTRACT_COMMANDS, [opened])
        await contract_events.wait_for(lambda e: e["type"] == "contract.opened"
                                       and e["data"]["contract_id"] == contract)
        failed = billing_event("payment_failed", {"client_id": client, "payment_method_id": "pm-1", "attempt": 1})
        await publish_as(secured_kafka, PRODUCER, BILLING_EVENTS, [failed])

        paused = await contract_events.wait_for(lambda e: e["type"] == "contract.paused"
                                                and e["data"]["contract_id"] == contract)
        told = await notifications.wait_for(lambda e: e["data"]["recipient_id"] == freelancer
                                            and e["data"]["kind"] == "contract_paused")

    assert paused[0]["data"]["holds"] == ["platform"]
    assert paused[0]["correlationid"] == failed.correlation_id
    assert told[0]["data"]["recipient_role"] == "freelancer"
