"""Hostile inputs for every consumed topic (issue 9), shared by tests/integration/hostile/ and
benchmarks.hostile: hypothesis strategies that build valid events of every type the design card
lists, then break them one way at a time (drop or replace a field, wrong types, huge or odd values,
odd unicode, wrong keys, broken JSON, random bytes, bad headers, extreme times, oversize values).

Every drawn input says which dead-letter reasons it may get (`reasons`) and whether applying it is
also a correct outcome (`may_apply`): a valid event must be applied, a broken one dead-lettered.
Event ids are filled in after drawing (`finalize`), so every input of a run is told apart.
"""

import json
import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

from benchmarks.hostile_events import ID_PLACEHOLDER, VALID, key_field, offsets, rfc3339
from shared.topics import (
    BILLING_EVENTS,
    BILLING_PROBLEMS,
    CONTRACT_COMMANDS,
    CONTRACT_EVENTS,
    TIME_ENTRIES,
    TIME_ENTRIES_SUBMITTED,
)

REASONS = frozenset({
    "invalid_header", "too_large", "invalid_json", "unknown_type", "schema_violation",
    "time_in_future", "key_mismatch", "handler_error",
})
DECODING = REASONS - {"handler_error"}
MAX_VALUE_BYTES = 64 * 1024

CATEGORIES = (
    "valid", "repeat_id", "drop_field", "replace_field", "coercion", "huge_number", "long_text",
    "odd_unicode", "wrong_key", "broken_json", "random_bytes", "bad_header", "unknown_type",
    "bad_specversion", "extreme_time", "future_time", "too_large",
)


@dataclass(frozen=True)
class Draft:
    """One input before its id is chosen: an event as a JSON-able dict (or raw bytes), and its key."""

    topic: str
    category: str
    event: dict[str, Any] | None
    raw: bytes | None = None
    key: bytes | None | str = "data"  # "data": the data field that keys the topic, as UTF-8
    headers: tuple[tuple[str, bytes | None], ...] = ()
    reasons: frozenset[str] = frozenset()
    may_apply: bool = True
    note: str = ""


@dataclass(frozen=True)
class Input:
    """One record to publish, and what may become of it."""

    topic: str
    category: str
    key: bytes | None
    value: bytes
    headers: tuple[tuple[str, bytes | None], ...]
    event_id: str | None  # the id a consumer records in its inbox if it applies the record
    reasons: frozenset[str]  # dead-letter reasons that are right for it
    may_apply: bool  # applying it is right too (a valid event, or a change that keeps it valid)
    canary: bool = False
    note: str = ""
    serial: int = 0
    meta: dict[str, Any] = field(default_factory=dict, compare=False)


# --- ways to break them ------------------------------------------------------------------------


class RawJson(str):
    """A JSON text put into the output as it is (NaN, 1E+1100000, a lone surrogate escape)."""


# (replacement, why it is wrong); each is wrong for the kind of field it replaces.
COERCIONS_FOR_INT = [("3", "string for an int"), (True, "bool for an int"), (RawJson("NaN"), "NaN"),
                     (RawJson("Infinity"), "Infinity"), (2.5, "fraction for an int")]
COERCIONS_FOR_TIME = [(1764150000, "unix seconds for a time"), (1764150000.5, "unix float for a time"),
                      ("yesterday", "words for a time"), ("2026-11-26T10:00:00", "naive time"),
                      ("2026-13-45T25:61:61Z", "impossible date")]
COERCIONS_FOR_TEXT = [(42, "number for a string"), (False, "bool for a string"), ([], "list for a string"),
                      ({}, "object for a string")]
HUGE_NUMBERS = [RawJson("1E+1100000"), RawJson("-1E+1100000"), 2**63, 2**64, -(2**63) - 1, RawJson("1e400"),
                RawJson("1" * 5000), -1, 10**13, RawJson("1E-1100000")]
ODD_UNICODE = ["\u202eevil\u202c", "zero\u200bwidth", "nul\u0000byte", "e\u0301\u0301\u0301", "🧨" * 30,
               "\ufeffbom", "\uffff", "Ω" * 199, " padded ", "", "\n\t\r", "ᴬᴮᶜ", "\U0010ffff"]
