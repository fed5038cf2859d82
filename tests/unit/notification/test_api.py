"""Who may call each route of notification's API, and what the border refuses before it."""

import base64
from datetime import UTC, datetime, timedelta

import jwt
import pytest

from shared.auth import mint
from services.notification import store
from tests.support import TEST_JWT_SECRET, bearer
from tests.unit.notification.conftest import PUBLIC
from tests.unit.notification.factories import ContractStory
from tests.unit.notification.test_handlers import take

FREELANCER, OTHER_FREELANCER = bearer("fl-1", "freelancer"), bearer("fl-2", "freelancer")
CLIENT = bearer("client-1", "client")
SUPPORT = bearer("agent-7", "support")
OPERATOR = bearer("ops-1", "operator")
HOOK = "https://hooks.example/in"
OTHER_KEY = "another-secret-that-is-long-enough-1234"  # not the key the service checks tokens with


@pytest.fixture
async def inbox_of_fl_1(notification_store) -> str:
    """fl-1 has one notification; its id."""
    contract = ContractStory("c-1", "client-1", "fl-1")
    await take(notification_store, contract.opened(), contract.paused())
    async with notification_store.reading() as connection:
        (notification,), _ = await store.inbox_of(connection, "fl-1", 1)
    return notification["notification_id"]


def tokens_that_prove_nothing() -> dict[str, dict[str, str]]:
    now = datetime.now(UTC)
    claims = {"sub": "fl-1", "role": "freelancer", "exp": now + timedelta(hours=1)}
    unsigned = jwt.encode(claims, key=None, algorithm="none")
    return {
        "none": {},
        "not bearer": {"Authorization": f"Basic {base64.b64encode(b'fl-1:pw').decode()}"},
        "garbage": {"Authorization": "Bearer not.a.token"},
        "expired": {"Authorization": "Bearer " + mint(TEST_JWT_SECRET, "fl-1", "freelancer", ttl=timedelta(hours=-1))},
        "alg none": {"Authorization": f"Bearer {unsigned}"},
        "alg none, no signature": {"Authorization": f"Bearer {unsigned.rstrip('.')}."},
        "bad signature": {"Authorization": f"Bearer {mint(OTHER_KEY, 'fl-1', 'freelancer')}"},
        "no role": {"Authorization": "Bearer " + jwt.encode({"sub": "fl-1", "exp": now + timedelta(hours=1)},
                                                            TEST_JWT_SECRET, algorithm="HS256")},
    }


ROUTES = [
    ("GET", "/recipients/fl-1/notifications", None),
    ("POST", "/recipients/fl-1/notifications/read", None),
    ("POST", "/recipients/fl-1/notifications/some-id/read", None),
    ("POST", "/webhooks", {"recipient_id": "fl-1", "url": HOOK}),
    ("GET", "/webhooks/dead-letters", None),
    ("GET", "/support/cases", None),
]


@pytest.mark.parametrize("method, path, body", ROUTES)
async def test_every_route_wants_a_valid_token(http, method, path, body):
    for why, headers in tokens_that_prove_nothing().items():
        answer = await http.request(method, path, json=body, headers=headers)
        assert answer.status_code == 401, (why, answer.text)
        assert answer.json()["error"] == "unauthenticated" and answer.headers["www-authenticate"] == "Bearer"


async def test_a_recipient_reads_only_their_own_inbox_and_support_reads_any(http, inbox_of_fl_1):
    path = "/recipients/fl-1/notifications"
    for allowed in (FREELANCER, SUPPORT):
        answer = await http.get(path, headers=allowed)
        assert answer.status_code == 200 and answer.json()["notifications"][0]["notification_id"] == inbox_of_fl_1
    assert (await http.get("/recipients/client-1/notifications", headers=CLIENT)).status_code == 200
    for stranger in (OTHER_FREELANCER, CLIENT, OPERATOR, bearer("fl-1", "operator")):
        answer = await http.get(path, headers=stranger)
        assert answer.status_code == 403 and answer.json()["error"] == "forbidden", answer.text
        assert len(answer.content) < 200 and "notifications" not in answer.json()


