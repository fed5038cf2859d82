"""The registry says who reads and writes each topic; the services' wiring must say the same, or the
ACLs derived from the registry (ops.acls) would lock a service out of its own topics."""

import pytest

from ops.acls import AclBinding, acl_bindings
from ops.asyncapi import build_service
from ops.run import discover_services, display_name
from shared.topics import (
    CONSUMED_BY,
    EXTERNAL_INPUTS,
    MAIN_TOPICS,
    PRODUCED_BY,
    SERVICES,
    consumed_by,
    produced_by,
)


def test_the_registry_names_every_service():
    assert sorted(SERVICES) == sorted(display_name(module) for module in discover_services())


@pytest.mark.parametrize("module", discover_services())
def test_a_service_consumes_and_produces_what_the_registry_says(module: str):
    service = build_service(module)
    consumed = {intake.topic for intake in service.intakes}
    produced = {publisher.topic for publisher in service.broker.publishers}
    assert consumed == set(consumed_by(service.name)), "update CONSUMED_BY in shared/topics.py"
    assert produced == {topic.name for topic in produced_by(service.name)}, "update PRODUCED_BY in shared/topics.py"


def test_every_topic_has_one_kind_of_writer_and_consumed_topics_have_dead_letters():
    for topic in MAIN_TOPICS:
        assert (topic in PRODUCED_BY) != (topic in EXTERNAL_INPUTS), topic.name
        assert topic.has_dlq == (topic in CONSUMED_BY), topic.name
    assert set(PRODUCED_BY.values()) <= set(SERVICES)
    assert {reader for readers in CONSUMED_BY.values() for reader in readers} <= set(SERVICES)


def _granted(bindings: list[AclBinding], user: str) -> set[tuple[str, str, str]]:
    return {(b.operation, b.resource_type, b.resource_name) for b in bindings if b.principal == f"User:{user}"}


def test_billing_monitor_may_read_its_input_and_write_its_output_and_dead_letters_only():
    assert _granted(acl_bindings(), "billing-monitor") == {
        ("READ", "GROUP", "billing-monitor"), ("DESCRIBE", "GROUP", "billing-monitor"),
        ("READ", "TOPIC", "billing.events"), ("DESCRIBE", "TOPIC", "billing.events"),
        ("WRITE", "TOPIC", "billing.events.dlq"), ("DESCRIBE", "TOPIC", "billing.events.dlq"),
        ("WRITE", "TOPIC", "billing.problems"), ("DESCRIBE", "TOPIC", "billing.problems"),
    }


def test_no_service_may_write_what_another_one_produces_or_read_what_it_does_not_consume():
    bindings = acl_bindings()
    for service in SERVICES:
        granted = _granted(bindings, service)
        written = {name for operation, kind, name in granted if operation == "WRITE"}
        read = {name for operation, kind, name in granted if operation == "READ" and kind == "TOPIC"}
        assert written == {t.name for t in produced_by(service)} | {t.dlq.name for t in consumed_by(service)}
        assert read == {t.name for t in consumed_by(service)}
        assert {kind for _, kind, _ in granted} == {"TOPIC", "GROUP"}
        assert {name for _, kind, name in granted if kind == "GROUP"} == {service}


def test_input_writers_may_write_the_external_inputs_only():
    assert _granted(acl_bindings(), "producer") == set()
    assert _granted(acl_bindings(["producer"]), "producer") == {
        (operation, "TOPIC", topic.name) for topic in EXTERNAL_INPUTS for operation in ("WRITE", "DESCRIBE")
    }
