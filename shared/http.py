"""The HTTP border every service shares: size limits, strict JSON bodies, short JSON errors, no 5xx
for any input, and logs that never carry a request body.

Bad input is a 4xx: a body over the limit 413; a body that is not UTF-8 JSON, nests too deep, or
breaks the schema 422; a bad query parameter 400; auth answers 401/403/404 (shared.auth). A store
that is away or busy is a 503 with `Retry-After`: the same request a moment later goes through.
"""

import traceback
from collections.abc import Sequence
from typing import Any, TypeVar

from pydantic import BaseModel, TypeAdapter, ValidationError
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.auth import Refused, TokenVerifier
from shared.events.decoding import describe
from shared.logs import get_logger
from shared.store import transient

log = get_logger(__name__)

M = TypeVar("M", bound=BaseModel)
MAX_URL_CHARS = 2048
RETRY_AFTER_SECONDS = 1


def problem(status_code: int, code: str, detail: str | None = None) -> JSONResponse:
    body = {"error": code} if detail is None else {"error": code, "detail": detail}
    return JSONResponse(body, status_code=status_code)


def api_app(routes: Sequence[BaseRoute], verifier: TokenVerifier | None, max_body_bytes: int) -> Starlette:
    """A service's HTTP app: its routes behind the border."""
    app = Starlette(
        routes=list(routes),
        exception_handlers={HTTPException: _http_exception},
        middleware=[],
    )
    app.state.token_verifier = verifier
    app.add_middleware(Border, max_body_bytes=max_body_bytes)
    return app


async def json_body(request: Request, model: type[M] | TypeAdapter) -> Any:
    """The body as `model`, strictly: no coercion of strings to numbers, of numbers to times."""
    body = await request.body()
    try:
        if isinstance(model, TypeAdapter):
            return model.validate_json(body, strict=True)
        return model.model_validate_json(body, strict=True)
    except ValidationError as error:
        raise HTTPException(422, describe(error)) from None


def query_int(request: Request, name: str, default: int, lowest: int, highest: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 9 and lowest <= int(raw) <= highest):
        raise HTTPException(400, f"{name} must be an integer from {lowest} to {highest}")
    return int(raw)


async def _http_exception(_request: Request, error: Exception) -> Response:
    assert isinstance(error, HTTPException)
    code = error.code if isinstance(error, Refused) else _CODES.get(error.status_code, "bad_request")
    response = problem(error.status_code, code, error.detail)
    if error.headers:
        response.headers.update(error.headers)
    return response


_CODES = {400: "bad_request", 404: "not_found", 405: "method_not_allowed", 413: "too_large", 422: "invalid"}


class _BodyTooLarge(Exception):
    pass


class Border:
    """ASGI middleware: refuse oversized bodies and URLs, and turn any failure into a logged 500
    (503 when the store is away or busy) that carries the path and the error type, never the body."""

    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if len(scope.get("raw_path") or b"") + len(scope.get("query_string") or b"") > MAX_URL_CHARS:
            await problem(414, "uri_too_long")(scope, receive, send)
            return
        if self._declared_length(scope) > self.max_body_bytes:
            await problem(413, "too_large", f"bodies are limited to {self.max_body_bytes} bytes")(scope, receive, send)
            return
        started = False
        received = 0

        async def counted_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    raise _BodyTooLarge
            return message

        async def watched_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted_receive, watched_send)
        except _BodyTooLarge:
            if not started:
                await problem(413, "too_large", f"bodies are limited to {self.max_body_bytes} bytes")(scope, receive, send)
        except Exception as error:
            answer = _failure(scope, error)
            if not started:
                await answer(scope, receive, send)

    @staticmethod
    def _declared_length(scope: Scope) -> int:
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                return int(value) if value.isdigit() else 0
        return 0


def _failure(scope: Scope, error: Exception) -> Response:
    """Log a request that failed (its path and the error's type, never its body) and say what to answer."""
    where = {"path": scope.get("path", "")[:200], "method": scope.get("method"), "error_type": type(error).__name__}
    if transient(error):
        log.warning("store unavailable; answered 503", **where)
        unavailable = problem(503, "unavailable", "the store is busy or away; try again shortly")
        unavailable.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return unavailable
    # The frames, not the message: an exception's text may quote the body it choked on.
    log.error("http request failed", **where, frames=traceback.format_tb(error.__traceback__)[-8:])
    return problem(500, "internal_error")