async def test_only_the_recipient_marks_their_notifications_read(http, inbox_of_fl_1):
    one, every = f"/recipients/fl-1/notifications/{inbox_of_fl_1}/read", "/recipients/fl-1/notifications/read"
    for stranger in (OTHER_FREELANCER, CLIENT, SUPPORT, OPERATOR):
        for path in (one, every, "/recipients/fl-1/notifications/no-such-id/read"):
            answer = await http.post(path, headers=stranger)
            assert answer.status_code == 403 and answer.json()["error"] == "forbidden", (path, answer.text)
    assert (await http.get("/recipients/fl-1/notifications", headers=FREELANCER)).json()["unread"] == 1
    assert (await http.post(one, headers=FREELANCER)).status_code == 200
    assert (await http.post(every, headers=FREELANCER)).json() == {"marked": 0}


async def test_the_support_queue_is_marked_read_by_support_only(http):
    for role in ("freelancer", "client", "operator"):
        answer = await http.post("/recipients/support/notifications/read", headers=bearer("support", role))
        assert answer.status_code == 403
    assert (await http.post("/recipients/support/notifications/read", headers=SUPPORT)).status_code == 200
    assert (await http.get("/recipients/support/notifications", headers=bearer("support", "client"))).status_code == 403


async def test_a_subscription_for_one_recipient_is_made_by_that_recipient_or_an_operator(http):
    for headers, recipient in ((FREELANCER, "fl-1"), (CLIENT, "client-1"), (SUPPORT, "agent-7"),
                               (SUPPORT, "support"), (OPERATOR, "fl-1"), (OPERATOR, "ops-1")):
        answer = await http.post("/webhooks", json={"recipient_id": recipient, "url": HOOK}, headers=headers)
        assert answer.status_code == 201, (recipient, answer.text)
        assert answer.json()["recipient_id"] == recipient
    for headers in (OTHER_FREELANCER, CLIENT, SUPPORT, bearer("support", "client")):
        answer = await http.post("/webhooks", json={"recipient_id": "fl-1", "url": HOOK}, headers=headers)
        assert answer.status_code == 403 and answer.json()["error"] == "forbidden", answer.text
    answer = await http.post("/webhooks", json={"recipient_id": "support", "url": HOOK}, headers=CLIENT)
    assert answer.status_code == 403


async def test_a_subscription_to_every_recipient_is_made_only_by_an_operator(http):
    for headers in (FREELANCER, CLIENT, SUPPORT):
        answer = await http.post("/webhooks", json={"url": HOOK}, headers=headers)
        assert answer.status_code == 403 and "operator" in answer.json()["detail"]
    answer = await http.post("/webhooks", json={"url": HOOK}, headers=OPERATOR)
    assert answer.status_code == 201 and answer.json()["recipient_id"] is None


async def test_dead_letters_are_read_by_operators_and_support(http):
    for allowed in (OPERATOR, SUPPORT):
        assert (await http.get("/webhooks/dead-letters", headers=allowed)).json() == {"dead_letters": []}
    for stranger in (FREELANCER, CLIENT):
        answer = await http.get("/webhooks/dead-letters", headers=stranger)
        assert answer.status_code == 403 and answer.json()["error"] == "forbidden"
    for bad in ("0", "501", "²", "-5", "abc", ""):
        answer = await http.get("/webhooks/dead-letters", params={"limit": bad}, headers=OPERATOR)
        assert answer.status_code == 400, bad


