"""Turning raw message bytes into a typed event, or into a readable reason for refusing them."""

from dataclasses import dataclass
from typing import Literal, TypeVar

from pydantic import TypeAdapter, ValidationError

from shared.events.envelope import Envelope

E = TypeVar("E", bound=Envelope)
RefusalReason = Literal["invalid_json", "unknown_type", "schema_violation"]


@dataclass(frozen=True)
class InvalidEvent(Exception):
    """Why a message cannot be read as any event its topic carries."""

    reason: RefusalReason
    detail: str

    def __str__(self) -> str:
        return f"{self.reason}: {self.detail}"


def decode(events: TypeAdapter[E], raw: bytes | None) -> E:
    try:
        return events.validate_json(raw or b"")
    except ValidationError as error:
        raise InvalidEvent(_reason(error), describe(error)) from None


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
