"""The one registry of topics: name, what keys it, how many partitions. Services never spell a topic name."""

import asyncio
import sys
from dataclasses import dataclass

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

DEFAULT_PARTITIONS = 6


@dataclass(frozen=True)
class Topic:
    name: str
    key: str
    partitions: int = DEFAULT_PARTITIONS
    has_dlq: bool = False

    @property
    def dlq(self) -> "Topic":
        """Where this topic's consumers put what they cannot read: original key, original bytes."""
        if not self.has_dlq:
            raise ValueError(f"{self.name} is not consumed by any service and has no dead-letter topic")
        return Topic(f"{self.name}.dlq", self.key, self.partitions)


BILLING_EVENTS = Topic("billing.events", key="client_id", has_dlq=True)
BILLING_PROBLEMS = Topic("billing.problems", key="client_id", has_dlq=True)
CONTRACT_COMMANDS = Topic("contracts.commands", key="contract_id", has_dlq=True)
CONTRACT_EVENTS = Topic("contracts.events", key="contract_id", has_dlq=True)
TIME_ENTRIES_SUBMITTED = Topic("time.entries.submitted", key="contract_id", has_dlq=True)
TIME_ENTRIES = Topic("time.entries", key="contract_id", has_dlq=True)
NOTIFICATIONS = Topic("notifications", key="recipient_id")
SUPPORT_REQUESTS = Topic("support.requests", key="contract_id", has_dlq=True)

MAIN_TOPICS = (
    BILLING_EVENTS,
    BILLING_PROBLEMS,
    CONTRACT_COMMANDS,
    CONTRACT_EVENTS,
    TIME_ENTRIES_SUBMITTED,
    TIME_ENTRIES,
    NOTIFICATIONS,
    SUPPORT_REQUESTS,
)
ALL_TOPICS = MAIN_TOPICS + tuple(topic.dlq for topic in MAIN_TOPICS if topic.has_dlq)

# Who reads and who writes each topic (DESIGN.md, "Services"). A secured broker grants exactly this
# (ops.acls), and a unit test holds every service's wiring to it. Each service also writes the
# `.dlq` of every topic it consumes; its consumer group is its name.
SERVICES = ("billing-monitor", "contract-state", "time-tracking", "notification")
CONSUMED_BY: dict[Topic, tuple[str, ...]] = {
    BILLING_EVENTS: ("billing-monitor",),
    BILLING_PROBLEMS: ("contract-state", "notification"),
    CONTRACT_COMMANDS: ("contract-state",),
    CONTRACT_EVENTS: ("time-tracking", "notification"),
    TIME_ENTRIES_SUBMITTED: ("time-tracking",),
    TIME_ENTRIES: ("notification",),
    SUPPORT_REQUESTS: ("notification",),
}
PRODUCED_BY: dict[Topic, str] = {  # one writer per topic
    BILLING_PROBLEMS: "billing-monitor",
    CONTRACT_EVENTS: "contract-state",
    TIME_ENTRIES: "time-tracking",
    NOTIFICATIONS: "notification",
}
# Written by systems outside contract-pause: upstream billing, marketplace and client apps, trackers,
# and the marketplace apps' "Get Support" button.
EXTERNAL_INPUTS = (BILLING_EVENTS, CONTRACT_COMMANDS, TIME_ENTRIES_SUBMITTED, SUPPORT_REQUESTS)


def consumed_by(service: str) -> tuple[Topic, ...]:
    return tuple(topic for topic, readers in CONSUMED_BY.items() if service in readers)


def produced_by(service: str) -> tuple[Topic, ...]:
    return tuple(topic for topic, writer in PRODUCED_BY.items() if writer == service)


async def ensure_topics(
    bootstrap_servers: str,
    replication_factor: int = 1,
    topics: tuple[Topic, ...] = ALL_TOPICS,
    **client_options: object,
) -> list[str]:
    """Create whichever topics are missing; safe to run any number of times. Returns the names created."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, **client_options)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [topic for topic in topics if topic.name not in existing]
        if missing:
            new_topics = [NewTopic(t.name, t.partitions, replication_factor) for t in missing]
            try:
                await admin.create_topics(new_topics)
            except TopicAlreadyExistsError:
                pass  # another process created them between our listing and our request
            await _until_led(admin, [topic.name for topic in missing])
        return [topic.name for topic in missing]
    finally:
        await admin.close()


async def partitions_of(bootstrap_servers: str, name: str, **client_options: object) -> list[int]:
    """The partition numbers of an existing topic."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, **client_options)
    await admin.start()
    try:
        (description,) = await admin.describe_topics([name])
    finally:
        await admin.close()
    if not description["partitions"]:
        raise LookupError(f"topic {name} does not exist; create the topics with `python -m shared.topics`")
    return sorted(partition["partition"] for partition in description["partitions"])


async def _until_led(admin: AIOKafkaAdminClient, names: list[str], timeout: float = 30) -> None:
    """New partitions take a moment to elect a leader; clients that come sooner get errors."""
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        descriptions = await admin.describe_topics(names)
        if all(d["partitions"] and all(p["leader"] >= 0 for p in d["partitions"]) for d in descriptions):
            return
        await asyncio.sleep(0.1)
    raise TimeoutError(f"topics {names} have no partition leaders after {timeout}s")


def main() -> None:
    """`python -m shared.topics`: the topic-init step of docker-compose and of the run command."""
    from shared.settings import BaseServiceSettings, load_settings

    settings = load_settings(BaseServiceSettings)
    created = asyncio.run(
        ensure_topics(
            settings.kafka_bootstrap_servers,
            settings.kafka_replication_factor,
            **settings.kafka_client_options(),
        )
    )
    print(f"topics ready; created {len(created)}: {', '.join(created) or 'none'}", file=sys.stderr)


if __name__ == "__main__":
    main()
