"""A real HTTP server on a free local port that records webhook calls and answers as a test scripts it."""

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Call:
    path: str
    headers: dict[str, str]  # lower-case names
    body: bytes
    status: int  # what the receiver answered


# Given the path and how many calls that path had before this one, the status to answer.
Script = Callable[[str, int], int]


@dataclass
class WebhookReceiver:
    port: int = 0
    calls: list[Call] = field(default_factory=list)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def calls_to(self, path: str) -> list[Call]:
        return [call for call in self.calls if call.path == path]

    async def wait_for(self, path: str, count: int, timeout: float = 30) -> list[Call]:
        deadline = time.monotonic() + timeout
        while len(calls := self.calls_to(path)) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"expected {count} calls to {path} within {timeout}s, saw {len(calls)}")
            await asyncio.sleep(0.05)
        return calls


@asynccontextmanager
async def receiving(script: Script) -> AsyncIterator[WebhookReceiver]:
    receiver = WebhookReceiver()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request_line = (await reader.readline()).decode()
            headers: dict[str, str] = {}
            while (line := (await reader.readline()).decode().strip()):
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            path = request_line.split(" ")[1]
            status = script(path, len(receiver.calls_to(path)))
            receiver.calls.append(Call(path, headers, body, status))
            writer.write(f"HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".encode())
            await writer.drain()
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    receiver.port = server.sockets[0].getsockname()[1]
    try:
        yield receiver
    finally:
        server.close()
        await server.wait_closed()
