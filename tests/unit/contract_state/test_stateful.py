"""Random sequences of billing changes (some late, some repeated) and commands by clients, freelancers
and strangers, against a plain model of what should hold; the domain must agree with it after each step.

The model knows only: each client's latest billing standing (by time), whether each contract's client
last paused or resumed, whether it ended, and its version. The domain is run as the service runs it.
"""

from datetime import timedelta

from hypothesis import settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from services.contract_state.domain import (
    BillingOutcome,
    BillingStanding,
    CommandOutcome,
    Contract,
    apply_billing_change,
    decide,
)
from shared.events.billing import ProblemKind
from shared.events.contracts import CONTRACT_EVENT
from tests.unit.contract_state.builders import (
    NOW,
    at,
    ending,
    opening,
    pausing,
    problem_opened,
    problem_resolved,
    resuming,
)

CLIENTS = ["c-1", "c-2"]
CONTRACTS = ["k-1", "k-2", "k-3", "k-4"]
KINDS: list[ProblemKind] = ["payment_failed", "payment_method_invalid", "account_suspended", "chargeback"]
ROLES = ["client", "freelancer", "stranger"]

minutes = st.integers(min_value=0, max_value=60)
problem_sets = st.frozensets(st.sampled_from(KINDS))


class ContractLifecycle(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.contracts: dict[str, Contract] = {}
        self.standings: dict[str, BillingStanding] = {}
        # The model.
        self.latest_billing: dict[str, tuple[tuple, frozenset]] = {}  # client -> ((happened, event time), problems)
        self.client_paused: dict[str, bool] = {}
        self.ended: set[str] = set()
        self.versions: dict[str, int] = {}
        self.changed_at = {}

    def problems_of(self, client_id: str) -> frozenset:
        return self.latest_billing.get(client_id, ((), frozenset()))[1]

    def actor(self, contract_id: str, role: str) -> str:
        contract = self.contracts.get(contract_id)
        if contract is None or role == "stranger":
            return "stranger"
        return contract.client_id if role == "client" else contract.freelancer_id

    # --- inputs ---------------------------------------------------------------------------

    @rule(contract_id=st.sampled_from(CONTRACTS), client_id=st.sampled_from(CLIENTS), minute=minutes)
    def open(self, contract_id, client_id, minute):
        existed = contract_id in self.contracts
        outcome = self.command(opening(contract_id, client_id, f"f-{contract_id}", minute), client_id)
        if existed:
            assert outcome.event.data.reason == "already_exists"
            return
        assert outcome.event.type == "contract.opened"
        assert outcome.event.data.status == ("paused" if self.problems_of(client_id) else "active")
        self.client_paused[contract_id] = False

    @rule(contract_id=st.sampled_from(CONTRACTS), role=st.sampled_from(ROLES), minute=minutes,
          message=st.none() | st.text(max_size=20))
    def pause(self, contract_id, role, minute, message):
        actor = self.actor(contract_id, role)
        before = self.contracts.get(contract_id)
        outcome = self.command(pausing(actor, contract_id, minute, message))
        if self.expect_refusal(contract_id, role, outcome):
            return
        if self.client_paused[contract_id]:
            assert outcome == CommandOutcome(None, None), "a repeated pause is idempotent"
            return
        assert outcome.event.type == ("contract.holds_changed" if before.holds else "contract.paused")
        assert outcome.contract.client_message == message
        self.client_paused[contract_id] = True

    @rule(contract_id=st.sampled_from(CONTRACTS), role=st.sampled_from(ROLES), minute=minutes)
    def resume(self, contract_id, role, minute):
        actor = self.actor(contract_id, role)
        outcome = self.command(resuming(actor, contract_id, minute))
        if self.expect_refusal(contract_id, role, outcome):
            return
        if not self.client_paused[contract_id]:
            assert outcome.event.data.reason == "not_paused_by_client"
            return
        held_by_platform = bool(self.problems_of(self.contracts[contract_id].client_id))
        assert outcome.event.type == ("contract.holds_changed" if held_by_platform else "contract.resumed")
        self.client_paused[contract_id] = False

    @rule(contract_id=st.sampled_from(CONTRACTS), role=st.sampled_from(ROLES), minute=minutes)
    def end(self, contract_id, role, minute):
        outcome = self.command(ending(self.actor(contract_id, role), contract_id, minute))
        if self.expect_refusal(contract_id, role, outcome, freelancer_may=True):
            return
        assert outcome.event.type == "contract.ended"
        self.ended.add(contract_id)

    @rule(client_id=st.sampled_from(CLIENTS), kind=st.sampled_from(KINDS), others=problem_sets,
          opened=st.booleans(), lists_kind=st.booleans(), minute=minutes, event_delay=st.integers(0, 2))
    def billing_change(self, client_id, kind, others, opened, lists_kind, minute, event_delay):
        if opened:
            # An opened problem is open even when the list forgets it.
            problems = others | {kind}
            listed = problems if lists_kind else problems - {kind}
            change = problem_opened(client_id, kind, sorted(listed), minute, minute + event_delay)
        else:
            problems = others - {kind}
            change = problem_resolved(client_id, kind, sorted(problems), minute, minute + event_delay)
        key = (at(minute), at(minute + event_delay))
        late = client_id in self.latest_billing and key < self.latest_billing[client_id][0]
        had_problems = bool(self.problems_of(client_id))

        outcome = self.billing(change)
        if late:
            assert outcome == BillingOutcome(None, [], []), "a late billing change is ignored"
            return
        self.latest_billing[client_id] = (key, problems)
        if had_problems == bool(problems):
            assert outcome.events == [], "contracts change only when the client starts or stops having problems"
        assert len({event.id for event in outcome.events}) == len(outcome.events)

    @precondition(lambda self: self.latest_billing)
    @rule(data=st.data())
    def billing_change_redelivered_late(self, data):
        """A change older than every change applied: never changes anything."""
        client_id = data.draw(st.sampled_from(sorted(self.latest_billing)))
        (happened, _), _ = self.latest_billing[client_id]
        change = problem_resolved(client_id, minute=(happened - at(0) - timedelta(minutes=1)) / timedelta(minutes=1))
        assert self.billing(change) == BillingOutcome(None, [], [])

    # --- running the domain like the handlers do, checking every event -------------------------

    def command(self, command, client_id=None) -> CommandOutcome:
        contract = self.contracts.get(command.data.contract_id)
        standing = self.standings.get(client_id) if client_id else None
        outcome = decide(contract, standing, command, NOW)
        if outcome.contract is not None:
            self.record([outcome.contract], [outcome.event])
        elif outcome.event is not None:
            assert outcome.event.type == "contract.command_rejected"
        return outcome

    def billing(self, change) -> BillingOutcome:
        client_id = change.data.client_id
        # Ended contracts too: the domain itself must leave them alone.
        contracts = [c for c in self.contracts.values() if c.client_id == client_id]
        outcome = apply_billing_change(self.standings.get(client_id), contracts, change, NOW)
        if outcome.standing is not None:
            self.standings[client_id] = outcome.standing
        self.record(outcome.contracts, outcome.events)
        return outcome

    def record(self, contracts: list[Contract], events: list) -> None:
        assert len(contracts) == len(events), "one event per changed contract"
        for contract, event in zip(contracts, events, strict=True):
            previous = self.versions.get(contract.contract_id, 0)
            assert contract.version == event.data.version == previous + 1, "every change is version + 1"
            assert event.data == contract.snapshot(), "the event carries the contract as it is after the change"
            assert CONTRACT_EVENT.validate_json(event.to_json()) == event, "published events are valid"
            assert contract.changed_at >= self.changed_at.get(contract.contract_id, contract.changed_at)
            assert not any(kind in event.to_json().decode() for kind in KINDS), "no billing specifics"
            self.versions[contract.contract_id] = contract.version
            self.changed_at[contract.contract_id] = contract.changed_at
            self.contracts[contract.contract_id] = contract

    def expect_refusal(self, contract_id: str, role: str, outcome: CommandOutcome, freelancer_may=False) -> bool:
        """Check the refusals every command shares; True when the command was (rightly) refused."""
        if contract_id not in self.contracts:
            reason = "unknown_contract"
        elif contract_id in self.ended:
            reason = "contract_ended"
        elif role == "stranger" or (role == "freelancer" and not freelancer_may):
            reason = "not_authorized"
        else:
            return False
        assert outcome.contract is None and outcome.event.data.reason == reason
        return True

    # --- invariants -------------------------------------------------------------------------

    @invariant()
    def paused_exactly_while_held(self):
        for contract in self.contracts.values():
            if not contract.ended:
                assert contract.status == ("paused" if contract.holds else "active")

    @invariant()
    def ended_is_terminal(self):
        for contract_id in self.ended:
            assert self.contracts[contract_id].ended and not self.contracts[contract_id].holds

    @invariant()
    def platform_hold_exactly_while_the_client_has_open_problems(self):
        for contract in self.contracts.values():
            if not contract.ended:
                assert contract.platform_hold == bool(self.problems_of(contract.client_id))

    @invariant()
    def client_hold_exactly_while_the_last_pause_is_not_resumed(self):
        for contract in self.contracts.values():
            if not contract.ended:
                assert contract.client_hold == self.client_paused[contract.contract_id]
                assert contract.client_hold or contract.client_message is None

    @invariant()
    def standing_is_the_latest_change(self):
        for client_id, (_, problems) in self.latest_billing.items():
            assert self.standings[client_id].open_problems == problems


ContractLifecycle.TestCase.settings = settings(max_examples=300, stateful_step_count=40, deadline=None)
TestContractLifecycle = ContractLifecycle.TestCase
