"""Events as people read them: one line per event, named by what happened to whom."""

import json
from dataclasses import dataclass, field
from typing import Any


def summary(event: dict[str, Any]) -> str:
    """What the event says, in a few words."""
    data = event.get("data") or {}
    kind = event.get("type", "?")
    describe = _DESCRIPTIONS.get(kind)
    if describe is None:
        return f"{kind} {json.dumps(data, sort_keys=True)[:160]}"
    return describe(data)


def _contract(data: dict) -> str:
    holds = ",".join(data.get("holds") or []) or "none"
    note = f" message={data['client_message']!r}" if data.get("client_message") else ""
    return f"contract {data.get('contract_id')} {data.get('status')} holds={holds} v{data.get('version')}{note}"


_DESCRIPTIONS = {
    "billing.payment_failed": lambda d: f"client {d['client_id']}: payment failed (attempt {d.get('attempt')})",
    "billing.payment_succeeded": lambda d: f"client {d['client_id']}: payment succeeded",
    "billing.payment_method_expired": lambda d: f"client {d['client_id']}: payment method expired",
    "billing.payment_method_removed": lambda d: f"client {d['client_id']}: payment method removed",
    "billing.payment_method_updated": lambda d: f"client {d['client_id']}: payment method updated",
    "billing.account_suspended": lambda d: f"client {d['client_id']}: account suspended",
    "billing.account_reinstated": lambda d: f"client {d['client_id']}: account reinstated",
    "billing.chargeback_opened": lambda d: f"client {d['client_id']}: chargeback {d.get('dispute_id')} opened",
    "billing.chargeback_closed": lambda d: f"client {d['client_id']}: chargeback closed, {d.get('outcome')}",
    "billing.problem_opened": lambda d: f"client {d['client_id']}: problem {d['kind']} opened; open={d['open_problems']}",
    "billing.problem_resolved": lambda d: f"client {d['client_id']}: problem {d['kind']} resolved; open={d['open_problems']}",
    "contract.open": lambda d: f"open {d['kind']} contract {d['contract_id']} client={d['client_id']} freelancer={d['freelancer_id']}",
    "contract.pause": lambda d: f"{d['actor_id']} asks to pause {d['contract_id']}" + (f" ({d['message']!r})" if d.get("message") else ""),
    "contract.resume": lambda d: f"{d['actor_id']} asks to resume {d['contract_id']}",
    "contract.end": lambda d: f"{d['actor_id']} asks to end {d['contract_id']}",
    "contract.opened": lambda d: "opened: " + _contract(d),
    "contract.paused": lambda d: "paused: " + _contract(d),
    "contract.resumed": lambda d: "resumed: " + _contract(d),
    "contract.holds_changed": lambda d: "holds changed: " + _contract(d),
    "contract.ended": lambda d: "ended: " + _contract(d),
    "contract.command_rejected": lambda d: f"refused {d['actor_id']} on {d['contract_id']}: {d['reason']}",
    "time_entry.submitted": lambda d: f"{d['freelancer_id']} submits {d['entry_id']} on {d['contract_id']} "
    f"{d['started_at'][11:16]}-{d['ended_at'][11:16]} ({d['source']})",
    "time_entry.accepted": lambda d: f"entry {d['entry_id']} accepted, {d['minutes']} min, {d['payment_protection']}",
    "time_entry.rejected": lambda d: f"entry {d['entry_id']} rejected: {d['reason']}",
    "time_entry.protection_revoked": lambda d: f"entry {d['entry_id']} loses payment protection: {d['reason']}",
    "support.requested": lambda d: f"{d['requester_id']} presses Get Support on {d['contract_id']} ({d['topic']})",
    "support.circumvention_reported": lambda d: f"{d['reporter_id']} reports an offer to pay outside the platform "
    f"on {d['contract_id']}",
    "notification.created": lambda d: f"to {d['recipient_role']} {d['recipient_id']} [{d['kind']}] {d['title']}",
}


@dataclass
class Filter:
    """Keeps the events about a client, a contract or a recipient. Learns which contracts belong
    to which client from the contract events it sees, so a client filter also finds their time entries."""

    client: str | None = None
    contract: str | None = None
    recipient: str | None = None
    _contracts_of_client: set[str] = field(default_factory=set)

    @property
    def narrows(self) -> bool:
        return any((self.client, self.contract, self.recipient))

    def keeps(self, event: dict[str, Any]) -> bool:
        data = event.get("data") or {}
        contracts = {data.get("contract_id"), *(data.get("contract_ids") or [])} - {None}
        if self.client and data.get("client_id") == self.client:
            self._contracts_of_client.update(contracts)
        return (
            (self.client is None or data.get("client_id") == self.client or bool(contracts & self._contracts_of_client))
            and (self.contract is None or self.contract in contracts)
            and (self.recipient is None or data.get("recipient_id") == self.recipient)
        )
