"""The CloudEvents 1.0 envelope every message on every topic travels in."""

import hashlib
import uuid
from datetime import UTC, datetime
from functools import cache
from typing import Annotated, Any, Literal, Self

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, StringConstraints

# Derived event ids are uuid5 in this namespace, so a replayed cause yields the same ids.
DERIVED_ID_NAMESPACE = uuid.UUID("5f0c1d2e-8a7b-4c3d-9e1f-2a3b4c5d6e7f")
_NAMESPACE_BYTES = DERIVED_ID_NAMESPACE.bytes


def derived_id(name: str) -> str:
    """`str(uuid.uuid5(DERIVED_ID_NAMESPACE, name))`, without building a UUID object on the way:
    a fan-out derives one id per contract, and uuid5 spent more on the object than on the hash."""
    digest = bytearray(hashlib.sha1(_NAMESPACE_BYTES + name.encode()).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    hexed = digest.hex()
    return f"{hexed[:8]}-{hexed[8:12]}-{hexed[12:16]}-{hexed[16:20]}-{hexed[20:]}"


# Times we can store, compare and do arithmetic on without overflow, in every service.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(3000, 1, 1, tzinfo=UTC)


def _in_utc(value: datetime) -> datetime:
    try:
        utc = value.astimezone(UTC)
    except OverflowError:
        raise ValueError("time cannot be expressed in UTC") from None
    if utc < EARLIEST:
        raise ValueError("time must be 1970 or later")
    return utc


def _to_utc(value: datetime) -> datetime:
    utc = _in_utc(value)
    if utc >= LATEST:
        raise ValueError("time must be before 3000")
    return utc


Id = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
OptionalId = Annotated[str, StringConstraints(max_length=200)] | None
UtcDatetime = Annotated[AwareDatetime, AfterValidator(_to_utc)]
# When an event happened: no upper bound here, the intake refuses a time too far ahead as `time_in_future`.
EventTime = Annotated[AwareDatetime, AfterValidator(_in_utc)]
# Bounds of the numbers the contract carries: a count or a version fits any store's 64-bit integer.
MAX_COUNT = 2**62


class Data(BaseModel):
    """Base of every event's `data`: immutable; fields upstream adds beyond the contract are ignored."""

    model_config = ConfigDict(frozen=True, extra="ignore", allow_inf_nan=False)


class Envelope(BaseModel):
    """A CloudEvent. Subclasses pin `type` to one literal and give `data` its model.

    Decoding from a topic is strict (`shared.events.decoding`): `specversion` must be there, and
    nothing is coerced (no "3" for 3, no true for 1, no unix number for a time, no NaN).
    """

    model_config = ConfigDict(frozen=True, extra="ignore", allow_inf_nan=False)

    specversion: Literal["1.0"]
    id: Id
    type: Annotated[str, StringConstraints(max_length=100)]
    source: Id
    time: EventTime
    subject: OptionalId = None
    datacontenttype: Literal["application/json"] = "application/json"
    correlationid: OptionalId = None
    causationid: OptionalId = None
    data: Any

    @property
    def correlation_id(self) -> str:
        """The chain this event belongs to; an event that starts a chain is its own."""
        return self.correlationid or self.id

    @classmethod
    def event_type(cls) -> str:
        return cls.model_fields["type"].default

    @classmethod
    def derived_from(cls, cause: "Envelope", data: Data, *, source: str, time: datetime, discriminator: str = "") -> Self:
        """An event caused by `cause`, with an id that a replay of the cause reproduces.

        `discriminator` tells apart several events of one type from one cause (fan-out).
        """
        event_type = cls.event_type()
        return cls(
            specversion="1.0",
            id=derived_id(f"{cause.id}|{event_type}|{discriminator}"),
            type=event_type,
            source=source,
            time=time,
            subject=getattr(data, _subject_field(data), None),
            correlationid=cause.correlation_id,
            causationid=cause.id,
            data=data,
        )

    @classmethod
    def new(cls, data: Data, *, source: str, time: datetime, event_id: str | None = None) -> Self:
        """An event that starts a chain (a command, an upstream fact, a test input)."""
        return cls(
            specversion="1.0",
            id=event_id or str(uuid.uuid4()),
            type=cls.event_type(),
            source=source,
            time=time,
            subject=getattr(data, _subject_field(data), None),
            data=data,
        )

    def to_json(self) -> bytes:
        return self.model_dump_json(exclude_none=True).encode()


def _subject_field(data: Data) -> str:
    return _subject_field_of(type(data))


@cache
def _subject_field_of(data_type: type[Data]) -> str:
    # The subject is the entity the event is about, the same field that keys its topic.
    # Cached per type: pydantic's model_fields lookup was a tenth of deriving an event.
    for name in ("contract_id", "client_id", "recipient_id"):
        if name in data_type.model_fields:
            return name
    return "id"