LONE_SURROGATES = [RawJson('"\\ud800"'), RawJson('"a\\udfffb"')]
EXTREME_TIMES = ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "1969-12-31T23:59:59Z",
                 "3000-01-01T00:00:00Z", "0000-01-01T00:00:00Z", "10000-01-01T00:00:00Z",
                 "2026-11-26T10:00:00+24:00", "1970-01-01T00:00:00+00:01"]


def _leaves(event: dict) -> list[tuple[str, ...]]:
    paths = [(name,) for name in event if name != "data"]
    if isinstance(event.get("data"), dict):
        paths += [("data", name) for name in event["data"]]
    return paths


def _set(event: dict, path: tuple[str, ...], value: Any) -> dict:
    changed = json.loads(json.dumps(event))  # a deep copy of plain JSON
    target = changed
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    return changed


def _drop(event: dict, path: tuple[str, ...]) -> dict:
    changed = json.loads(json.dumps(event))
    target = changed
    for part in path[:-1]:
        target = target[part]
    del target[path[-1]]
    return changed


INT_FIELDS = {"attempt", "version", "minutes"}
TIME_FIELDS = {"time", "opened_at", "resolved_at", "changed_at", "started_at", "ended_at"}


@st.composite
def hostile(draw: st.DrawFn, topic: str, keys: list[str], category: str | None = None) -> Draft:
    """A valid event of the topic, broken in one way (`category`, drawn when not given), or left valid."""
    event = draw(VALID[topic](keys))
    return _break(draw, topic, event, category or draw(st.sampled_from(CATEGORIES)))


