"""Every service's HTTP API behind the shared border (DESIGN, "HTTP APIs: who may call them"): no
route answers without a verified token, tokens that are not what they claim are 401s with a JSON
body, keys come from AUTH_JWT_SECRET or AUTH_JWKS_FILE, bodies are limited, and a service with its
API on and no key refuses to start. No broker: the answers come before any store or Kafka."""

import base64
import hashlib
import hmac
import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.routing import Route

from services.billing_monitor import app as billing_monitor
from services.contract_state import app as contract_state
from services.notification import app as notification
from services.time_tracking import app as time_tracking
from shared.auth import mint
from shared.service import Service
from tests.support import TEST_JWT_SECRET, bearer

REPO = Path(__file__).parents[3]
SERVICES = {"billing-monitor": billing_monitor, "contract-state": contract_state,
            "notification": notification, "time-tracking": time_tracking}
OPEN_PATHS = {"/health", "/metrics"}


@pytest.fixture
def build(tmp_path: Path) -> Callable[..., Service]:
    """A service built as its process would build it, on a fresh SQLite file, not started."""

    def make(name: str, **overrides: object) -> Service:
        module = SERVICES[name]
        settings = module.Settings(kafka_bootstrap_servers="127.0.0.1:9", database_url=f"sqlite:///{tmp_path}/{name}.db",
                                   **overrides)
        return module.build(settings)

    return make


def client(service: Service) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=service.http_app()), base_url="http://service")


def concrete(path: str) -> str:
    return re.sub(r"\{(\w+)(:\w+)?\}", lambda match: f"{match.group(1)}-1", path)


def assert_unauthenticated(answer: httpx.Response) -> None:
    assert answer.status_code == 401, answer.text
    assert answer.json()["error"] == "unauthenticated"
    assert answer.headers["www-authenticate"] == "Bearer"


def signed(header: dict, claims: dict, key: bytes) -> str:
    """A token HMAC-signed by hand, with whatever header we like (PyJWT refuses to make the bad ones)."""
    def part(value: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    unsigned = f"{part(header)}.{part(claims)}"
    signature = hmac.new(key, unsigned.encode(), hashlib.sha256).digest()
    return f"{unsigned}.{base64.urlsafe_b64encode(signature).rstrip(b'=').decode()}"


def claims(subject: str = "support-1", role: str = "support", **extra: object) -> dict:
    now = int(datetime.now(UTC).timestamp())
    return {"sub": subject, "role": role, "iat": now, "exp": now + 600, **extra}


@pytest.mark.parametrize("name", sorted(SERVICES))
async def test_every_route_but_health_and_metrics_answers_401_without_a_token(build, name):
    service = build(name)
    api = [route for route in service.routes if isinstance(route, Route) and route.path not in OPEN_PATHS]
    assert api, f"{name} serves no API"
    async with client(service) as http:
        for route in api:
            for method in sorted(route.methods - {"HEAD"}):
                answer = await http.request(method, concrete(route.path), json={})
                assert answer.status_code == 401, f"{name} {method} {route.path}: {answer.status_code}"
                assert answer.json()["error"] == "unauthenticated", f"{name} {method} {route.path}"


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_with_the_api_off_a_service_serves_only_health_and_metrics(build, name, monkeypatch):
    monkeypatch.delenv("AUTH_JWT_SECRET")
    service = build(name, http_api=False)
    assert {route.path for route in service.routes} == OPEN_PATHS


@pytest.mark.parametrize("token", [
    pytest.param("", id="empty"),
    pytest.param("not-a-jwt", id="garbage"),
    pytest.param(mint(TEST_JWT_SECRET, "support-1", "support", ttl=timedelta(minutes=-5)), id="expired"),
    pytest.param(signed({"alg": "none", "typ": "JWT"}, claims(), b"").rsplit(".", 1)[0] + ".", id="alg-none"),
    pytest.param(signed({"alg": "HS256", "typ": "JWT"}, claims(), b"another-secret-of-at-least-32-chars!"),
                 id="bad-signature"),
    pytest.param(signed({"alg": "HS256", "typ": "JWT"}, claims(role="admin"), TEST_JWT_SECRET.encode()),
                 id="unknown-role"),
    pytest.param(signed({"alg": "HS256", "typ": "JWT"}, {"sub": "support-1", "role": "support"},
                        TEST_JWT_SECRET.encode()), id="no-exp"),
])
async def test_tokens_that_prove_nothing_are_401s_with_a_json_body(build, token):
    async with client(build("contract-state")) as http:
        answer = await http.get("/contracts/design-7", headers={"Authorization": f"Bearer {token}"})
    assert_unauthenticated(answer)


async def test_other_schemes_and_a_missing_header_are_401s(build):
    async with client(build("billing-monitor")) as http:
        missing = await http.get("/clients/client-1/billing-problems")
        basic = await http.get("/clients/client-1/billing-problems", headers={"Authorization": "Basic dXNlcjpwYXNz"})
    assert_unauthenticated(missing)
    assert_unauthenticated(basic)
    assert "Bearer" in missing.json()["detail"]


async def test_a_wrong_role_is_403_before_anything_is_read(build):
    async with client(build("billing-monitor")) as http:
        answer = await http.get("/clients/client-1/billing-problems", headers=bearer("client-1", "freelancer"))
    assert answer.status_code == 403 and answer.json()["error"] == "forbidden"


async def test_with_an_audience_set_a_token_for_another_audience_or_none_is_401(build):
    service = build("billing-monitor", auth_audience="contract-pause")
    await service.store.open()
    try:
        async with client(service) as http:
            def get(token: str) -> object:
                return http.get("/clients/client-1/billing-problems", headers={"Authorization": f"Bearer {token}"})

            other = await get(mint(TEST_JWT_SECRET, "client-1", "client", audience="billing-portal"))
            without = await get(mint(TEST_JWT_SECRET, "client-1", "client"))
            right = await get(mint(TEST_JWT_SECRET, "client-1", "client", audience="contract-pause"))
    finally:
        await service.store.close()
    assert_unauthenticated(other)
    assert other.json()["detail"] == "token is for another audience"
    assert_unauthenticated(without)
    assert right.status_code == 200


@pytest.fixture
def rsa_key(tmp_path: Path) -> tuple[rsa.RSAPrivateKey, Path]:
    """An RS256 key pair; its public half as the JWKS file a service reads."""
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public_jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(private.public_key()))
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps({"keys": [public_jwk | {"kid": "idp-1", "use": "sig", "alg": "RS256"}]}))
    return private, jwks


