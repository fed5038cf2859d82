"""notification: wiring. Consumes billing.problems, contracts.events, time.entries and support.requests;
produces `notifications`; serves the in-app inbox, the support queue and webhook subscriptions; delivers
webhooks in the background."""

from pydantic import Field

from shared.events.billing import BILLING_PROBLEM_EVENT
from shared.events.contracts import CONTRACT_EVENT
from shared.events.notifications import NotificationCreated
from shared.events.support import SUPPORT_EVENT
from shared.events.time_entries import TIME_ENTRY_EVENT
from shared.service import Service, run
from shared.settings import BaseServiceSettings
from shared.topics import BILLING_PROBLEMS, CONTRACT_EVENTS, NOTIFICATIONS, SUPPORT_REQUESTS, TIME_ENTRIES
from services.notification import api, handlers
from services.notification.store import tables
from services.notification.targets import Targets
from services.notification.webhooks import DeliveryPolicy, WebhookDispatcher


class Settings(BaseServiceSettings):
    service_name: str = "notification"

    webhook_max_attempts: int = Field(default=5, ge=1, le=20)
    webhook_retry_base_seconds: float = Field(default=2.0, gt=0, description="Delays: base, 2×base, 4×base, ...")
    webhook_timeout_seconds: float = Field(default=10.0, gt=0)
    webhook_poll_seconds: float = Field(default=0.5, gt=0)
    webhooks_allow_private: bool = Field(
        default=False, description="Let webhooks go to plain http and private or loopback addresses (development).",
    )

    def delivery_policy(self) -> DeliveryPolicy:
        return DeliveryPolicy(
            max_attempts=self.webhook_max_attempts,
            retry_base_seconds=self.webhook_retry_base_seconds,
            timeout_seconds=self.webhook_timeout_seconds,
            poll_seconds=self.webhook_poll_seconds,
        )

    def webhook_targets(self) -> Targets:
        return Targets(allow_private=self.webhooks_allow_private)


def build(settings: Settings) -> Service:
    service = Service(settings, tables)
    service.consume(BILLING_PROBLEMS, BILLING_PROBLEM_EVENT, handlers.on_billing_problem,
                    apply_batch=handlers.on_billing_problems)
    service.consume(CONTRACT_EVENTS, CONTRACT_EVENT, handlers.on_contract_event, apply_batch=handlers.on_contract_events)
    service.consume(TIME_ENTRIES, TIME_ENTRY_EVENT, handlers.on_time_entry, apply_batch=handlers.on_time_entries)
    service.consume(SUPPORT_REQUESTS, SUPPORT_EVENT, handlers.on_support_request)
    service.produces(NOTIFICATIONS, NotificationCreated, "One record per recipient per notification.")
    targets = settings.webhook_targets()
    api.declare(service, targets)
    service.background.append(WebhookDispatcher(service.store, settings.delivery_policy(), targets).run)
    return service


def main() -> None:
    run(Settings, build)
