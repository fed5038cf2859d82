"""Every route of every service against hostile requests (issue 9): oversized, non-UTF-8, deeply
nested and overflowing bodies, odd unicode and over-long path parameters, bad query parameters,
hostile headers and tokens (benchmarks.hostile_http). Each carries a valid token for the right
person, so the input is what is judged. None may be answered with a 5xx, the cases the design
names get exactly their status (413, 414, 422, 400, 401), and no log line carries a request body.
"""

import logging
import uuid

import pytest
from structlog.testing import capture_logs

from benchmarks.hostile_http import cases_for, send_all
from shared import http as shared_http
from tests.integration.hostile.conftest import APPS

MARKER = f"HOSTILE-BODY-{uuid.uuid4().hex}"


@pytest.mark.parametrize("name", list(APPS))
async def test_no_hostile_request_gets_a_5xx_nor_puts_its_body_in_a_log(four_services, name, capfd, caplog):
    service = four_services[name]
    caplog.set_level(logging.DEBUG)
    secret = service.settings.auth_jwt_secret.get_secret_value()
    cases = cases_for(name, service.routes, secret, MARKER, service.settings.http_max_body_bytes)
    probe = f"capture-probe-{uuid.uuid4().hex}"
    with capture_logs() as captured:
        outcomes = await send_all(service.http_app(), cases)
        shared_http.log.warning("hostile capture probe", probe=probe)  # the border's own logger
        logging.getLogger("uvicorn.error").warning("hostile capture probe %s", probe)
    out, err = capfd.readouterr()
    logged = "\n".join([out, err, caplog.text, *(repr(record.__dict__) for record in caplog.records),
                        *(repr(entry) for entry in captured)])

    wrong = [outcome for outcome in outcomes if outcome.wrong]
    assert not wrong, f"{len(wrong)} of {len(outcomes)} requests answered wrongly:\n" + "\n".join(
        f"  {o.case.label}: {o.wrong} {o.body[:200]!r}" for o in wrong[:40])
    assert probe in logged, "the log capture saw nothing: the check below would prove nothing"
    assert MARKER not in logged, "a log line carries a request body: " + next(
        line[:500] for line in logged.splitlines() if MARKER in line)
    assert len(outcomes) > 50


async def test_the_design_statuses_on_time_entries(four_services):
    """The statuses the design names, on the route that takes a body from every tracker app."""
    service = four_services["time-tracking"]
    secret = service.settings.auth_jwt_secret.get_secret_value()
    cases = {case.label: case for case in cases_for("time-tracking", service.routes, secret, MARKER)}
    named = {
        "POST /time-entries: body over the limit": 413,
        "POST /time-entries: body over the limit, streamed": 413,
        "POST /time-entries: not UTF-8": 422,
        "POST /time-entries: nested 1,000 deep": 422,
        "POST /time-entries: started_at = \"0001-01-01T00:00:00+01:00\"": 422,
        "POST /time-entries: ended_at = \"9999-12-31T23:59:59-01:00\"": 422,
        "POST /time-entries: path over 2 KiB": 414,
    }
    outcomes = await send_all(service.http_app(), [cases[label] for label in named])
    assert {o.case.label: o.status for o in outcomes} == named
    notification = four_services["notification"]
    secret = notification.settings.auth_jwt_secret.get_secret_value()
    limit = [case for case in cases_for("notification", notification.routes, secret, MARKER)
             if case.label == "GET /recipients/{recipient_id}/notifications: limit='²'"]
    assert [o.status for o in await send_all(notification.http_app(), limit)] == [400]


