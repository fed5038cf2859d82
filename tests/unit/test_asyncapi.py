"""The AsyncAPI documents under docs/asyncapi/ are what the code says today."""

import json

import pytest

from ops.asyncapi import DOCS, render
from ops.run import discover_services, display_name

SERVICES = discover_services()


def test_every_service_has_a_document():
    assert {display_name(module) for module in SERVICES} == {"billing-monitor", "contract-state", "time-tracking",
                                                              "notification"}
    assert {path.stem for path in DOCS.glob("*.json")} == {display_name(module) for module in SERVICES}


@pytest.mark.parametrize("module", SERVICES)
def test_the_committed_document_is_not_stale(module: str):
    committed = (DOCS / f"{display_name(module)}.json").read_text()
    assert committed == render(module), "docs/asyncapi is stale: run `python -m ops.asyncapi` and commit"


@pytest.mark.parametrize("module", SERVICES)
def test_every_channel_carries_a_payload_schema(module: str):
    document = json.loads(render(module))
    operations = document["operations"]
    assert any(op["action"] == "receive" for op in operations.values())
    assert any(op["action"] == "send" for op in operations.values()), "declare outputs with service.produces"
    for message in document["components"]["messages"].values():
        reference = message["payload"]["$ref"].rsplit("/", 1)[-1]
        assert "oneOf" in document["components"]["schemas"][reference] or "properties" in document["components"]["schemas"][reference]
