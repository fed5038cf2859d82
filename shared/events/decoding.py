"""Turning raw message bytes into a typed event, or into a readable reason for refusing them.

Decoding is strict: the bytes must be JSON an event of the topic validates against without
coercion. Whatever goes wrong while reading a message is a refusal, never a crash: a consumer
dead-letters it and moves on.
"""

from dataclasses import dataclass
from typing import Literal, TypeVar

from pydantic import TypeAdapter, ValidationError

from shared.events.envelope import Envelope

E = TypeVar("E", bound=Envelope)
RefusalReason = Literal[
    "invalid_header", "too_large", "invalid_json", "unknown_type", "schema_violation", "time_in_future",
    "key_mismatch", "handler_error",
]


@dataclass(frozen=True)
class InvalidEvent(Exception):
    """Why a message cannot be taken as any event its topic carries."""

    reason: RefusalReason
    detail: str

    def __str__(self) -> str:
        return f"{self.reason}: {self.detail}"


def decode(events: TypeAdapter[E], raw: bytes | None) -> E:
    try:
        return events.validate_json(raw or b"", strict=True)
    except ValidationError as error:
        raise InvalidEvent(_reason(error), describe(error)) from None
    except (ValueError, OverflowError, RecursionError, MemoryError) as error:
        # pydantic reports bad input as ValidationError; anything else raised on input is still input's fault
        raise InvalidEvent("schema_violation", type(error).__name__) from None


def describe(error: ValidationError) -> str:
    """Every violation as `field.path: message`, without echoing input values (they may be private)."""
    problems = []
    for problem in error.errors(include_input=False, include_url=False, include_context=False):
        where = ".".join(str(part) for part in problem["loc"]) or "event"
        problems.append(f"{where}: {problem['msg']}")
    return "; ".join(problems)


def _reason(error: ValidationError) -> RefusalReason:
    kinds = {problem["type"] for problem in error.errors(include_input=False)}
    if "json_invalid" in kinds or "json_type" in kinds:
        return "invalid_json"
    if "union_tag_invalid" in kinds:
        return "unknown_type"
    return "schema_violation"