RAW_REQUESTS = {
    "path bytes not UTF-8": b"GET /clients/\xff\xfe/billing-problems HTTP/1.1\r\nHost: a\r\n{auth}\r\n",
    "path percent-escapes not UTF-8": b"GET /clients/%ff%fe%00/billing-problems HTTP/1.1\r\nHost: a\r\n{auth}\r\n",
    "request line over 2 KiB": b"GET /clients/" + b"c" * 3000 + b"/billing-problems HTTP/1.1\r\nHost: a\r\n{auth}\r\n",
    "request line over 64 KiB": b"GET /clients/" + b"c" * 70_000 + b"/billing-problems HTTP/1.1\r\nHost: a\r\n\r\n",
    "header value not ASCII": b"GET /clients/c1/billing-problems HTTP/1.1\r\nHost: a\r\nX-Note: \xff\xfe\r\n{auth}\r\n",
    "header name not a token": b"GET /health HTTP/1.1\r\nHost: a\r\nX Bad\xff: 1\r\n\r\n",
    "Content-Length that lies": b"POST /clients/c1/billing-problems HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n{auth}\r\n"
                                + b"x" * 500,
    "Content-Length of 20 digits": b"POST /clients/c1/billing-problems HTTP/1.1\r\nHost: a\r\n"
                                   b"Content-Length: 99999999999999999999\r\n{auth}\r\n",
    "Content-Length negative": b"GET /health HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n",
    "two Content-Lengths": b"GET /health HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
    "broken chunked body": b"POST /clients/c1/billing-problems HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
                           b"{auth}\r\nzz\r\nnot hex\r\n",
    "chunked body over the limit": b"POST /clients/c1/billing-problems HTTP/1.1\r\nHost: a\r\n"
                                   b"Transfer-Encoding: chunked\r\n{auth}\r\n" + (b"4000\r\n" + b"b" * 0x4000 + b"\r\n") * 5
                                   + b"0\r\n\r\n",
    "HTTP/9.9": b"GET /health HTTP/9.9\r\nHost: a\r\n\r\n",
    "a TLS hello on the plain port": b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 64,
    "absolute URI": b"GET http://evil.example/clients/c1/billing-problems HTTP/1.1\r\nHost: a\r\n{auth}\r\n",
    "method not known": b"BREW /health HTTP/1.1\r\nHost: a\r\n\r\n",
}


async def test_the_real_server_never_answers_a_malformed_request_with_a_5xx(four_services, unused_tcp_port):
    """Byte-level requests no HTTP client would send, to uvicorn serving the app as the service does."""
    import asyncio

    import uvicorn

    from shared.auth import mint

    service = four_services["billing-monitor"]
    secret = service.settings.auth_jwt_secret.get_secret_value()
    auth = f"Authorization: Bearer {mint(secret, 'support-1', 'support')}\r\n".encode()
    server = uvicorn.Server(uvicorn.Config(service.http_app(), host="127.0.0.1", port=unused_tcp_port,
                                           log_config=None, access_log=False))
    serving = asyncio.create_task(server.serve())
    try:
        while not server.started:
            assert not serving.done(), serving.result()
            await asyncio.sleep(0.01)
        answers = {}
        for label, raw in RAW_REQUESTS.items():
            reader, writer = await asyncio.open_connection("127.0.0.1", unused_tcp_port)
            writer.write(raw.replace(b"{auth}", auth))
            await writer.drain()
            try:
                head = await asyncio.wait_for(reader.read(200), 5)
            except TimeoutError:
                head = b""
            writer.close()
            answers[label] = head.split(b"\r\n", 1)[0].decode("latin-1")
        reader, writer = await asyncio.open_connection("127.0.0.1", unused_tcp_port)
        writer.write(b"GET /health HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        health = (await asyncio.wait_for(reader.read(200), 5)).split(b"\r\n", 1)[0]
        writer.close()
    finally:
        server.should_exit = True
        await serving
    five_hundreds = {label: line for label, line in answers.items() if line[9:10] == "5"}
    assert five_hundreds == {}, answers
    assert answers["request line over 2 KiB"].startswith("HTTP/1.1 414"), answers
    assert health == b"HTTP/1.1 200 OK"
