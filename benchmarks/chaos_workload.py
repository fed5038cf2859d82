"""The chaos run's inputs and its reference model (benchmarks.chaos).

A seeded draw over all four services: contracts opened, paused, resumed and ended on
contracts.commands, billing failures and resolutions on billing.events, time entries on
time.entries.submitted, and exact re-sends of any of them. Beside the inputs, what DESIGN.md says
must come of them whatever the services' order of work across topics and however often an input
is delivered; each rule below depends only on the order of one key's inputs, which Kafka keeps:

- per client, the billing problem changes its facts make, in order (`billing.problems`);
- per contract, its holds once everything is applied: `client` from the client's pause to their
  resume, `platform` exactly while the client has an open problem at the end, none once ended;
- per contract, the commands refused and why.

Event times follow a synthetic clock in the past, one second per input, so every input has its own
time (late delivery never applies) and a time entry can overlap the pauses around it.
"""

import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from ops.operate import billing_event, contract_command, time_entry
from shared.events.envelope import Envelope
from shared.topics import BILLING_EVENTS, CONTRACT_COMMANDS, TIME_ENTRIES_SUBMITTED, Topic

SOURCE = "chaos-benchmark"

# What each billing fact does to the client's problems (DESIGN.md): kinds opened, kinds resolved.
BILLING_EFFECTS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "payment_failed": (("payment_failed",), ()),
    "payment_succeeded": ((), ("payment_failed",)),
    "payment_method_expired": (("payment_method_invalid",), ()),
    "payment_method_updated": ((), ("payment_method_invalid", "payment_failed")),
    "account_suspended": (("account_suspended",), ()),
    "account_reinstated": ((), ("account_suspended",)),
    "chargeback_opened": (("chargeback",), ()),
    "chargeback_closed": ((), ("chargeback",)),  # drawn only with outcome `won`
}
OPENERS = ("payment_failed", "payment_method_expired", "account_suspended", "chargeback_opened")
RESOLVERS = {
    "payment_failed": ("payment_succeeded", "payment_method_updated"),
    "payment_method_invalid": ("payment_method_updated",),
    "account_suspended": ("account_reinstated",),
    "chargeback": ("chargeback_closed",),
}
# Relative weights of what the next input is.
ACTIONS = {"pause": 10, "resume": 14, "stranger_pause": 1, "end": 0.4, "billing": 20, "billing_then_openings": 1,
           "time_entry": 25, "resend": 5}


@dataclass(frozen=True)
class Input:
    topic: Topic
    key: str
    event: Envelope
    value: bytes  # the exact bytes, sent again as they are by a re-send
    resend: bool = False


@dataclass
class ContractModel:
    contract_id: str
    client_id: str
    freelancer_id: str
    kind: str
    client_hold: bool = False
    client_message: str | None = None
    ended: bool = False
    refusals: list[tuple[str, str]] = field(default_factory=list)  # (command id, reason)

    def expected(self, open_problems: set[str]) -> dict[str, object]:
        """The contract's last snapshot on contracts.events, as far as the model decides it."""
        if self.ended:
            holds: list[str] = []
        else:
            holds = ["platform"] * bool(open_problems) + ["client"] * self.client_hold
        status = "ended" if self.ended else ("paused" if holds else "active")
        return {"client_id": self.client_id, "freelancer_id": self.freelancer_id, "kind": self.kind,
                "status": status, "holds": holds,
                "client_message": self.client_message if self.client_hold and not self.ended else None}


@dataclass(frozen=True)
class EntryModel:
    entry_id: str
    contract_id: str


@dataclass
class Workload:
    inputs: list[Input] = field(default_factory=list)
    contracts: dict[str, ContractModel] = field(default_factory=dict)
    open_problems: dict[str, set[str]] = field(default_factory=dict)  # client -> kinds open at the end
    # client -> (type, kind, open_problems after) of each billing.problems event, in order
    problem_changes: dict[str, list[tuple[str, str, tuple[str, ...]]]] = field(default_factory=dict)
    entries: dict[str, EntryModel] = field(default_factory=dict)
    counts: Counter = field(default_factory=Counter)  # inputs by what they are

    def expected(self, contract_id: str) -> dict[str, object]:
        contract = self.contracts[contract_id]
        return contract.expected(self.open_problems[contract.client_id])


