"""Valid events of every type on every topic a service consumes (DESIGN.md, "Event types"), as
hypothesis strategies of plain JSON dicts: the starting point of benchmarks.hostile_inputs, which
then breaks them. The ids are placeholders until hostile_inputs.finalize picks them.
"""

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import strategies as st

from shared.topics import (
    BILLING_EVENTS,
    BILLING_PROBLEMS,
    CONTRACT_COMMANDS,
    CONTRACT_EVENTS,
    TIME_ENTRIES,
    TIME_ENTRIES_SUBMITTED,
    Topic,
)

CONSUMED: dict[str, Topic] = {
    topic.name: topic
    for topic in (BILLING_EVENTS, BILLING_PROBLEMS, CONTRACT_COMMANDS, CONTRACT_EVENTS, TIME_ENTRIES_SUBMITTED, TIME_ENTRIES)
}
# Which consumer groups read each topic (DESIGN.md, "Services").
CONSUMERS: dict[str, tuple[str, ...]] = {
    BILLING_EVENTS.name: ("billing-monitor",),
    BILLING_PROBLEMS.name: ("contract-state", "notification"),
    CONTRACT_COMMANDS.name: ("contract-state",),
    CONTRACT_EVENTS.name: ("time-tracking", "notification"),
    TIME_ENTRIES_SUBMITTED.name: ("time-tracking",),
    TIME_ENTRIES.name: ("notification",),
}
ID_PLACEHOLDER = "\u0000id\u0000"


# --- valid events of every type, per consumed topic ------------------------------------------

SAFE_ID_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.:@éøßΩжあ東"
ids = st.text(alphabet=SAFE_ID_CHARS, min_size=1, max_size=40)
# Free text as people write it: any character but lone surrogates (not UTF-8), short.
texts = st.text(alphabet=st.characters(codec="utf-8"), max_size=60)
kinds = st.sampled_from(["payment_failed", "payment_method_invalid", "account_suspended", "chargeback"])
data_times = st.datetimes(min_value=datetime(1999, 1, 1), max_value=datetime(2030, 12, 31), timezones=st.just(UTC))
offsets = st.sampled_from(["Z", "+00:00", "+05:30", "-08:00", "+14:00"])


def rfc3339(moment: datetime, offset: str = "Z") -> str:
    if offset == "Z":
        return moment.astimezone(UTC).replace(tzinfo=None).isoformat() + "Z"
    sign = 1 if offset[0] == "+" else -1
    hours, minutes = int(offset[1:3]), int(offset[4:6])
    return moment.astimezone(UTC).astimezone(_tz(sign * timedelta(hours=hours, minutes=minutes))).isoformat()


def _tz(delta: timedelta) -> timezone:
    return timezone(delta)


@st.composite
def a_time(draw: st.DrawFn) -> str:
    return rfc3339(draw(data_times), draw(offsets))


@st.composite
def a_past_time(draw: st.DrawFn) -> str:
    """An envelope `time`: when the fact happened, in the past (the future is refused)."""
    moment = draw(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime.now() - timedelta(hours=1),
                               timezones=st.just(UTC)))
    return rfc3339(moment, draw(offsets))


def _optional(draw: st.DrawFn, data: dict, name: str, values: st.SearchStrategy) -> None:
    if draw(st.booleans()):
        data[name] = draw(values)


@st.composite
def billing_event(draw: st.DrawFn, keys: list[str]) -> dict:
    client = draw(st.sampled_from(keys))
    name = draw(st.sampled_from([
        "payment_failed", "payment_succeeded", "payment_method_expired", "payment_method_removed",
        "payment_method_updated", "account_suspended", "account_reinstated", "chargeback_opened", "chargeback_closed",
    ]))
    data: dict[str, Any] = {"client_id": client}
    if name == "payment_failed":
        data |= {"payment_method_id": draw(ids), "attempt": draw(st.integers(1, 1000))}
        _optional(draw, data, "decline_code", texts)
        _optional(draw, data, "amount_due", st.one_of(
            st.integers(0, 10**10), st.decimals(min_value=0, max_value=10**10, places=2, allow_nan=False, allow_infinity=False).map(float)))
    elif name == "payment_succeeded":
        _optional(draw, data, "invoice_id", ids)
    elif name.startswith("payment_method_"):
        data["payment_method_id"] = draw(ids)
    elif name == "account_suspended":
        _optional(draw, data, "reason", texts)
    elif name == "chargeback_opened":
        data["dispute_id"] = draw(ids)
    elif name == "chargeback_closed":
        data |= {"dispute_id": draw(ids), "outcome": draw(st.sampled_from(["won", "lost"]))}
    return envelope(draw, f"billing.{name}", data)


@st.composite
def billing_problem(draw: st.DrawFn, keys: list[str]) -> dict:
    client = draw(st.sampled_from(keys))
    kind = draw(kinds)
    others = draw(st.lists(kinds, unique=True, max_size=4))
    if draw(st.booleans()):
        data = {"client_id": client, "kind": kind, "detail": draw(texts), "opened_at": draw(a_time()),
                "open_problems": sorted(set(others) | {kind})}
        return envelope(draw, "billing.problem_opened", data)
    data = {"client_id": client, "kind": kind, "resolved_at": draw(a_time()),
            "open_problems": sorted(set(others) - {kind})}
    return envelope(draw, "billing.problem_resolved", data)


