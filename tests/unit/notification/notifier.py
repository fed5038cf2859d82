"""The domain driven the way the handlers drive it, with its state in memory: for rule tests."""

from shared.events.billing import ProblemOpened, ProblemResolved
from shared.events.contracts import ContractEnded, ContractHoldsChanged, ContractOpened, ContractPaused, ContractResumed
from shared.events.envelope import Envelope
from shared.events.support import CircumventionReported, SupportRequested
from shared.events.time_entries import TimeEntryRejected
from services.notification import domain
from services.notification.domain import ContractView, Notice

CONTRACT_CHANGES = (ContractOpened, ContractPaused, ContractResumed, ContractHoldsChanged, ContractEnded)


class Notifier:
    def __init__(self) -> None:
        self.views: dict[str, ContractView] = {}
        self.noticed: dict[str, frozenset] = {}
        self.sent: list[tuple[Envelope, Notice]] = []
        self.problems: dict[str, domain.ClientProblems] = {}
        self.nudged: dict[str, object] = {}
        self.cases: list[domain.SupportCase] = []
        self.refusals: list[str] = []

    def take(self, *events: Envelope) -> list[Notice]:
        notices: list[Notice] = []
        for event in events:
            notices.extend(self._take(event))
        return notices

    def _take(self, event: Envelope) -> tuple[Notice, ...]:
        if isinstance(event, (SupportRequested, CircumventionReported)):
            return self._support(event)
        if isinstance(event, (ProblemOpened, ProblemResolved)):
            known = domain.client_problems(self.problems.get(event.data.client_id), event)
            if known is not None:
                self.problems[event.data.client_id] = known
        if isinstance(event, ProblemOpened):
            client_id = event.data.client_id
            contract_ids = sorted(
                view.contract_id for view in self.views.values()
                if view.client_id == client_id and view.status in ("active", "paused")
            )
            outcome = domain.problem_opened(self.noticed.get(client_id, frozenset()), contract_ids, event)
            self.noticed[client_id] = outcome.noticed_kinds
            return self._sent(event, outcome.notices)
        if isinstance(event, ProblemResolved):
            client_id = event.data.client_id
            self.noticed[client_id] = domain.problem_resolved(self.noticed.get(client_id, frozenset()), event)
            return ()
        if isinstance(event, TimeEntryRejected):
            outcome = domain.time_entry_rejected(self.views.get(event.data.contract_id), event)
        elif isinstance(event, CONTRACT_CHANGES):
            outcome = domain.contract_changed(self.views.get(event.data.contract_id), event)
        else:
            raise TypeError(event)
        if outcome.view is not None:
            self.views[outcome.view.contract_id] = outcome.view
        return self._sent(event, outcome.notices)

    def _sent(self, cause: Envelope, notices: tuple[Notice, ...]) -> tuple[Notice, ...]:
        self.sent.extend((cause, notice) for notice in notices)
        return notices

    def _support(self, event: SupportRequested | CircumventionReported) -> tuple[Notice, ...]:
        view = self.views.get(event.data.contract_id)
        requester = event.data.requester_id if isinstance(event, SupportRequested) else event.data.reporter_id
        is_a_client = any(known.client_id == requester for known in self.views.values())
        if isinstance(event, SupportRequested):
            known = self.problems.get(view.client_id) if view and view.client_id else None
            outcome = domain.support_requested(
                view, known.open_problems if known else frozenset(), self.nudged.get(event.data.contract_id),
                is_a_client, event,
            )
        else:
            outcome = domain.circumvention_reported(view, is_a_client, event)
        if outcome.case is not None:
            self.cases.append(outcome.case)
        if outcome.refused is not None:
            self.refusals.append(outcome.refused)
        if outcome.nudged_pause is not None:
            self.nudged[event.data.contract_id] = outcome.nudged_pause
        return self._sent(event, outcome.notices)