def draw(seed: int, events: int, start: datetime) -> Workload:
    """`events` inputs (re-sends included) from `seed`; the n-th input's time is `start` + n seconds."""
    return _Draw(random.Random(seed), seed, events, start).run()


class _Draw:
    def __init__(self, rng: random.Random, seed: int, events: int, start: datetime) -> None:
        self.rng, self.seed, self.events, self.start = rng, seed, events, start
        self.target_contracts = max(12, events // 40)
        self.clients = [f"chaos{seed}-client-{n}" for n in range(max(3, self.target_contracts // 5))]
        self.workload = Workload(open_problems={client: set() for client in self.clients},
                                 problem_changes={client: [] for client in self.clients})

    def run(self) -> Workload:
        # A quarter of the contracts first, the rest opened all along: an opening races with its
        # client's billing changes (and with the faults) at any time of the run.
        later = (self.target_contracts - self.target_contracts // 4) / self.events
        while len(self.workload.inputs) < self.events:
            contracts = self.workload.contracts
            if len(contracts) < self.target_contracts // 4 or (
                    len(contracts) < self.target_contracts and self.rng.random() < later):
                self.open()
                continue
            action = self.rng.choices(list(ACTIONS), weights=list(ACTIONS.values()))[0]
            getattr(self, action)()
        return self.workload

    @property
    def now(self) -> datetime:
        return self.start + timedelta(seconds=len(self.workload.inputs))

    def add(self, topic: Topic, event: Envelope, what: str) -> Envelope:
        event = event.model_copy(update={"id": f"chaos{self.seed}-{len(self.workload.inputs):07d}", "time": self.now})
        key = str(getattr(event.data, topic.key))
        self.workload.inputs.append(Input(topic, key, event, event.to_json()))
        self.workload.counts[what] += 1
        return event

    def contract(self) -> ContractModel:
        return self.rng.choice(list(self.workload.contracts.values()))

    def open(self, client: str | None = None) -> None:
        number = len(self.workload.contracts)
        contract = ContractModel(f"chaos{self.seed}-contract-{number}", client or self.rng.choice(self.clients),
                                 f"chaos{self.seed}-freelancer-{number}",
                                 "hourly" if self.rng.random() < 0.85 else "fixed_price")
        fields = {"contract_id": contract.contract_id, "client_id": contract.client_id,
                  "freelancer_id": contract.freelancer_id, "kind": contract.kind}
        self.add(CONTRACT_COMMANDS, contract_command("open", fields, SOURCE), "contract.open")
        self.workload.contracts[contract.contract_id] = contract

    def pause(self, actor: str | None = None) -> None:
        contract = self.contract()
        message = self.rng.choice([None, f"pause note {len(self.workload.inputs)}"])
        fields = {"contract_id": contract.contract_id, "actor_id": actor or contract.client_id, "message": message}
        command = self.add(CONTRACT_COMMANDS, contract_command("pause", fields, SOURCE), "contract.pause")
        if contract.ended:
            contract.refusals.append((command.id, "contract_ended"))
        elif actor is not None:
            contract.refusals.append((command.id, "not_authorized"))
        elif not contract.client_hold:  # a repeated pause changes nothing and says nothing
            contract.client_hold, contract.client_message = True, message

    def stranger_pause(self) -> None:
        self.pause(actor=f"chaos{self.seed}-stranger")

    def resume(self) -> None:
        contract = self.contract()
        fields = {"contract_id": contract.contract_id, "actor_id": contract.client_id}
        command = self.add(CONTRACT_COMMANDS, contract_command("resume", fields, SOURCE), "contract.resume")
        if contract.ended:
            contract.refusals.append((command.id, "contract_ended"))
        elif not contract.client_hold:
            contract.refusals.append((command.id, "not_paused_by_client"))
        else:
            contract.client_hold, contract.client_message = False, None

    def end(self) -> None:
        contract = self.contract()
        actor = self.rng.choice([contract.client_id, contract.freelancer_id])
        fields = {"contract_id": contract.contract_id, "actor_id": actor}
        command = self.add(CONTRACT_COMMANDS, contract_command("end", fields, SOURCE), "contract.end")
        if contract.ended:
            contract.refusals.append((command.id, "contract_ended"))
        contract.ended = True

    def billing_then_openings(self) -> None:
        """A client's billing changes just as they open contracts: the two race in contract-state."""
        client = self.rng.choice(self.clients)
        self.billing(client)
        if len(self.workload.contracts) < 1.5 * self.target_contracts:
            for _ in range(self.rng.randint(1, 2)):
                self.open(client)

    def billing(self, client: str | None = None) -> None:
        client = client or self.rng.choice(self.clients)
        problems = self.workload.open_problems[client]
        if problems and self.rng.random() < 0.75:
            kind = self.rng.choice(RESOLVERS[self.rng.choice(sorted(problems))])
        elif problems or self.rng.random() < 0.5:  # a new problem, or again one already open (no change)
            kind = self.rng.choice(OPENERS)
        else:  # a payment going through, as most do (no change)
            kind = "payment_succeeded"
        fields: dict[str, object] = {"client_id": client}
        if kind in ("payment_failed", "payment_method_expired", "payment_method_updated"):
            fields["payment_method_id"] = f"pm-{self.rng.randrange(3)}"
        if kind == "payment_failed":
            fields |= {"attempt": self.rng.randint(1, 4), "decline_code": "insufficient_funds", "amount_due": 120.5}
        if kind.startswith("chargeback"):
            fields["dispute_id"] = f"dispute-{client}"
        if kind == "chargeback_closed":
            fields["outcome"] = "won"
        self.add(BILLING_EVENTS, billing_event(kind, fields, SOURCE), f"billing.{kind}")
        opens, resolves = BILLING_EFFECTS[kind]
        for problem in opens:
            if problem not in problems:
                problems.add(problem)
                self.workload.problem_changes[client].append(("billing.problem_opened", problem, tuple(sorted(problems))))
        for problem in resolves:
            if problem in problems:
                problems.discard(problem)
                self.workload.problem_changes[client].append(("billing.problem_resolved", problem, tuple(sorted(problems))))

    def time_entry(self) -> None:
        contract = self.contract()
        spacing = self.target_contracts  # about how many seconds apart one contract's inputs are
        ended_at = self.now - timedelta(seconds=0 if self.rng.random() < 0.7 else self.rng.randint(1, 2 * spacing))
        started_at = ended_at - timedelta(seconds=self.rng.randint(60, max(120, min(2 * spacing, 20 * 3600))))
        stranger = self.rng.random() < 0.03
        entry_id = f"chaos{self.seed}-entry-{len(self.workload.entries)}"
        fields = {"entry_id": entry_id, "contract_id": contract.contract_id,
                  "freelancer_id": f"chaos{self.seed}-stranger" if stranger else contract.freelancer_id,
                  "started_at": started_at, "ended_at": ended_at, "memo": "chaos",
                  "source": "tracker" if self.rng.random() < 0.8 else "manual"}
        self.add(TIME_ENTRIES_SUBMITTED, time_entry(fields, SOURCE), "time_entry.submitted")
        self.workload.entries[entry_id] = EntryModel(entry_id, contract.contract_id)

    def resend(self) -> None:
        original = self.rng.choice(self.workload.inputs)
        if original.resend:
            return
        self.workload.inputs.append(Input(original.topic, original.key, original.event, original.value, resend=True))
        self.workload.counts["re-send"] += 1