async def test_an_rs256_token_checks_against_the_jwks_file(build, rsa_key, monkeypatch):
    private, jwks = rsa_key
    monkeypatch.delenv("AUTH_JWT_SECRET")
    service = build("billing-monitor", auth_jwks_file=jwks)
    now = datetime.now(UTC)

    def token(subject: str, kid: str = "idp-1") -> str:
        claims = {"sub": subject, "role": "client", "iat": now, "exp": now + timedelta(minutes=5)}
        return jwt.encode(claims, private, algorithm="RS256", headers={"kid": kid})

    await service.store.open()
    try:
        async with client(service) as http:
            def get(token: str) -> object:
                return http.get("/clients/client-1/billing-problems", headers={"Authorization": f"Bearer {token}"})

            own = await get(token("client-1"))
            other_client = await get(token("client-2"))
            unknown_kid = await get(token("client-1", kid="idp-2"))
            hs256 = await get(mint(TEST_JWT_SECRET, "client-1", "client"))
    finally:
        await service.store.close()
    assert own.status_code == 200 and own.json()["client_id"] == "client-1"
    assert other_client.status_code == 403
    assert_unauthenticated(unknown_kid)
    assert_unauthenticated(hs256)  # no HMAC secret configured: HS256 is not accepted at all


@pytest.mark.parametrize("with_secret", [False, True], ids=["jwks-only", "jwks-and-secret"])
async def test_an_hs256_token_signed_with_the_rsa_public_key_is_refused(build, rsa_key, monkeypatch, with_secret):
    """Algorithm confusion: the public key is no secret, so a token "signed" with it proves nothing."""
    private, jwks = rsa_key
    if not with_secret:
        monkeypatch.delenv("AUTH_JWT_SECRET")
    service = build("billing-monitor", auth_jwks_file=jwks)
    public_pem = private.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    public_jwk = jwks.read_bytes()
    forged = [signed({"alg": "HS256", "typ": "JWT", "kid": "idp-1"}, claims("client-1", "client"), key)
              for key in (public_pem, public_jwk)]
    async with client(service) as http:
        for token in forged:
            answer = await http.get("/clients/client-1/billing-problems", headers={"Authorization": f"Bearer {token}"})
            assert_unauthenticated(answer)


async def test_a_body_over_the_limit_is_413_declared_or_streamed(build):
    service = build("time-tracking", http_max_body_bytes=1024)
    body = json.dumps({"memo": "x" * 2000}).encode()

    async def streamed():
        for start in range(0, len(body), 256):
            yield body[start:start + 256]

    async with client(service) as http:
        declared = await http.post("/time-entries", content=body, headers=bearer("alice-1", "freelancer"))
        chunked = await http.post("/time-entries", content=streamed(), headers=bearer("alice-1", "freelancer"))
        anonymous = await http.post("/time-entries", content=body)
    for answer in (declared, chunked, anonymous):
        assert answer.status_code == 413, answer.text
        assert answer.json()["error"] == "too_large"


def test_a_service_with_its_api_on_and_no_key_refuses_to_start_with_one_line():
    env = {name: value for name, value in os.environ.items()
           if name not in ("AUTH_JWT_SECRET", "AUTH_JWKS_FILE", "HTTP_API")}
    env["KAFKA_BOOTSTRAP_SERVERS"] = "127.0.0.1:9"  # never reached: settings come first
    finished = subprocess.run([sys.executable, "-m", "services.billing_monitor"], env=env, cwd=REPO,
                              capture_output=True, text=True, timeout=60)
    assert finished.returncode == 2
    lines = finished.stderr.strip().splitlines()
    assert len(lines) == 1, finished.stderr
    assert lines[0].startswith("billing-monitor: configuration error")
    assert "AUTH_JWT_SECRET" in lines[0] and "AUTH_JWKS_FILE" in lines[0]
