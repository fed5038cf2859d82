"""The shared HTTP border: size limits, strict JSON bodies, and a 500 that never logs the body."""

import httpx
import pytest
import structlog
from pydantic import BaseModel
from sqlalchemy.exc import OperationalError
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from shared.http import api_app, json_body, query_int


class Entry(BaseModel):
    minutes: int


async def echo(request: Request) -> JSONResponse:
    entry = await json_body(request, Entry)
    return JSONResponse({"minutes": entry.minutes, "limit": query_int(request, "limit", 10, 1, 500)})


async def explode(request: Request) -> JSONResponse:
    raise RuntimeError(f"choked on {(await request.body()).decode()}")


@pytest.fixture
async def http():
    app = api_app([Route("/echo", echo, methods=["POST"]), Route("/explode", explode, methods=["POST"])],
                  verifier=None, max_body_bytes=2048)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        yield client


@pytest.mark.parametrize(("body", "status"), [
    (b'{"minutes": 3}', 200),
    (b'{"minutes": "3"}', 422),
    (b'{"minutes": true}', 422),
    (b'{"minutes": 3, "x": "\xff"}', 422),
    (b"[" * 1000 + b"]" * 1000, 422),
    (b"not json", 422),
    (b'{"minutes": ' + b"9" * 3000 + b"}", 413),
])
async def test_bodies(http, body, status):
    response = await http.post("/echo", content=body)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"


@pytest.mark.parametrize(("query", "status"), [("limit=5", 200), ("limit=²", 400), ("limit=0", 400),
                                               ("limit=99999999999999999999", 400), ("limit=-1", 400)])
async def test_query_numbers(http, query, status):
    assert (await http.post(f"/echo?{query}", content=b'{"minutes": 1}')).status_code == status


async def test_a_url_past_the_limit_is_414(http):
    assert (await http.post("/echo?pad=" + "x" * 3000, content=b'{"minutes": 1}')).status_code == 414


async def test_a_chunked_body_past_the_limit_is_413_too(http):
    async def chunks():
        for _ in range(10):
            yield b"x" * 1000

    assert (await http.post("/echo", content=chunks())).status_code == 413


async def test_a_failure_is_a_500_whose_log_line_carries_no_body(http):
    with structlog.testing.capture_logs() as lines:
        response = await http.post("/explode", content=b'{"card": "4242-SECRET"}')
    assert response.status_code == 500 and response.json() == {"error": "internal_error"}
    (line,) = [line for line in lines if line["event"] == "http request failed"]
    assert line["error_type"] == "RuntimeError" and "4242-SECRET" not in repr(line)


async def test_a_store_away_or_busy_is_a_503_to_retry_not_a_500():
    async def store_locked(_request: Request) -> JSONResponse:
        raise OperationalError("INSERT INTO time_entries ...", {}, Exception("database is locked"))

    app = api_app([Route("/submit", store_locked, methods=["POST"])], verifier=None, max_body_bytes=2048)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        response = await client.post("/submit", content=b"{}")
    assert response.status_code == 503 and response.json()["error"] == "unavailable"
    assert response.headers["retry-after"] == "1"