def _break(draw: st.DrawFn, topic: str, event: dict, category: str) -> Draft:  # noqa: C901 - one case per category
    keyed = key_field(topic)
    draft = Draft(topic, category, event)
    schema = frozenset({"schema_violation"})
    match category:
        case "valid":
            return draft
        case "repeat_id":
            return replace(draft, note="repeats the id of an earlier valid event of the topic")
        case "drop_field":
            path = draw(st.sampled_from(_leaves(event) + [("data",)]))
            if path == ("data", keyed):
                return replace(draft, event=_drop(event, path), reasons=schema | {"key_mismatch"}, may_apply=False,
                               note=f"no {keyed}")
            optional = path[-1] in OPTIONAL or (path == ("data", "reason") and event["type"] == "billing.account_suspended")
            reasons = schema | {"unknown_type"} if path == ("type",) else schema
            return replace(draft, event=_drop(event, path), reasons=reasons, may_apply=optional,
                           note=f"without {'.'.join(path)}")
        case "replace_field":
            path = draw(st.sampled_from(_leaves(event)))
            value = draw(st.one_of(st.none(), st.integers(), st.floats(allow_nan=False), st.text(max_size=30),
                                   st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
                                   st.sampled_from(ODD_UNICODE)))
            return replace(draft, event=_set(event, path, value), reasons=DECODING, may_apply=True,
                           note=f"{'.'.join(path)} = {value!r:.60}")
        case "coercion":
            candidates = [p for p in _leaves(event) if p[-1] in INT_FIELDS | TIME_FIELDS]
            if not candidates or draw(st.booleans()):
                candidates += [p for p in _leaves(event) if p[-1] in {"id", "source", keyed, "amount_due",
                                                                      "weekly_limit_hours", "payment_method_id"}]
            path = draw(st.sampled_from(candidates))
            name = path[-1]
            if name in INT_FIELDS:
                value, why = draw(st.sampled_from(COERCIONS_FOR_INT))
            elif name in TIME_FIELDS:
                value, why = draw(st.sampled_from(COERCIONS_FOR_TIME))
            elif name in {"amount_due", "weekly_limit_hours"}:
                value, why = draw(st.sampled_from([("12.5", "string for a number"), (True, "bool for a number"),
                                                   (RawJson("NaN"), "NaN"), (RawJson("-Infinity"), "-Infinity")]))
            else:
                value, why = draw(st.sampled_from(COERCIONS_FOR_TEXT))
            reasons = schema | {"invalid_json"} if isinstance(value, RawJson) else schema
            if name == keyed:
                reasons |= {"key_mismatch"}
            return replace(draft, event=_set(event, path, value), reasons=reasons, may_apply=False,
                           note=f"{'.'.join(path)}: {why}")
        case "huge_number":
            numeric = [p for p in _leaves(event) if p[-1] in INT_FIELDS | {"amount_due", "weekly_limit_hours"}]
            # An event type without numbers gets one where a string or a time belongs: still wrong.
            path = draw(st.sampled_from(numeric or _leaves(event)))
            value = draw(st.sampled_from(HUGE_NUMBERS))
            if path == ("data", "amount_due") and value == -1:
                value = RawJson("-0.01")
            reasons = schema | {"invalid_json", "too_large", "handler_error"}
            if path == ("data", keyed):
                reasons |= {"key_mismatch"}
            if path == ("type",):
                reasons |= {"unknown_type"}
            return replace(draft, event=_set(event, path, value), reasons=reasons,
                           may_apply=path in numeric and _may_hold(path[-1], value),
                           note=f"{'.'.join(path)} = {str(value)[:40]}")
        case "long_text":
            path = draw(st.sampled_from(_leaves(event)))
            length = draw(st.sampled_from([201, 4001, 20_000, 60_000]))
            value = "x" * length
            return replace(draft, event=_set(event, path, value), reasons=DECODING, may_apply=True,
                           note=f"{'.'.join(path)}: {length} characters")
        case "odd_unicode":
            path = draw(st.sampled_from(_leaves(event)))
            value = draw(st.sampled_from(ODD_UNICODE + LONE_SURROGATES))
            changed = _set(event, path, value)
            key: str | bytes | None = "data"
            if path == ("data", keyed):
                key = value.encode() if not isinstance(value, RawJson) else b"?"
            return replace(draft, event=changed, key=key, reasons=DECODING, may_apply=True,
                           note=f"{'.'.join(path)} = {value!r:.40}")
        case "wrong_key":
            how = draw(st.sampled_from(["other", "missing", "not_utf8", "subject", "empty", "case"]))
            original = event["data"][keyed]
            reasons = frozenset({"key_mismatch"})
            if how == "subject":
                return replace(draft, event=_set(event, ("subject",), original + "-other"), reasons=reasons,
                               may_apply=False, note="subject differs from the data")
            key = {"other": (original + "-other").encode(), "missing": None, "not_utf8": b"\xff\xfe" + original.encode(),
                   "empty": b"", "case": original.upper().encode() if original.upper() != original else b"Q" + original.encode()}[how]
            return replace(draft, key=key, reasons=reasons, may_apply=False, note=f"key {how}")
        case "broken_json":
            text = encode(event)
            how = draw(st.sampled_from(["truncated", "garbage_after", "single_quotes", "unclosed_string",
                                        "empty", "trailing_comma", "bare_word"]))
            raw = {
                "truncated": text[: draw(st.integers(1, max(1, len(text) - 2)))],
                "garbage_after": text + b"}{",
                "single_quotes": text.replace(b'"', b"'"),
                "unclosed_string": text[:-2] + b'"',
                "empty": b"",
                "trailing_comma": text[:-1] + b",}",
                "bare_word": b"undefined",
            }[how]
            return replace(draft, event=None, raw=raw, reasons=frozenset({"invalid_json"}), may_apply=False,
                           note=f"JSON {how}")
        case "random_bytes":
            raw = draw(st.binary(min_size=0, max_size=300))
            return replace(draft, event=None, raw=raw, reasons=frozenset({"invalid_json", "schema_violation", "unknown_type"}),
                           may_apply=False, note=f"{len(raw)} random bytes")
        case "bad_header":
            value = draw(st.sampled_from([b"\xff\xfe", b"\xc3\x28", b"ok\x80", None]))
            name = draw(st.sampled_from(["traceparent", "content-type", "x-origin"]))
            return replace(draft, headers=((name, value),), reasons=frozenset({"invalid_header"}), may_apply=False,
                           note=f"header {name}={value!r}")
        case "unknown_type":
            value = draw(st.sampled_from([event["type"] + "_v2", event["type"].upper(), "", "billing.payment_failed "]))
            return replace(draft, event=_set(event, ("type",), value), reasons=frozenset({"unknown_type"}),
                           may_apply=False, note=f"type {value!r}")
        case "bad_specversion":
            how = draw(st.sampled_from(["missing", "0.3", "number", "padded", "null"]))
            changed = _drop(event, ("specversion",)) if how == "missing" else _set(
                event, ("specversion",), {"0.3": "0.3", "number": 1.0, "padded": "1.0 ", "null": None}[how])
            return replace(draft, event=changed, reasons=schema, may_apply=False, note=f"specversion {how}")
        case "extreme_time":
            path = draw(st.sampled_from([p for p in _leaves(event) if p[-1] in TIME_FIELDS]))
            value = draw(st.sampled_from(EXTREME_TIMES))
            reasons = schema | {"time_in_future"} if path == ("time",) else schema
            return replace(draft, event=_set(event, path, value), reasons=reasons, may_apply=False,
                           note=f"{'.'.join(path)} = {value}")
        case "future_time":
            ahead = draw(st.timedeltas(min_value=timedelta(hours=25), max_value=timedelta(days=3650)))
            value = rfc3339(datetime.now(UTC) + ahead, draw(offsets))
            return replace(draft, event=_set(event, ("time",), value), reasons=frozenset({"time_in_future"}),
                           may_apply=False, note=f"time {ahead} ahead")
        case "too_large":
            size = draw(st.sampled_from([MAX_VALUE_BYTES + 1, 100_000, 300_000]))
            changed = _set(event, ("padding",), "")
            overhead = len(encode(changed))
            changed["padding"] = "p" * max(0, size - overhead)
            return replace(draft, event=changed, reasons=frozenset({"too_large"}), may_apply=False,
                           note=f"{size} bytes")
    raise ValueError(category)


