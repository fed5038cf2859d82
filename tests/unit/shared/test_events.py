"""Every event type of DESIGN.md has a model: samples round-trip exactly, invalid ones are refused readably."""

import json
import uuid
from datetime import UTC, datetime

import pytest
from pydantic import TypeAdapter

from shared.events.billing import BILLING_EVENT, BILLING_PROBLEM_EVENT, PaymentFailed
from shared.events.contracts import CONTRACT_COMMAND, CONTRACT_EVENT, ContractPaused
from shared.events.decoding import InvalidEvent, decode
from shared.events.envelope import DERIVED_ID_NAMESPACE, derived_id
from shared.events.notifications import NOTIFICATION
from shared.events.time_entries import TIME_ENTRY_EVENT, TIME_ENTRY_SUBMISSION

T = "2026-11-26T10:00:00Z"
SNAPSHOT = {
    "contract_id": "k-1", "client_id": "c-1", "freelancer_id": "f-1", "kind": "hourly",
    "status": "paused", "holds": ["platform", "client"], "version": 3, "changed_at": T, "client_message": "Back Monday",
}
UNHELD = {k: v for k, v in SNAPSHOT.items() if k != "client_message"} | {"status": "active", "holds": []}

# type -> (the topic's adapter, a valid `data`, an invalid `data`, a word the refusal must contain)
SAMPLES = {
    "billing.payment_failed": (BILLING_EVENT, {"client_id": "c-1", "payment_method_id": "pm-1", "attempt": 2,
                               "decline_code": "insufficient_funds", "amount_due": 49.90},
                               {"client_id": "c-1", "payment_method_id": "pm-1", "attempt": 0}, "attempt"),
    "billing.payment_succeeded": (BILLING_EVENT, {"client_id": "c-1", "invoice_id": "in-1"}, {}, "client_id"),
    "billing.payment_method_expired": (BILLING_EVENT, {"client_id": "c-1", "payment_method_id": "pm-1"},
                                       {"client_id": "c-1"}, "payment_method_id"),
    "billing.payment_method_removed": (BILLING_EVENT, {"client_id": "c-1", "payment_method_id": "pm-1"},
                                       {"client_id": "", "payment_method_id": "pm-1"}, "client_id"),
    "billing.payment_method_updated": (BILLING_EVENT, {"client_id": "c-1", "payment_method_id": "pm-2"},
                                       {"client_id": 7, "payment_method_id": "pm-2"}, "client_id"),
    "billing.account_suspended": (BILLING_EVENT, {"client_id": "c-1", "reason": "fraud review"}, {"reason": "x"},
                                  "client_id"),
    "billing.account_reinstated": (BILLING_EVENT, {"client_id": "c-1"}, {"client_id": None}, "client_id"),
    "billing.chargeback_opened": (BILLING_EVENT, {"client_id": "c-1", "dispute_id": "dp-1"}, {"client_id": "c-1"},
                                  "dispute_id"),
    "billing.chargeback_closed": (BILLING_EVENT, {"client_id": "c-1", "dispute_id": "dp-1", "outcome": "lost"},
                                  {"client_id": "c-1", "dispute_id": "dp-1", "outcome": "draw"}, "outcome"),
    "billing.problem_opened": (BILLING_PROBLEM_EVENT, {"client_id": "c-1", "kind": "payment_failed",
                               "detail": "Your card was declined.", "opened_at": T, "open_problems": ["payment_failed"]},
                               {"client_id": "c-1", "kind": "card_on_fire", "detail": "", "opened_at": T,
                                "open_problems": []}, "kind"),
    "billing.problem_resolved": (BILLING_PROBLEM_EVENT, {"client_id": "c-1", "kind": "chargeback", "resolved_at": T,
                                 "open_problems": []},
                                 {"client_id": "c-1", "kind": "chargeback", "resolved_at": "yesterday",
                                  "open_problems": []}, "resolved_at"),
    "contract.open": (CONTRACT_COMMAND, {"contract_id": "k-1", "client_id": "c-1", "freelancer_id": "f-1",
                      "kind": "hourly", "weekly_limit_hours": 40},
                      {"contract_id": "k-1", "client_id": "c-1", "freelancer_id": "f-1", "kind": "salaried"}, "kind"),
    "contract.pause": (CONTRACT_COMMAND, {"contract_id": "k-1", "actor_id": "c-1", "message": "Back Monday"},
                       {"contract_id": "k-1"}, "actor_id"),
    "contract.resume": (CONTRACT_COMMAND, {"contract_id": "k-1", "actor_id": "c-1"}, {"actor_id": "c-1"},
                        "contract_id"),
    "contract.end": (CONTRACT_COMMAND, {"contract_id": "k-1", "actor_id": "f-1"}, {"contract_id": ["k-1"],
                     "actor_id": "f-1"}, "contract_id"),
    "contract.opened": (CONTRACT_EVENT, UNHELD,
                        {**SNAPSHOT, "status": "active"}, "contradicts holds"),
    "contract.paused": (CONTRACT_EVENT, SNAPSHOT, {**SNAPSHOT, "holds": []}, "contradicts holds"),
    "contract.resumed": (CONTRACT_EVENT, {**UNHELD, "version": 4}, {**UNHELD, "version": 0}, "version"),
    "contract.holds_changed": (CONTRACT_EVENT, {**SNAPSHOT, "holds": ["client"]},
                               {**SNAPSHOT, "holds": ["platform", "platform"]}, "repeat"),
    "contract.ended": (CONTRACT_EVENT, {**UNHELD, "status": "ended"},
                       {**SNAPSHOT, "status": "closed"}, "status"),
    "contract.command_rejected": (CONTRACT_EVENT, {"command_id": "cmd-1", "contract_id": "k-1", "actor_id": "x-9",
                                  "reason": "not_authorized"},
                                  {"command_id": "cmd-1", "contract_id": "k-1", "actor_id": "x-9",
                                   "reason": "because"}, "reason"),
    "time_entry.submitted": (TIME_ENTRY_SUBMISSION, {"entry_id": "e-1", "contract_id": "k-1", "freelancer_id": "f-1",
                             "started_at": "2026-11-26T09:00:00Z", "ended_at": T, "memo": "API work",
                             "source": "tracker"},
                             {"entry_id": "e-1", "contract_id": "k-1", "freelancer_id": "f-1",
                              "started_at": "2026-11-26T09:00:00", "ended_at": T, "source": "tracker"}, "timezone"),
    "time_entry.accepted": (TIME_ENTRY_EVENT, {"entry_id": "e-1", "contract_id": "k-1", "freelancer_id": "f-1",
                            "started_at": "2026-11-26T09:00:00Z", "ended_at": T, "minutes": 60,
                            "payment_protection": "eligible"},
                            {"entry_id": "e-1", "contract_id": "k-1", "freelancer_id": "f-1", "started_at": T,
                             "ended_at": "2026-11-26T09:00:00Z", "minutes": 60, "payment_protection": "eligible"},
                            "ended_at must be after started_at"),
    "time_entry.rejected": (TIME_ENTRY_EVENT, {"entry_id": "e-1", "contract_id": "k-1", "freelancer_id": "f-1",
                            "reason": "contract_paused"},
                            {"entry_id": "e-1", "contract_id": "k-1", "freelancer_id": "f-1", "reason": "tired"},
                            "reason"),
    "time_entry.protection_revoked": (TIME_ENTRY_EVENT, {"entry_id": "e-1", "contract_id": "k-1",
                                      "reason": "work_during_pause"},
                                      {"entry_id": "e-1", "contract_id": "k-1", "reason": "other"}, "reason"),
    "notification.created": (NOTIFICATION, {"notification_id": "n-1", "recipient_id": "f-1",
                             "recipient_role": "freelancer", "kind": "contract_paused", "contract_ids": ["k-1"],
                             "title": "Contract k-1 is paused", "body": "Stop work for now.", "channels": ["in_app"],
                             "created_at": T},
                             {"notification_id": "n-1", "recipient_id": "f-1", "recipient_role": "admin",
                              "kind": "contract_paused", "contract_ids": ["k-1"], "title": "t", "body": "b",
                              "channels": ["in_app"], "created_at": T}, "recipient_role"),
}


