"""The broker ACLs of a secured Kafka, derived from the topic registry (shared.topics) and nothing else.

Each service logs in as a principal named like the service (and its consumer group) and may:
READ and DESCRIBE the topics it consumes and its group; WRITE and DESCRIBE the topics it produces
and the `.dlq` of every topic it consumes. WRITE on a topic is enough for the idempotent producer
(Kafka asks for IDEMPOTENT_WRITE on the cluster or WRITE on any topic). Principals named as input
writers may WRITE and DESCRIBE the topics written from outside (billing.events, contracts.commands,
time.entries.submitted).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from shared.topics import EXTERNAL_INPUTS, SERVICES, consumed_by, produced_by

# Kafka's wire codes (org.apache.kafka.common.acl.AclOperation, resource.ResourceType,
# resource.PatternType, acl.AclPermissionType).
_RESOURCE_TYPES = {"TOPIC": 2, "GROUP": 3}
_OPERATIONS = {"READ": 3, "WRITE": 4, "DESCRIBE": 8}
_LITERAL = 3
_ALLOW = 3
_ANY_HOST = "*"
_CLUSTER_AUTH_FAILED = 31


@dataclass(frozen=True, order=True)
class AclBinding:
    """ALLOW `principal` to do `operation` on one resource named exactly `resource_name`, from any host."""

    principal: str  # "User:billing-monitor"
    resource_type: str  # "TOPIC" or "GROUP"
    resource_name: str
    operation: str  # "READ", "WRITE" or "DESCRIBE"

    def __str__(self) -> str:
        return f"ALLOW {self.principal:<24} {self.operation:<8} {self.resource_type} {self.resource_name}"


def acl_bindings(input_writers: Iterable[str] = ()) -> list[AclBinding]:
    """Every ACL the services (and the named input writers) need, sorted, without duplicates."""
    bindings: set[AclBinding] = set()

    def allow(user: str, resource_type: str, name: str, *operations: str) -> None:
        bindings.update(AclBinding(f"User:{user}", resource_type, name, operation) for operation in operations)

    for service in SERVICES:
        allow(service, "GROUP", service, "READ", "DESCRIBE")
        for topic in consumed_by(service):
            allow(service, "TOPIC", topic.name, "READ", "DESCRIBE")
            allow(service, "TOPIC", topic.dlq.name, "WRITE", "DESCRIBE")
        for topic in produced_by(service):
            allow(service, "TOPIC", topic.name, "WRITE", "DESCRIBE")
    for writer in input_writers:
        for topic in EXTERNAL_INPUTS:
            allow(writer, "TOPIC", topic.name, "WRITE", "DESCRIBE")
    return sorted(bindings)


class AclRefused(RuntimeError):
    """The broker did not create an ACL (no authorizer, or the principal may not alter ACLs)."""


async def apply_acls(bootstrap_servers: str, bindings: Iterable[AclBinding], **client_options: Any) -> int:
    """Create the ACLs on the broker (already existing ones are kept as they are); returns how many were sent.

    aiokafka 0.14's admin client has no create_acls, so this sends Kafka's CreateAcls request, which
    aiokafka defines, over its own client; a broker forwards it to the controller.
    """
    from aiokafka.client import AIOKafkaClient
    from aiokafka.errors import for_code

    client = AIOKafkaClient(bootstrap_servers=bootstrap_servers, **client_options)
    try:
        await client.bootstrap()
        node = client.get_random_node()
        bindings = list(bindings)
        responses = await asyncio.gather(*(client.send(node, _create_request(binding)) for binding in bindings))
    finally:
        await client.close()
    for binding, response in zip(bindings, responses):
        (code, _message), = response.creation_responses
        if code:
            error = for_code(code)
            hint = "; log in as a super user or one allowed to ALTER the cluster" if code == _CLUSTER_AUTH_FAILED else ""
            raise AclRefused(f"{binding.operation} {binding.resource_type} {binding.resource_name} for "
                             f"{binding.principal}: {error.__name__}{hint}")
    return len(bindings)


def _create_request(binding: AclBinding) -> Any:
    from aiokafka.protocol.admin import CreateAclsRequest

    return CreateAclsRequest(
        _RESOURCE_TYPES[binding.resource_type], binding.resource_name, _LITERAL,
        binding.principal, _ANY_HOST, _OPERATIONS[binding.operation], _ALLOW,
    )
