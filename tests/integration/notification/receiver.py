"""A real HTTP server on a free local port that records webhook calls and answers as a test scripts it
(over TLS with a throwaway certificate when asked; a 3xx answer points elsewhere, for redirect tests)."""

import asyncio
import ssl
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


REDIRECTED = "/redirected"


@dataclass
class WebhookReceiver:
    port: int = 0
    scheme: str = "http"
    calls: list[Call] = field(default_factory=list)

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"{self.scheme}://{host}:{self.port}{path}"

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
async def receiving(script: Script, tls: ssl.SSLContext | None = None) -> AsyncIterator[WebhookReceiver]:
    receiver = WebhookReceiver(scheme="https" if tls else "http")

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
            location = f"Location: {REDIRECTED}\r\n" if 300 <= status < 400 else ""
            writer.write(f"HTTP/1.1 {status} X\r\n{location}Content-Length: 0\r\nConnection: close\r\n\r\n".encode())
            await writer.drain()
        except (ConnectionError, ssl.SSLError, asyncio.IncompleteReadError):
            pass  # a client that gave up (or refused our certificate) is not a call
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0, ssl=tls)
    receiver.port = server.sockets[0].getsockname()[1]
    try:
        yield receiver
    finally:
        server.close()
        await server.wait_closed()


@dataclass(frozen=True)
class ThrowawayTls:
    """A CA made for one test and a certificate it signed for `name`: the server's and the client's contexts."""

    server: ssl.SSLContext
    client: ssl.SSLContext


def throwaway_tls(name: str, directory) -> ThrowawayTls:
    from datetime import UTC, datetime, timedelta

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.now(UTC)

    def certificate(subject: str, key, issuer: str, issuer_key, ca: bool) -> x509.Certificate:
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(hours=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if ca:
            builder = builder.add_extension(x509.KeyUsage(
                digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                key_encipherment=False, data_encipherment=False, key_agreement=False, encipher_only=False,
                decipher_only=False), critical=True)
        else:
            builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        return builder.sign(issuer_key, hashes.SHA256())

    ca_key, leaf_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = certificate("throwaway test CA", ca_key, "throwaway test CA", ca_key, ca=True)
    leaf = certificate(name, leaf_key, "throwaway test CA", ca_key, ca=False)
    pem = serialization.Encoding.PEM
    (directory / "leaf.pem").write_bytes(leaf.public_bytes(pem))
    (directory / "leaf.key").write_bytes(leaf_key.private_bytes(
        pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(directory / "leaf.pem", directory / "leaf.key")
    client = ssl.create_default_context(cadata=ca.public_bytes(pem).decode())
    return ThrowawayTls(server, client)
