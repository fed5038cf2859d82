"""Apply one input inside the intake's transaction: load, let the domain decide, save, emit."""

from datetime import UTC, datetime

from services.contract_state import domain, store
from services.contract_state.domain import BillingStanding, Contract
from shared.events.billing import BillingProblemEvent
from shared.events.contracts import CommandRejected, ContractCommand, OpenContract
from shared.logs import bound_to_event, get_logger
from shared.store import Transaction
from shared.topics import CONTRACT_EVENTS

log = get_logger(__name__)

# What `tx.lock` holds. Per client, not per contract: a billing change fans out over every contract of
# its client, and an open reads its client's standing, so the client's changes take turns as a whole
# (one lock for a fan-out of thousands, and no order between contract locks to get wrong).
CLIENT_LOCK = "client"


async def on_contract_command(tx: Transaction, command: ContractCommand) -> None:
    await on_contract_commands(tx, [command])


async def on_contract_commands(tx: Transaction, commands: list[ContractCommand]) -> None:
    """The clients of all the commands' contracts locked at once, in one order; then each command."""
    await tx.lock(CLIENT_LOCK, *await _clients_of(tx, commands))
    for command in commands:
        with bound_to_event(command):
            await _command(tx, command)


async def _command(tx: Transaction, command: ContractCommand) -> None:
    contract = await store.load_contract(tx.connection, command.data.contract_id)
    # Only an open needs the client's standing: every existing contract already carries it as a hold.
    standing = (
        await store.load_standing(tx.connection, command.data.client_id) if isinstance(command, OpenContract) else None
    )
    outcome = domain.decide(contract, standing, command, datetime.now(UTC))
    if outcome.contract is not None:
        await store.save_contracts(tx.connection, [outcome.contract])
    if outcome.event is None:
        log.info("command changes nothing", command=command.type, contract_id=command.data.contract_id)
        return
    if isinstance(outcome.event, CommandRejected):
        log.info("command rejected", command=command.type, contract_id=command.data.contract_id,
                 reason=outcome.event.data.reason)
    else:
        log.info(outcome.event.type, contract_id=outcome.event.data.contract_id, status=outcome.event.data.status,
                 holds=outcome.event.data.holds, version=outcome.event.data.version)
        await store.record_history(tx.connection, [domain.history_entry(outcome.event, command)])
    await tx.emit(CONTRACT_EVENTS, outcome.event)


async def on_billing_problem(tx: Transaction, change: BillingProblemEvent) -> None:
    await on_billing_problems(tx, [change])


async def on_billing_problems(tx: Transaction, changes: list[BillingProblemEvent]) -> None:
    """All the changes' clients locked at once, in one order; their standings and open contracts read
    in one statement each; then each change in order, on what the changes before it left; what
    changed written in one statement per table (a batch of many clients costs what one costs)."""
    clients = {change.data.client_id for change in changes}
    await tx.lock(CLIENT_LOCK, *clients)
    standings = await store.load_standings(tx.connection, clients)
    open_contracts = await store.load_open_contracts(tx.connection, clients)
    new_standings: dict[str, BillingStanding] = {}
    changed: dict[str, Contract] = {}
    history, events = [], []
    now = datetime.now(UTC)
    for change in changes:
        client_id = change.data.client_id
        contracts = open_contracts[client_id]
        outcome = domain.apply_billing_change(standings.get(client_id), contracts.values(), change, now)
        with bound_to_event(change):
            _log_billing_change(outcome, standings.get(client_id), client_id, len(contracts))
        if outcome.standing is None:
            continue
        standings[client_id] = new_standings[client_id] = outcome.standing
        for contract in outcome.contracts:
            contracts[contract.contract_id] = changed[contract.contract_id] = contract
        history.extend(domain.history_entry(event, change) for event in outcome.events)
        events.extend(outcome.events)
    await store.save_standings(tx.connection, list(new_standings.values()))
    await store.save_contracts(tx.connection, list(changed.values()))
    await store.record_history(tx.connection, history)
    await tx.emit_all(CONTRACT_EVENTS, events)


def _log_billing_change(
    outcome: domain.BillingOutcome, before: BillingStanding | None, client_id: str, open_contracts: int
) -> None:
    if outcome.standing is None:
        log.info("late billing change ignored", client_id=client_id,
                 applied_as_of=before.as_of.isoformat() if before else None)
    else:
        log.info("platform hold " + ("on" if outcome.standing.has_problems else "off"), client_id=client_id,
                 open_contracts=open_contracts, contracts_changed=len(outcome.contracts))


async def _clients_of(tx: Transaction, commands: list[ContractCommand]) -> set[str]:
    """Whose contracts the commands touch: an open names its client; other commands' contracts say
    who theirs is (a contract unknown yet has none to wait for)."""
    opened = {command.data.client_id for command in commands if isinstance(command, OpenContract)}
    others = {command.data.contract_id for command in commands if not isinstance(command, OpenContract)}
    return opened | set((await store.clients_of(tx.connection, others)).values())