def envelope(event_type: str, data: dict) -> dict:
    return {"specversion": "1.0", "id": f"evt-{event_type}", "type": event_type, "source": "test", "time": T,
            "subject": "s", "datacontenttype": "application/json", "correlationid": "corr-1", "causationid": "cause-1",
            "data": data}


@pytest.mark.parametrize("event_type", SAMPLES)
def test_a_sample_round_trips_through_json_exactly(event_type: str):
    adapter, data, _, _ = SAMPLES[event_type]
    original = json.dumps(envelope(event_type, data)).encode()
    event = decode(adapter, original)
    assert event.type == event_type
    again = decode(adapter, event.to_json())
    assert again == event
    assert again.to_json() == event.to_json()
    assert json.loads(event.to_json()) == json.loads(original)


@pytest.mark.parametrize("event_type", SAMPLES)
def test_an_invalid_sample_is_refused_with_a_readable_message(event_type: str):
    adapter, _, invalid, must_mention = SAMPLES[event_type]
    with pytest.raises(InvalidEvent) as refusal:
        decode(adapter, json.dumps(envelope(event_type, invalid)).encode())
    assert refusal.value.reason == "schema_violation"
    assert must_mention in refusal.value.detail
    assert "input_value" not in refusal.value.detail, "refusals are logged: they must not echo input"