OPTIONAL = {"subject", "datacontenttype", "correlationid", "causationid", "decline_code", "amount_due", "invoice_id",
            "weekly_limit_hours", "message", "client_message", "memo"}


def _may_hold(name: str, value: object) -> bool:
    """Whether a big number could still be a valid value of the field (the card bounds some only loosely)."""
    if value == 10**13:
        return name in {"version", "minutes"}
    if isinstance(value, RawJson) and str(value) == "1E-1100000":
        return name == "amount_due"  # a tiny positive amount is still an amount
    return False


def encode(event: dict) -> bytes:
    """The event as UTF-8 JSON; RawJson values go in verbatim, lone surrogates become invalid UTF-8."""
    raws: dict[str, str] = {}

    def placeholder(value: Any) -> Any:
        if isinstance(value, RawJson):
            marker = f"@@raw{len(raws)}@@"
            raws[marker] = str(value)
            return marker
        if isinstance(value, dict):
            return {name: placeholder(item) for name, item in value.items()}
        if isinstance(value, list):
            return [placeholder(item) for item in value]
        return value

    text = json.dumps(placeholder(event), ensure_ascii=False, separators=(",", ":"))
    for marker, raw in raws.items():
        text = text.replace(json.dumps(marker), raw)
    return text.encode("utf-8", "surrogatepass")


# --- from drafts to records ----------------------------------------------------------------------


def finalize(draft: Draft, serial: int, run: str, earlier_ids: list[str] | None = None) -> Input:
    """The record to publish: a unique id (or an earlier one, for `repeat_id`), the key, the bytes."""
    event_id = f"{run}-{serial:06d}-{uuid.uuid4().hex[:6]}"
    event = draft.event
    if event is not None and draft.category == "repeat_id" and earlier_ids:
        event_id = earlier_ids[serial % len(earlier_ids)]
    if event is not None:
        event = _with_id(event, event_id)
    value = draft.raw if event is None else encode(event)
    key = draft.key
    if key == "data":
        data = (event or {}).get("data")
        found = data.get(key_field(draft.topic)) if isinstance(data, dict) else None
        key = found.encode("utf-8", "surrogatepass") if isinstance(found, str) else b"no-key-field"
    applied_id = event.get("id") if event is not None and isinstance(event.get("id"), str) else None
    return Input(draft.topic, draft.category, key, value, draft.headers, applied_id, draft.reasons,
                 draft.may_apply, note=draft.note, serial=serial)


