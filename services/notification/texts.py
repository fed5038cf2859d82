"""Every title and body a person reads, in one place. Pure: words in, words out.

Freelancer texts take only what contracts.events and time.entries say (a contract id, who holds
it, the client's own message): they cannot mention a billing problem because they are never given one.
The contract events carry no title, so a contract is named by its id.
"""

from dataclasses import dataclass

from shared.events.billing import ProblemKind

SUPPORT_EMAIL = "support@marketplace.example"
SUPPORT_PATH = "Help → Contact us"
BILLING_SETTINGS_PATH = "Settings → Billing"

TITLE_LIMIT = 200
BODY_LIMIT = 4000
QUOTE_LIMIT = 1000  # a client message is quoted, not reproduced at any length
DETAIL_LIMIT = 2000
CONTRACTS_NAMED = 5  # a longer list ends in "and N more"

_STOP_WORK = (
    "Please stop work on it for now: time can't be logged while it is paused, and work during a pause "
    "isn't covered by payment protection. Time you logged before the pause stays eligible."
)

_PROBLEM_TITLES: dict[ProblemKind, str] = {
    "payment_failed": "Action needed: a payment failed",
    "payment_method_invalid": "Action needed: update your payment method",
    "account_suspended": "Action needed: your account is suspended",
    "chargeback": "Action needed: a payment is disputed",
}


@dataclass(frozen=True)
class Text:
    title: str
    body: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "title", _fit(self.title, TITLE_LIMIT))
        object.__setattr__(self, "body", _fit(self.body, BODY_LIMIT))


# --- to the freelancer ----------------------------------------------------------------------


def paused_for_freelancer(contract_id: str, by_platform: bool, by_client: bool, client_message: str | None) -> Text:
    if by_platform:
        opening = (
            f"The platform has paused contract {contract_id}, and your client has paused it too."
            if by_client
            else f"The platform has paused contract {contract_id}."
        )
        support = (
            f"If you need to reach your client about it, contact support at {SUPPORT_EMAIL} or via {SUPPORT_PATH}."
        )
        closing = "We'll let you know as soon as it is reactivated."
    else:
        opening = f"Your client has paused contract {contract_id}."
        support = ""
        closing = "We'll let you know as soon as they resume it."
    body = _sentences(
        opening,
        _quoted_message(client_message) if by_client else "",
        _STOP_WORK,
        "You can still message your client.",
        support,
        closing,
    )
    by = " by your client" if by_client and not by_platform else ""
    return Text(f"Contract {contract_id} is paused{by}", body)


def resumed_for_freelancer(contract_id: str) -> Text:
    return Text(
        f"Contract {contract_id} is active again",
        f"Contract {contract_id} has been reactivated. You can log time on it again.",
    )


def time_entry_blocked(contract_id: str) -> Text:
    # Also sent for an entry reaching back into a pause that is over: say "was paused", not "is".
    return Text(
        f"Time not recorded on contract {contract_id}",
        _sentences(
            f"We couldn't record your time on contract {contract_id} because it falls in a period when the "
            "contract was paused.",
            "Time can't be logged while a contract is paused, and work during a pause isn't covered by payment "
            "protection. Time you logged before the pause stays eligible.",
            "You won't get this notice again for this pause.",
        ),
    )


# --- to the client --------------------------------------------------------------------------


def paused_for_client(contract_id: str, client_message: str | None) -> Text:
    told = (
        "Your freelancer has been told, with your message."
        if client_message and client_message.strip()
        else "Your freelancer has been told."
    )
    return Text(
        f"You paused contract {contract_id}",
        _sentences(
            f"Contract {contract_id} is paused: your freelancer can't log time on it until you resume it.",
            told,
            "Messaging stays open. Resume the contract from its page whenever you're ready.",
        ),
    )


def resumed_for_client(contract_id: str, billing_resolved: bool) -> Text:
    opening = (
        f"Thanks for sorting out your billing: contract {contract_id} is active again."
        if billing_resolved
        else f"Contract {contract_id} is active again."
    )
    return Text(
        f"Contract {contract_id} is active again",
        _sentences(opening, "Your freelancer can log time on it again and has been told."),
    )


def still_paused(contract_id: str, client_hold_lifted: bool) -> Text:
    """One hold was lifted, the other keeps the contract paused."""
    if client_hold_lifted:
        body = _sentences(
            f"You resumed contract {contract_id}, but it stays paused until the billing issue on your account "
            "is resolved.",
            f"Update your billing details in {BILLING_SETTINGS_PATH}; the contract becomes active again as soon "
            "as every billing issue is resolved.",
        )
    else:
        body = _sentences(
            f"The billing issue on your account is resolved, but contract {contract_id} stays paused because "
            "you paused it.",
            "Resume it from the contract's page when you're ready.",
        )
    return Text(f"Contract {contract_id} is still paused", body)


def billing_action_required(kind: ProblemKind, detail: str, contract_ids: list[str]) -> Text:
    """For the client only: `detail` is billing-monitor's text written for them."""
    if contract_ids:
        affected = (
            f"Until it is resolved, your open contracts are paused ({_contract_list(contract_ids)}) "
            "and your freelancers can't log time on them."
        )
    else:
        affected = "Until it is resolved, your open contracts are paused and your freelancers can't log time on them."
    return Text(
        _PROBLEM_TITLES[kind],
        _sentences(
            _fit(detail.strip(), DETAIL_LIMIT),
            affected,
            f"Fix it in {BILLING_SETTINGS_PATH}; contracts reactivate on their own once every issue is resolved.",
            "Your freelancers are told only that the platform paused the contract, never why.",
        ),
    )


# --- helpers --------------------------------------------------------------------------------


def _quoted_message(message: str | None) -> str:
    if not message or not message.strip():
        return ""
    return f"Their message: “{_fit(message.strip(), QUOTE_LIMIT)}”"


def _contract_list(contract_ids: list[str]) -> str:
    named = ", ".join(contract_ids[:CONTRACTS_NAMED])
    rest = len(contract_ids) - CONTRACTS_NAMED
    return f"{named} and {rest} more" if rest > 0 else named


def _sentences(*parts: str) -> str:
    return " ".join(part for part in parts if part)


def _fit(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
