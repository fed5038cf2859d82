"""Hostile HTTP requests for every route of every service (issue 9), shared by the hostile tests and
benchmarks.hostile: oversized, non-UTF-8, deeply nested and overflowing bodies, odd unicode and
over-long path parameters, bad query parameters, hostile headers and tokens. Each request carries a
valid token for the right person where one exists, so what is tested is the input, not the auth;
each says which statuses are right for it (`expect`, or any 4xx/2xx when None). None may be a 5xx.

Free text in every body carries `marker`, so a test can check that no log line carries a body.
"""

import json
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.parse import quote, unquote

import httpx
from starlette.applications import Starlette

from shared.auth import ApiRoute, Role, mint

LIMIT_ROUTES = ("/recipients/{recipient_id}/notifications", "/webhooks/dead-letters", "/support/cases")
FREELANCER = "fl-hostile"
ODD_IDS = [
    "é", "\u202eevil\u202c", "🧨", "👩\u200d👩\u200d👧", "zero\u200bwidth", "a b", "a/b", "..", "%2e%2e%2fetc",
    "%FF", "%C3%28", "%00", "%ZZ", "null", "undefined", "0", "-1", "ᴬᴮᶜ", "Ω" * 200, "i" * 201, "i" * 1500,
    "'; DROP TABLE inbox; --", "<script>", "\\u0000", "%E2%80%AE", "%F0%9F%A7%A8",
]
BAD_LIMITS = ["²", "-1", "0", "1e3", "99999999999999999999", "%00", "١٢", "", "5.0", "0x10", " 5", "5 ",
              "NaN", "5%00", "9" * 1500, "501", "1,000"]
# Webhook targets, none of which needs a DNS lookup: numeric hosts in every notation, odd forms.
HOSTILE_TARGETS = [
    "javascript:alert(1)", "file:///etc/passwd", "http://127.0.0.1/", "https://127.1/", "https://0x7f000001/",
    "https://2130706433/", "https://0177.0.0.1/", "https://[::1]/", "https://[::ffff:127.0.0.1]/",
    "https://169.254.169.254/latest/meta-data", "https://[fd00:ec2::254]/", "https://999999999999/",
    "https://1.2.3.4.5/", "https://0x/", "https://[::1%25eth0]/", "https://user:pw@203.0.113.9/",
    "https://203.0.113.9/#frag", "https://203.0.113.9:99999/", "https://203.0.113.9:-1/", "https://[/", "https:///path",
    "https://\u00e9.example/", "https://203.0.113.9/" + "a" * 2100, "https://localhost/", "https://0.0.0.0/",
    "https://[::]/", "https://255.255.255.255/", "https://224.0.0.1/", "https://100.64.0.1/",
    "https://[64:ff9b::7f00:1]/", "https://203.0.113.9./", "https://203.0.113.9/%00", "https://0000000000000000000000000000000000000000000000000000000000000000000177.1/",
    "https://0x" + "f" * 500 + "/", "https://1e3/", "https://[::ffff:999.1.1.1]/", "", " ", "https://", "\u0000",
]
OVERFLOW_TIMES = ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"]


@dataclass(frozen=True)
class HttpCase:
    service: str
    category: str
    label: str
    method: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    content: bytes | None = None
    streamed: bool = False  # send the body without a Content-Length, in chunks
    expect: frozenset[int] | None = None  # statuses that are right; None: any below 500


@dataclass
class HttpOutcome:
    case: HttpCase
    status: int
    body: bytes

    @property
    def wrong(self) -> str | None:
        if self.status >= 500:
            return f"{self.status} (a 5xx)"
        if self.case.expect is not None and self.status not in self.case.expect:
            return f"{self.status}, expected {sorted(self.case.expect)}"
        return None


def api_routes(app_routes: list) -> list[ApiRoute]:
    return [route for route in app_routes if isinstance(route, ApiRoute)]


def token_for(route: ApiRoute, method: str, params: dict[str, str], secret: str) -> dict[str, str]:
    """A valid token of the person a request to this route would come from: support reads
    everything, an operator manages webhooks, anyone else is the person the path names."""
    roles = route.roles
    first = next(iter(params.values()), None)
    if method == "GET" and "support" in roles:
        return bearer(secret, "support-hostile", "support")
    if "operator" in roles and "{" not in route.path:
        return bearer(secret, "operator-hostile", "operator")
    for role in ("freelancer", "client", "support", "operator"):
        if role in roles:
            subject = first if first is not None and 1 <= len(first) <= 200 else FREELANCER
            return bearer(secret, subject, role)
    raise ValueError(route.path)


def bearer(secret: str, subject: str, role: Role) -> dict[str, str]:
    return {"Authorization": f"Bearer {mint(secret, subject, role)}"}