@st.composite
def contract_command(draw: st.DrawFn, keys: list[str]) -> dict:
    contract = draw(st.sampled_from(keys))
    name = draw(st.sampled_from(["open", "pause", "resume", "end"]))
    if name == "open":
        data = {"contract_id": contract, "client_id": draw(ids), "freelancer_id": draw(ids),
                "kind": draw(st.sampled_from(["hourly", "fixed_price"]))}
        _optional(draw, data, "weekly_limit_hours", st.floats(min_value=0.5, max_value=168))
    else:
        data = {"contract_id": contract, "actor_id": draw(ids)}
        if name == "pause":
            _optional(draw, data, "message", texts)
    return envelope(draw, f"contract.{name}", data)


@st.composite
def contract_event(draw: st.DrawFn, keys: list[str]) -> dict:
    contract = draw(st.sampled_from(keys))
    name = draw(st.sampled_from(["opened", "paused", "resumed", "holds_changed", "ended", "command_rejected"]))
    if name == "command_rejected":
        data = {"command_id": draw(ids), "contract_id": contract, "actor_id": draw(ids),
                "reason": draw(st.sampled_from(["unknown_contract", "not_authorized", "contract_ended",
                                                "already_exists", "not_paused_by_client"]))}
        return envelope(draw, "contract.command_rejected", data)
    status = {"opened": draw(st.sampled_from(["active", "paused"])), "paused": "paused", "resumed": "active",
              "holds_changed": "paused", "ended": "ended"}[name]
    holds = [] if status == "active" else draw(st.lists(st.sampled_from(["platform", "client"]), unique=True,
                                                        min_size=1 if status == "paused" else 0, max_size=2))
    data = {"contract_id": contract, "client_id": draw(ids), "freelancer_id": draw(ids),
            "kind": draw(st.sampled_from(["hourly", "fixed_price"])), "status": status, "holds": holds,
            "version": draw(st.integers(1, 2**62 - 1)), "changed_at": draw(a_time())}
    if "client" in holds:
        _optional(draw, data, "client_message", texts)
    return envelope(draw, f"contract.{name}", data)


@st.composite
def time_entry_submission(draw: st.DrawFn, keys: list[str]) -> dict:
    started = draw(data_times)
    ended = started + draw(st.timedeltas(min_value=timedelta(minutes=-60), max_value=timedelta(hours=12)))
    data = {"entry_id": draw(ids), "contract_id": draw(st.sampled_from(keys)), "freelancer_id": draw(ids),
            "started_at": rfc3339(started, draw(offsets)), "ended_at": rfc3339(ended, draw(offsets)),
            "source": draw(st.sampled_from(["tracker", "manual"]))}
    _optional(draw, data, "memo", texts)
    return envelope(draw, "time_entry.submitted", data)


@st.composite
def time_entry_verdict(draw: st.DrawFn, keys: list[str]) -> dict:
    contract = draw(st.sampled_from(keys))
    name = draw(st.sampled_from(["accepted", "rejected", "protection_revoked"]))
    if name == "accepted":
        started = draw(data_times)
        ended = started + draw(st.timedeltas(min_value=timedelta(minutes=1), max_value=timedelta(hours=12)))
        data = {"entry_id": draw(ids), "contract_id": contract, "freelancer_id": draw(ids),
                "started_at": rfc3339(started), "ended_at": rfc3339(ended),
                "minutes": int((ended - started).total_seconds() // 60),
                "payment_protection": draw(st.sampled_from(["eligible", "not_covered"]))}
    elif name == "rejected":
        data = {"entry_id": draw(ids), "contract_id": contract, "freelancer_id": draw(ids),
                "reason": draw(st.sampled_from(["contract_paused", "contract_ended", "unknown_contract",
                                                "not_contract_freelancer", "invalid_interval", "not_hourly"]))}
    else:
        data = {"entry_id": draw(ids), "contract_id": contract, "reason": "work_during_pause"}
    return envelope(draw, f"time_entry.{name}", data)


VALID = {
    BILLING_EVENTS.name: billing_event,
    BILLING_PROBLEMS.name: billing_problem,
    CONTRACT_COMMANDS.name: contract_command,
    CONTRACT_EVENTS.name: contract_event,
    TIME_ENTRIES_SUBMITTED.name: time_entry_submission,
    TIME_ENTRIES.name: time_entry_verdict,
}


def envelope(draw: st.DrawFn, event_type: str, data: dict) -> dict:
    event: dict[str, Any] = {"specversion": "1.0", "id": ID_PLACEHOLDER, "type": event_type,
                             "source": draw(ids), "time": draw(a_past_time()), "data": data}
    key_field = _key_field_of(event_type)
    if draw(st.booleans()):
        event["subject"] = data[key_field]
    if draw(st.booleans()):
        event["datacontenttype"] = "application/json"
    if draw(st.booleans()):
        event["correlationid"] = draw(ids)
    if draw(st.booleans()):
        event["causationid"] = draw(ids)
    return event


def _key_field_of(event_type: str) -> str:
    return "client_id" if event_type.startswith("billing.") else "contract_id"


def key_field(topic: str) -> str:
    return CONSUMED[topic].key
