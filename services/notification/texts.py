"""Every title and body a person reads, in one place. Pure: words in, words out.

Freelancer texts take only what contracts.events and time.entries say (a contract id, who holds
it, the client's own message): they cannot mention a billing problem because they are never given one.
The contract events carry no title, so a contract is named by its id.
"""

from dataclasses import dataclass
from typing import TYPE_CHECKING

from shared.events.billing import ProblemKind

if TYPE_CHECKING:
    from services.notification.domain import SupportCase

SUPPORT_EMAIL = "support@marketplace.example"
SUPPORT_PATH = "Help → Contact us"
GET_SUPPORT = "Get Support"  # the button on a contract's page that writes to support.requests
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


_PROBLEM_NAMES: dict[ProblemKind, str] = {
    "payment_failed": "a payment failed",
    "payment_method_invalid": "the payment method is expired or removed",
    "account_suspended": "the account is suspended",
    "chargeback": "a payment is disputed",
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
            f"If your client doesn't answer, press {GET_SUPPORT} on the contract's page and we'll reach out to "
            f"them on your behalf (or write to {SUPPORT_EMAIL}, or use {SUPPORT_PATH}). If anyone offers to pay "
            f"you outside the platform meanwhile, please say no and report it with {GET_SUPPORT}: work paid "
            "outside the platform isn't protected."
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


def support_request_received(contract_id: str, client_contacted: bool) -> Text:
    """To whoever asked, freelancer or client: says nothing of the client's billing."""
    return Text(
        f"We got your support request about contract {contract_id}",
        _sentences(
            f"Thanks for reaching out about contract {contract_id}. Our support team has your request and will "
            "get back to you.",
            "We've also reached out to your client on your behalf." if client_contacted else "",
        ),
    )


def report_received(contract_id: str) -> Text:
    return Text(
        f"Thanks for your report about contract {contract_id}",
        _sentences(
            f"Our support team has your report about contract {contract_id} and will look into it.",
            "Please don't accept payment outside the platform: work paid that way isn't covered by payment "
            "protection.",
            "The other party isn't told about your report or who made it.",
        ),
    )


def support_request_refused(contract_id: str) -> Text:
    # One text for an unknown contract and for someone else's: whether a contract exists is private.
    return Text(
        "We couldn't take your support request",
        _sentences(
            f"We couldn't take your request about contract {contract_id}: it isn't a contract of yours that we know of.",
            f"Check the contract on its page and press {GET_SUPPORT} there, or write to {SUPPORT_EMAIL}.",
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


def freelancer_waiting(contract_id: str, open_problems: frozenset[ProblemKind]) -> Text:
    """For the client only, on their freelancer's behalf: what to fix, not what the freelancer wrote."""
    fix = (
        f"What needs fixing: {_problem_list(open_problems)}."
        if open_problems
        else "It is paused because of a billing issue on your account."
    )
    return Text(
        f"Your freelancer is waiting on contract {contract_id}",
        _sentences(
            f"Your freelancer on contract {contract_id} asked us to reach out to you: the contract is paused, and "
            "they can't log time on it until the billing issue on your account is resolved.",
            fix,
            f"Update your billing details in {BILLING_SETTINGS_PATH}; the contract becomes active again on its own "
            "as soon as every billing issue is resolved.",
        ),
    )


# --- to the support queue -------------------------------------------------------------------


def support_case(case: "SupportCase") -> Text:
    """For support only, who is the platform: may name the client's open problem kinds."""
    topic = (case.topic or "other").replace("_", " ")
    if case.platform_paused:
        problems = _problem_list(case.client_open_problems) if case.client_open_problems else "none known yet"
        standing = f"The platform holds the contract; the client's open billing problems: {problems}."
    else:
        standing = ""
    return Text(
        f"Support request on contract {case.contract_id}: {topic}",
        _sentences(
            f"The {case.requester_role} {case.requester_id} asks for help with contract {case.contract_id} "
            f"(client {case.client_id}, freelancer {case.freelancer_id}), about: {topic}.",
            standing,
            "The client was asked to act on the freelancer's behalf." if case.client_nudged else "",
            _quoted_message(case.message, "Their message"),
        ),
    )


def circumvention_report(case: "SupportCase") -> Text:
    return Text(
        f"Circumvention report on contract {case.contract_id}",
        _sentences(
            f"The {case.requester_role} {case.requester_id} reports an offer to pay outside the platform on "
            f"contract {case.contract_id} (client {case.client_id}, freelancer {case.freelancer_id}).",
            "The other party has not been told.",
            _quoted_message(case.message, "Their report"),
        ),
    )


# --- helpers --------------------------------------------------------------------------------


def _quoted_message(message: str | None, label: str = "Their message") -> str:
    if not message or not message.strip():
        return ""
    return f"{label}: “{_fit(message.strip(), QUOTE_LIMIT)}”"


def _problem_list(kinds: frozenset[ProblemKind]) -> str:
    return ", ".join(_PROBLEM_NAMES[kind] for kind in sorted(kinds))


def _contract_list(contract_ids: list[str]) -> str:
    named = ", ".join(contract_ids[:CONTRACTS_NAMED])
    rest = len(contract_ids) - CONTRACTS_NAMED
    return f"{named} and {rest} more" if rest > 0 else named


def _sentences(*parts: str) -> str:
    return " ".join(part for part in parts if part)


def _fit(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