def test_every_event_type_of_the_design_has_a_sample():
    adapters: list[TypeAdapter] = [BILLING_EVENT, BILLING_PROBLEM_EVENT, CONTRACT_COMMAND, CONTRACT_EVENT,
                                   TIME_ENTRY_SUBMISSION, TIME_ENTRY_EVENT, NOTIFICATION]
    known = {tag for adapter in adapters for tag in _tags(adapter)}
    assert known == set(SAMPLES)
    assert len(known) == 26


def _tags(adapter: TypeAdapter) -> set[str]:
    schema = adapter.json_schema()
    if mapping := schema.get("discriminator", {}).get("mapping"):
        return set(mapping)
    return {schema["properties"]["type"]["const"]}  # a topic that carries a single type


def test_unknown_types_and_broken_json_are_told_apart():
    with pytest.raises(InvalidEvent) as unknown:
        decode(BILLING_EVENT, json.dumps(envelope("billing.card_on_fire", {})).encode())
    assert unknown.value.reason == "unknown_type"
    with pytest.raises(InvalidEvent) as broken:
        decode(BILLING_EVENT, b'{"specversion": ')
    assert broken.value.reason == "invalid_json"


def test_times_are_normalised_to_utc_and_naive_times_refused():
    data = SAMPLES["billing.payment_failed"][1]
    event = decode(BILLING_EVENT, json.dumps(envelope("billing.payment_failed", data) | {"time": "2026-11-26T11:00:00+01:00"}).encode())
    assert event.time == datetime(2026, 11, 26, 10, tzinfo=UTC)
    assert b'"time":"2026-11-26T10:00:00Z"' in event.to_json()


def test_a_missing_correlation_id_is_the_events_own_id():
    raw = envelope("billing.payment_failed", SAMPLES["billing.payment_failed"][1])
    del raw["correlationid"], raw["causationid"], raw["subject"], raw["datacontenttype"]
    assert decode(BILLING_EVENT, json.dumps(raw).encode()).correlation_id == raw["id"]


def test_derived_ids_are_deterministic_and_keep_the_chain():
    cause = decode(BILLING_EVENT, json.dumps(envelope("billing.payment_failed", SAMPLES["billing.payment_failed"][1])).encode())
    snapshot = decode(CONTRACT_EVENT, json.dumps(envelope("contract.paused", SNAPSHOT)).encode()).data
    now = datetime.now(UTC)
    first = ContractPaused.derived_from(cause, snapshot, source="contract-state", time=now, discriminator="k-1")
    replay = ContractPaused.derived_from(cause, snapshot, source="contract-state", time=now, discriminator="k-1")
    other = ContractPaused.derived_from(cause, snapshot, source="contract-state", time=now, discriminator="k-2")
    assert first.id == replay.id != other.id
    assert (first.correlationid, first.causationid, first.subject) == ("corr-1", cause.id, "k-1")
    assert isinstance(cause, PaymentFailed)


@pytest.mark.parametrize("name", ["evt-1|contract.paused|k-1", "", "ünïcode|ナ|🙂", "x" * 500])
def test_derived_ids_are_the_uuid5_ids_stores_already_hold(name):
    # Ids derived before derived_id existed sit in inboxes and outboxes: a replay must yield the same.
    assert derived_id(name) == str(uuid.uuid5(DERIVED_ID_NAMESPACE, name))