def _fill(path: str, value: str) -> tuple[str, dict[str, str]]:
    """The route's path with every parameter set to `value` (already URL-safe or percent-encoded)."""
    names = re.findall(r"{(\w+)(?::\w+)?}", path)
    url = re.sub(r"{\w+(?::\w+)?}", lambda _: _quote(value), path)
    return url, {name: unquote(value) if "%" in value else value for name in names}


def _quote(value: str) -> str:
    return value if "%" in value else quote(value, safe="")


def valid_body(path: str, marker: str) -> dict | None:
    now = datetime.now(UTC)
    if path == "/time-entries":
        return {"entry_id": f"entry-{uuid.uuid4().hex[:12]}", "contract_id": "contract-hostile", "freelancer_id": FREELANCER,
                "started_at": (now - timedelta(hours=2)).isoformat(), "ended_at": (now - timedelta(hours=1)).isoformat(),
                "memo": f"note {marker}", "source": "tracker"}
    if path == "/webhooks":
        return {"recipient_id": "operator-hostile", "url": "https://127.0.0.1/hook"}
    return None


def _bodies(base: dict | None, marker: str, max_body: int) -> Iterator[tuple[str, str, bytes, bool]]:
    """(category, label, body, strictly 422) for a route taking `base` as its valid body."""
    text = json.dumps(base or {"memo": marker}).encode()
    yield "http_body", "not UTF-8", b'{"memo": "\xff\xfe' + marker.encode() + b'"}', True
    yield "http_body", "latin-1", json.dumps(base or {}).encode()[:-1] + b', "memo2": "caf\xe9"}', True
    yield "http_body", "nested 1,000 deep", b'{"memo": ' * 1000 + json.dumps(marker).encode() + b"}" * 1000, True
    yield "http_body", "array nested 1,000 deep", b"[" * 1000 + b"]" * 1000, True
    yield "http_body", "truncated JSON", text[: len(text) // 2], True
    yield "http_body", "empty", b"", True
    for literal in (b"null", b"[]", b'"a string"', b"1E+1100000", b"NaN", b"true"):
        yield "http_body", f"JSON {literal.decode()}", literal, True
    if base is None:
        return
    for name, value in base.items():
        for label, bad in (("1E+1100000", "1E+1100000"), ("-1E+1100000", "-1E+1100000"), ("NaN", "NaN"),
                           ("2^64", str(2**64)), ("a list", "[1, 2]"), ("an object", '{"a": {"b": {}}}'),
                           ("null", "null"), ("true", "true"), ("lone surrogate", '"\\ud800"'),
                           ("5,000 characters", json.dumps("x" * 5000)), ("NUL", '"a\\u0000b"'),
                           ("RTL override", '"\\u202eevil"')):
            body = json.dumps({**base, name: "@@"}).replace('"@@"', bad).encode()
            yield "http_body", f"{name} = {label}", body, False
    times = [json.dumps(when) for when in OVERFLOW_TIMES] + ["1764150000", '"2026-11-26T10:00:00"', '"yesterday"']
    for name in [n for n in base if n.endswith("_at")]:
        for when in times:
            body = json.dumps({**base, name: "@@"}).replace('"@@"', when).encode()
            yield "http_body", f"{name} = {when}", body, True
    yield "http_body", "duplicate keys", text[:-1] + b', "memo": "again ' + marker.encode() + b'"}', False
    yield "http_body", "unknown fields", json.dumps({**base, "extra": marker, "__proto__": {}}).encode(), False
    yield "http_body", "every field missing", b"{}", True


def cases_for(service: str, app_routes: list, secret: str, marker: str, max_body: int = 64 * 1024) -> list[HttpCase]:
    """Every hostile request for every API route of one service, plus its /health and /metrics."""
    cases: list[HttpCase] = []
    for route in api_routes(app_routes):
        for method in sorted(route.methods - {"HEAD"}):
            url, params = _fill(route.path, "hostile-1")
            auth = token_for(route, method, params, secret)
            base = valid_body(route.path, marker) if method == "POST" else None
            reads_body = base is not None

            def case(category: str, label: str, *, url: str = url, headers: dict | None = None,
                     content: bytes | None = None, streamed: bool = False, expect: set[int] | None = None,
                     route: ApiRoute = route, method: str = method, auth: dict = auth) -> HttpCase:
                return HttpCase(service, category, f"{method} {route.path}: {label}", method, url,
                                {**auth, **(headers or {})}, content, streamed,
                                frozenset(expect) if expect is not None else None)

            json_type = {"content-type": "application/json"}
            for odd in ODD_IDS:
                odd_url, odd_params = _fill(route.path, odd)
                if odd_url == url:
                    continue
                odd_auth = token_for(route, method, odd_params, secret)
                body = json.dumps(base).encode() if base else None
                too_long = len(odd_url.encode()) > 2048
                cases.append(case("http_path", f"path parameter {odd[:30]!r}", url=odd_url, auth=odd_auth,
                                  content=body, headers=json_type if body else None,
                                  expect={414} if too_long else None))
            long_path = _fill(route.path, "u" * 2100)[0] if "{" in route.path else route.path + "/" + "u" * 2100
            cases.append(case("http_url", "path over 2 KiB", url=long_path, expect={414}))
            cases.append(case("http_url", "query over 2 KiB", url=url + "?q=" + "q" * 2100, expect={414}))
            if route.path in LIMIT_ROUTES and method == "GET":
                for limit in BAD_LIMITS:
                    query = limit if "%" in limit else _quote(limit)
                    expect = {414} if len(url) + len(query) > 2040 else {400}
                    cases.append(case("http_query", f"limit={limit[:20]!r}", url=f"{url}?limit={query}", expect=expect))
                cases.append(case("http_query", "limit twice", url=f"{url}?limit=5&limit=abc"))
            cases.append(case("http_query", "odd query", url=f"{url}?%FF=%FE&a=%00&b=" + _quote("\u202e")))
            over = b'{"memo": "' + b"o" * (max_body + 1) + b'"}'
            cases.append(case("http_body", "body over the limit", content=over, headers=json_type, expect={413}))
            cases.append(case("http_body", "body over the limit, streamed", content=over, headers=json_type,
                              streamed=True, expect={413} if reads_body else None))
            cases.append(case("http_body", "body of 16 MiB", content=b"[" * (16 * 1024 * 1024), headers=json_type,
                              expect={413}))
            for name, value in (("content-type", "text/plain; charset=utf-7"), ("content-type", "application/json; charset=latin-1"),
                                ("x-junk", "j" * 8000), ("accept", "*/*;q=" + "9" * 500),
                                ("x-forwarded-for", "\u00e9\u00e8"), ("cookie", "a=" + "b" * 4000),
                                ("content-encoding", "gzip"), ("transfer-encoding", "chunked")):
                body = json.dumps(base).encode() if base else None
                cases.append(case("http_headers", f"{name}: {value[:30]}", headers={name: value}, content=body))
            for label, header in (("no token", {}), ("Basic auth", {"Authorization": "Basic YTpi"}),
                                  ("token of 10 KB", {"Authorization": "Bearer " + "a" * 10_000}),
                                  ("token alg none", {"Authorization": "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."}),
                                  ("token not base64", {"Authorization": "Bearer \u00e9\u00e9.\u00e9.\u00e9"}),
                                  ("empty bearer", {"Authorization": "Bearer "})):
                cases.append(HttpCase(service, "http_auth", f"{method} {route.path}: {label}", method, url, header,
                                      json.dumps(base).encode() if base else None, expect=frozenset({401})))
            if route.path == "/webhooks" and method == "POST":
                for target in HOSTILE_TARGETS:
                    body = json.dumps({**(base or {}), "url": target}).encode()
                    cases.append(case("http_body", f"webhook url {target[:40]!r}", content=body, headers=json_type))
            if method == "POST":
                for category, label, body, strict in _bodies(base, marker, max_body):
                    cases.append(case(category, label, content=body, headers=json_type,
                                      expect={422} if strict and route.path == "/time-entries" else None))
    for path in ("/health", "/metrics"):
        cases.append(HttpCase(service, "http_path", f"GET {path}", "GET", path, expect=frozenset({200})))
        cases.append(HttpCase(service, "http_url", f"GET {path}: over 2 KiB", "GET", path + "?" + "x" * 2100,
                              expect=frozenset({414})))
    cases.append(HttpCase(service, "http_path", "unknown route", "GET", "/" + _quote("\u202e") + "/%FF",
                          expect=frozenset({404})))
    return cases


async def send_all(app: Starlette, cases: list[HttpCase]) -> list[HttpOutcome]:
    """Every case through the app in this process (no port), in order."""
    outcomes = []
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://service", timeout=30) as http:
        for case in cases:
            content = _chunks(case.content) if case.streamed and case.content is not None else case.content
            headers = {name: value.encode() for name, value in case.headers.items()}  # not only ASCII
            request = http.build_request(case.method, case.url, headers=headers, content=content)
            response = await http.send(request)
            outcomes.append(HttpOutcome(case, response.status_code, response.content[:500]))
    return outcomes


async def _chunks(content: bytes, size: int = 16 * 1024) -> AsyncIterator[bytes]:
    for start in range(0, len(content), size):
        yield content[start:start + size]