def _with_id(event: dict, event_id: str) -> dict:
    if event.get("id") == ID_PLACEHOLDER:
        return {**event, "id": event_id}
    return event


def canary(topic: str, key: str, serial: int, run: str) -> Input:
    """A plainly valid event keyed `key`: it must be applied whatever came before it."""
    now = datetime.now(UTC) - timedelta(seconds=1)
    builders = {
        BILLING_EVENTS.name: ("billing.account_reinstated", {"client_id": key}),
        BILLING_PROBLEMS.name: ("billing.problem_resolved",
                                {"client_id": key, "kind": "chargeback", "resolved_at": rfc3339(now), "open_problems": []}),
        CONTRACT_COMMANDS.name: ("contract.resume", {"contract_id": key, "actor_id": "canary-actor"}),
        CONTRACT_EVENTS.name: ("contract.command_rejected", {"command_id": f"cmd-{serial}", "contract_id": key,
                                                             "actor_id": "canary-actor", "reason": "unknown_contract"}),
        TIME_ENTRIES_SUBMITTED.name: ("time_entry.submitted", {
            "entry_id": f"{run}-canary-entry-{serial}", "contract_id": key, "freelancer_id": "canary-fl",
            "started_at": rfc3339(now - timedelta(hours=2)), "ended_at": rfc3339(now - timedelta(hours=1)),
            "memo": "canary", "source": "tracker"}),
        TIME_ENTRIES.name: ("time_entry.rejected", {"entry_id": f"{run}-canary-entry-{serial}", "contract_id": key,
                                                    "freelancer_id": "canary-fl", "reason": "unknown_contract"}),
    }
    event_type, data = builders[topic]
    event_id = f"{run}-canary-{serial:06d}"
    event = {"specversion": "1.0", "id": event_id, "type": event_type, "source": "hostile-canary",
             "time": rfc3339(now), "subject": key, "data": data}
    return Input(topic, "canary", key.encode(), encode(event), (), event_id, frozenset(), True, canary=True,
                 serial=serial)


def draw_drafts(topic: str, keys: list[str], count: int, seed_value: int) -> list[Draft]:
    """`count` hostile drafts for a topic, drawn by hypothesis (reproducible from `seed_value`), every
    category in turn so that a small draw still covers each one (valid events twice as often)."""
    rotation = ("valid", *CATEGORIES)
    rounds = -(-count // len(rotation))
    queues = {category: iter(_draw(hostile(topic, keys, category), rounds * rotation.count(category),
                                   seed_value + index))
              for index, category in enumerate(CATEGORIES)}
    mixed: list[Draft] = []
    for _ in range(rounds):
        mixed += [draft for category in rotation if (draft := next(queues[category], None)) is not None]
    return mixed[:count]


def _draw(strategy: st.SearchStrategy[Draft], wanted: int, seed_value: int) -> list[Draft]:
    found: list[Draft] = []

    @seed(seed_value)
    @settings(max_examples=wanted * 2, database=None, deadline=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(strategy)
    def collect(draft: Draft) -> None:
        if len(found) < wanted:
            found.append(draft)

    collect()
    return found


def build_inputs(topic: str, count: int, seed_value: int, run: str, keys_per_topic: int = 6,
                 canary_every: int = 4) -> list[Input]:
    """A run's records for one topic: hostile inputs with a canary after every few, on shared keys
    (so bad records sit in the batches and partitions of good ones)."""
    keys = [f"{run}-{topic.split('.')[0]}-{n}" for n in range(keys_per_topic)]
    drafts = draw_drafts(topic, keys, count, seed_value)
    inputs: list[Input] = []
    valid_ids: list[str] = []
    serial = 0
    for draft in drafts:
        serial += 1
        made = finalize(draft, serial, run, valid_ids)
        if made.category == "valid" and made.event_id:
            valid_ids.append(made.event_id)
        inputs.append(made)
        if serial % canary_every == 0:
            serial += 1
            neighbour_key = made.key.decode("utf-8", "replace") if made.key else keys[0]
            if neighbour_key not in keys:
                neighbour_key = keys[serial % len(keys)]
            inputs.append(canary(topic, neighbour_key, serial, run))
    serial += 1
    inputs.append(canary(topic, keys[0], serial, run))
    return inputs
