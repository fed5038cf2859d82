"""The one topic registry matches DESIGN.md."""

from shared.topics import ALL_TOPICS, MAIN_TOPICS


def test_the_registry_names_every_topic_of_the_design_with_its_key():
    assert {(t.name, t.key) for t in MAIN_TOPICS} == {
        ("billing.events", "client_id"),
        ("billing.problems", "client_id"),
        ("contracts.commands", "contract_id"),
        ("contracts.events", "contract_id"),
        ("time.entries.submitted", "contract_id"),
        ("time.entries", "contract_id"),
        ("notifications", "recipient_id"),
        ("support.requests", "contract_id"),
    }


def test_every_consumed_topic_has_a_dead_letter_topic_keyed_alike():
    consumed = {"billing.events", "billing.problems", "contracts.commands", "contracts.events",
                "time.entries.submitted", "time.entries", "support.requests"}
    dead_letter = {t.name: t for t in ALL_TOPICS if t.name.endswith(".dlq")}
    assert set(dead_letter) == {f"{name}.dlq" for name in consumed}
    for topic in MAIN_TOPICS:
        if topic.has_dlq:
            assert dead_letter[f"{topic.name}.dlq"].key == topic.key
    assert all(t.partitions == 6 for t in ALL_TOPICS)
