"""The event contract of DESIGN.md as pydantic models, one module per topic family.

Each topic's consumers read it through one TypeAdapter (`BILLING_EVENT`, `CONTRACT_COMMAND`, ...),
a union discriminated on `type`: an unknown type is refused like any other invalid message.
"""
