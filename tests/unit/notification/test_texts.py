"""What people read: short, specific, the contract named, and nothing a freelancer must not learn."""

import pytest

from services.notification import texts


def test_a_platform_pause_tells_the_freelancer_who_paused_what_to_do_and_how_to_reach_the_client():
    text = texts.paused_for_freelancer("c-123", by_platform=True, by_client=False, client_message=None)
    assert text.title == "Contract c-123 is paused"
    assert text.body.startswith("The platform has paused contract c-123.")
    assert "stop work" in text.body
    assert "You can still message your client." in text.body
    assert texts.SUPPORT_EMAIL in text.body and "Help → Contact us" in text.body
    assert "press Get Support on the contract's page and we'll reach out to them on your behalf" in text.body
    assert "report it with Get Support" in text.body  # an offer to pay outside the platform
    assert "reactivated" in text.body


@pytest.mark.parametrize("word", ["billing", "payment method", "card", "declin", "suspend", "chargeback", "why"])
def test_a_platform_pause_says_nothing_about_why(word):
    text = texts.paused_for_freelancer("c-123", by_platform=True, by_client=False, client_message=None)
    assert word not in f"{text.title} {text.body}".lower()


def test_a_client_pause_tells_the_freelancer_the_clients_own_words():
    text = texts.paused_for_freelancer("c-9", by_platform=False, by_client=True, client_message="  Back on the 3rd.  ")
    assert text.title == "Contract c-9 is paused by your client"
    assert "Your client has paused contract c-9." in text.body
    assert "Their message: “Back on the 3rd.”" in text.body
    assert "You can still message your client." in text.body
    assert texts.SUPPORT_EMAIL not in text.body  # the client is reachable directly
    assert "Get Support" not in text.body


def test_a_pause_held_by_both_says_both_and_keeps_the_clients_message():
    text = texts.paused_for_freelancer("c-9", by_platform=True, by_client=True, client_message="Short break")
    assert "The platform has paused contract c-9, and your client has paused it too." in text.body
    assert "“Short break”" in text.body
    assert texts.SUPPORT_EMAIL in text.body


def test_a_blank_client_message_is_not_quoted():
    text = texts.paused_for_freelancer("c-9", by_platform=False, by_client=True, client_message="   ")
    assert "message:" not in text.body
    assert texts.paused_for_client("c-9", "  ").body.count("with your message") == 0


def test_a_long_client_message_is_quoted_shortened():
    text = texts.paused_for_freelancer("c-9", by_platform=False, by_client=True, client_message="x" * 3000)
    assert "x" * texts.QUOTE_LIMIT not in text.body
    assert "…”" in text.body


def test_the_client_is_told_their_pause_took_effect_and_that_the_freelancer_was_told():
    text = texts.paused_for_client("c-9", "Back soon")
    assert text.title == "You paused contract c-9"
    assert "can't log time" in text.body and "with your message" in text.body


def test_resumes_name_the_contract_and_tell_each_side_what_changes_for_them():
    freelancer = texts.resumed_for_freelancer("c-5")
    client = texts.resumed_for_client("c-5", billing_resolved=True)
    assert freelancer.title == client.title == "Contract c-5 is active again"
    assert "You can log time on it again." in freelancer.body
    assert "billing" in client.body and "Your freelancer can log time" in client.body
    assert "billing" not in texts.resumed_for_client("c-5", billing_resolved=False).body


def test_still_paused_says_which_hold_remains_in_the_clients_terms():
    after_client_resume = texts.still_paused("c-5", client_hold_lifted=True)
    after_billing_fixed = texts.still_paused("c-5", client_hold_lifted=False)
    assert after_client_resume.title == after_billing_fixed.title == "Contract c-5 is still paused"
    assert "until the billing issue on your account is resolved" in after_client_resume.body
    assert texts.BILLING_SETTINGS_PATH in after_client_resume.body
    assert "because you paused it" in after_billing_fixed.body


def test_time_entry_blocked_explains_payment_protection_and_that_it_is_said_once():
    text = texts.time_entry_blocked("c-7")
    assert text.title == "Time not recorded on contract c-7"
    assert "when the contract was paused" in text.body
    assert "before the pause stays eligible" in text.body
    assert "won't get this notice again for this pause" in text.body


@pytest.mark.parametrize(
    ("kind", "title"),
    [
        ("payment_failed", "Action needed: a payment failed"),
        ("payment_method_invalid", "Action needed: update your payment method"),
        ("account_suspended", "Action needed: your account is suspended"),
        ("chargeback", "Action needed: a payment is disputed"),
    ],
)
def test_billing_action_required_titles_say_what_is_wrong(kind, title):
    assert texts.billing_action_required(kind, "Detail.", []).title == title


def test_billing_action_required_gives_the_clients_detail_and_names_the_paused_contracts():
    contracts = [f"c-{n}" for n in range(1, 9)]
    text = texts.billing_action_required("payment_failed", "Your card ending 4242 was declined.", contracts)
    assert text.body.startswith("Your card ending 4242 was declined.")
    assert "(c-1, c-2, c-3, c-4, c-5 and 3 more)" in text.body
    assert texts.BILLING_SETTINGS_PATH in text.body
    assert "never why" in text.body


def test_billing_action_required_without_known_contracts_still_reads_well():
    text = texts.billing_action_required("chargeback", "A payment is disputed.", [])
    assert "your open contracts are paused and" in text.body
    assert "()" not in text.body


def test_titles_that_would_be_too_long_are_shortened_not_refused():
    text = texts.resumed_for_freelancer("c" * 200)
    assert len(text.title) == texts.TITLE_LIMIT and text.title.endswith("…")


# --- Get Support ----------------------------------------------------------------------------

FREELANCER_SUPPORT_TEXTS = [
    texts.support_request_received("c-3", client_contacted=True),
    texts.support_request_received("c-3", client_contacted=False),
    texts.report_received("c-3"),
    texts.support_request_refused("c-3"),
]


@pytest.mark.parametrize("text", FREELANCER_SUPPORT_TEXTS)
@pytest.mark.parametrize("word", ["billing", "payment method", "card", "declin", "suspend", "chargeback", "dispute"])
def test_what_a_requester_is_told_carries_no_billing_specifics(text, word):
    assert word not in f"{text.title} {text.body}".lower()


def test_the_requester_hears_the_client_was_contacted_only_when_they_were():
    assert "reached out to your client on your behalf" in texts.support_request_received("c-3", True).body
    assert "reached out" not in texts.support_request_received("c-3", False).body


def test_a_report_is_acknowledged_and_the_reporter_told_the_other_party_is_not_told():
    text = texts.report_received("c-3")
    assert "c-3" in text.title
    assert "isn't told about your report or who made it" in text.body


def test_a_refusal_reads_the_same_whether_the_contract_is_unknown_or_someone_elses():
    text = texts.support_request_refused("c-3")
    assert "isn't a contract of yours that we know of" in text.body


def test_the_waiting_client_is_told_what_to_fix_in_their_own_terms_not_what_the_freelancer_wrote():
    text = texts.freelancer_waiting("c-3", frozenset({"payment_failed", "chargeback"}))
    assert text.title == "Your freelancer is waiting on contract c-3"
    assert "a payment is disputed, a payment failed" in text.body
    assert texts.BILLING_SETTINGS_PATH in text.body
    unknown = texts.freelancer_waiting("c-3", frozenset())
    assert "billing issue on your account" in unknown.body and "What needs fixing" not in unknown.body