async def test_the_secret_is_generated_and_shown_once(http, capsys):
    first = (await http.post("/webhooks", json={"recipient_id": "fl-1", "url": HOOK}, headers=FREELANCER)).json()
    second = (await http.post("/webhooks", json={"recipient_id": "fl-1", "url": HOOK}, headers=FREELANCER)).json()
    assert first["secret"].startswith("whsec_") and first["secret"] != second["secret"]
    assert len(base64.b64decode(first["secret"].removeprefix("whsec_"))) == 32
    assert set(first) == {"subscription_id", "recipient_id", "url", "secret"}
    chosen = await http.post("/webhooks", json={"url": HOOK, "recipient_id": "fl-1", "secret": "s" * 32},
                             headers=FREELANCER)
    assert chosen.status_code == 422  # secrets are ours to make
    listed = await http.get("/webhooks/dead-letters", headers=OPERATOR)
    assert first["secret"] not in listed.text
    assert (await http.get("/webhooks", headers=OPERATOR)).status_code == 405  # subscriptions are never listed
    logged = capsys.readouterr().out
    assert "webhook subscribed" in logged and first["secret"] not in logged


async def test_a_bad_subscription_is_a_4xx_with_a_reason(http, dns):
    dns.answers["rebound.example"] = ["10.1.2.3"]
    cases = {
        "http://hooks.example/in": "https",
        "https://127.0.0.1/in": "loopback",
        "https://0x7f000001/in": "loopback",
        "https://[::ffff:127.0.0.1]/in": "loopback",
        "https://169.254.169.254/latest/meta-data/": "metadata",
        "https://rebound.example/in": "private",
        "https://admin:hunter2@hooks.example/in": "credentials",
        "https://nowhere.example/in": "does not resolve",
    }
    for url, reason in cases.items():
        answer = await http.post("/webhooks", json={"url": url}, headers=OPERATOR)
        assert answer.status_code == 422 and answer.json()["error"] == "target_refused", (url, answer.text)
        assert reason in answer.json()["detail"], answer.json()
    for body in (b"{not json", b'{"url": 7}', b'{"url": "https://hooks.example/in", "extra": 1}', b"[]", b""):
        answer = await http.post("/webhooks", content=body, headers={**OPERATOR, "content-type": "application/json"})
        assert answer.status_code == 422, body
    too_long = await http.post("/webhooks", json={"url": HOOK + "?" + "a" * 2048}, headers=OPERATOR)
    assert too_long.status_code == 422


async def test_a_megabyte_url_or_body_is_refused_at_the_border(http, service):
    megabyte = "a" * (1024 * 1024)
    answer = await http.post("/webhooks", json={"url": f"https://hooks.example/{megabyte}"}, headers=OPERATOR)
    assert answer.status_code == 413
    for path, query in ((f"/recipients/{megabyte}/notifications", ""), ("/recipients/fl-1/notifications", megabyte)):
        assert await status_of_raw_get(service.http_app(), path, query, FREELANCER) == 414


async def status_of_raw_get(app, path: str, query: str, headers: dict[str, str]) -> int:
    """A GET straight through ASGI: httpx itself refuses to build URLs this long."""
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
        "path": path, "raw_path": path.encode(), "query_string": query.encode(), "root_path": "",
        "headers": [(name.lower().encode(), value.encode()) for name, value in headers.items()],
        "client": ("127.0.0.1", 1), "server": ("notification", 80),
    }
    sent: list[dict] = []

    async def receive() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return next(message["status"] for message in sent if message["type"] == "http.response.start")


async def test_a_public_target_is_accepted_as_given(http):
    answer = await http.post("/webhooks", json={"url": f"https://{PUBLIC}:8443/in?x=1"}, headers=OPERATOR)
    assert answer.status_code == 201 and answer.json()["url"] == f"https://{PUBLIC}:8443/in?x=1"


async def test_support_cases_are_read_by_support_only(http):
    assert (await http.get("/support/cases", headers=SUPPORT)).json() == {"cases": []}
    for stranger in (FREELANCER, CLIENT, OPERATOR):
        answer = await http.get("/support/cases", headers=stranger)
        assert answer.status_code == 403 and answer.json()["error"] == "forbidden"
    for bad in ("0", "501", "abc"):
        assert (await http.get("/support/cases", params={"limit": bad}, headers=SUPPORT)).status_code == 400, bad
