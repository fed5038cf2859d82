"""Where a webhook may be sent: https targets on the public internet, never this machine, the
private network or a cloud's metadata service (DESIGN, "HTTP APIs: who may call them").

A target is checked by what its host resolves to, so every notation of an address is caught
(`127.1`, `0x7f000001`, `2130706433`, `[::ffff:127.0.0.1]`, a name that resolves to 10.0.0.5).
The check runs when a subscription is made and again before every delivery, which then connects
to the address it checked (a name that resolved publicly once may resolve to 127.0.0.1 later).
`WEBHOOKS_ALLOW_PRIVATE=true` lets plain http and private or loopback targets through, for local
development and tests; metadata, multicast and unspecified addresses stay refused even then.
"""

import asyncio
import ipaddress
import re
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

MAX_URL_CHARS = 2048
RESOLVE_TIMEOUT_SECONDS = 5.0

# Cloud instance metadata and their DNS: AWS, GCP, Azure, OpenStack (169.254.169.254 and IPv6
# fd00:ec2::254), AWS ECS task metadata, AWS DNS, Alibaba Cloud, Oracle Cloud Classic.
METADATA_ADDRESSES = frozenset(ipaddress.ip_address(a) for a in (
    "169.254.169.254", "169.254.170.2", "169.254.169.253", "169.254.169.123",
    "fd00:ec2::254", "fd00:ec2::253", "fd00:ec2::123",
    "100.100.100.200", "192.0.0.192",
))
SHARED_ADDRESS_SPACE = ipaddress.ip_network("100.64.0.0/10")  # carrier-grade NAT
NAT64 = ipaddress.ip_network("64:ff9b::/96")

# Resolves a host name to the addresses a connection could reach.
Resolver = Callable[[str, int], Awaitable[list[str]]]


class TargetRefused(ValueError):
    """A webhook target that may not be used; the message says why, for the subscriber."""


async def resolve_host(host: str, port: int) -> list[str]:
    """The system resolver, in a worker thread (asyncio runs getaddrinfo off the event loop)."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [info[4][0] for info in infos]


@dataclass(frozen=True)
class Target:
    """A checked target: the URL as subscribed and the address to connect to, nothing else."""

    url: httpx.URL
    address: IPAddress

    @property
    def pinned_url(self) -> httpx.URL:
        return self.url.copy_with(host=str(self.address))

    @property
    def headers(self) -> dict[str, str]:
        return {"Host": self.url.netloc.decode("ascii")}

    @property
    def extensions(self) -> dict[str, str]:
        """TLS is verified against the subscribed name, though we connect to its address."""
        if self.url.scheme == "https" and numeric_host(self.url.raw_host.decode("ascii")) is None:
            return {"sni_hostname": self.url.raw_host.decode("ascii")}
        return {}


class Targets:
    def __init__(
        self, *, allow_private: bool = False, resolve: Resolver = resolve_host,
        resolve_timeout: float = RESOLVE_TIMEOUT_SECONDS,
    ) -> None:
        self.allow_private = allow_private
        self._resolve = resolve
        self._resolve_timeout = resolve_timeout

    def parse(self, url: str) -> httpx.URL:
        """The URL, if its form is acceptable (scheme, length, no credentials); the host is checked later."""
        if len(url) > MAX_URL_CHARS:
            raise TargetRefused(f"the URL is longer than {MAX_URL_CHARS} characters")
        if not url.isascii() or any(character.isspace() or ord(character) < 32 for character in url):
            raise TargetRefused("the URL must be ASCII without spaces or control characters (punycode a name)")
        try:
            parsed = httpx.URL(url)
        except (httpx.InvalidURL, ValueError) as error:
            raise TargetRefused(f"not a usable URL: {error}") from None
        schemes = ("https", "http") if self.allow_private else ("https",)
        if parsed.scheme not in schemes:
            raise TargetRefused("webhook targets must use https")
        if parsed.userinfo:
            raise TargetRefused("webhook URLs may not carry credentials (user:password@)")
        if not parsed.raw_host:
            raise TargetRefused("the URL has no host")
        if parsed.fragment:
            raise TargetRefused("the URL may not have a fragment")
        return parsed

    async def check(self, url: str) -> Target:
        """The target to deliver to, once the host and every address it resolves to are allowed."""
        parsed = self.parse(url)
        host = parsed.raw_host.decode("ascii").lower()
        addresses = await self._addresses(host, parsed.port or (443 if parsed.scheme == "https" else 80))
        for address in addresses:
            reason = refusal(address, allow_private=self.allow_private)
            if reason:
                shown = host if str(address) == host else f"{host} ({address})"
                raise TargetRefused(f"{shown} is {reason}; webhook targets must be public internet addresses")
        return Target(parsed, addresses[0])

    async def _addresses(self, host: str, port: int) -> list[IPAddress]:
        literal = numeric_host(host)
        if literal is not None:
            return [literal]
        try:
            async with asyncio.timeout(self._resolve_timeout):
                resolved = await self._resolve(host.rstrip("."), port)
        except (OSError, TimeoutError, UnicodeError):
            raise TargetRefused(f"{host} does not resolve") from None
        addresses = [ipaddress.ip_address(address.partition("%")[0]) for address in resolved]
        if not addresses:
            raise TargetRefused(f"{host} does not resolve")
        return addresses


_IPV4_PART = re.compile(r"0x[0-9a-f]*|0[0-7]*|[1-9][0-9]*")
_NUMERIC_LABEL = re.compile(r"0x[0-9a-f]*|[0-9]+")


def numeric_host(host: str) -> IPAddress | None:
    """The address a host written as a number stands for, in any notation the C library accepts
    (`127.1`, `0177.0.0.1`, `0x7f000001`, `2130706433`, `::ffff:127.0.0.1`); None for a name.
    A host whose last label is a number but is not a valid address is refused outright."""
    host = host.lower().strip("[]")
    if ":" in host:
        try:
            return ipaddress.IPv6Address(host.partition("%")[0])
        except ValueError:
            raise TargetRefused(f"{host} is not a valid IPv6 address") from None
    labels = host.removesuffix(".").split(".")
    if not _NUMERIC_LABEL.fullmatch(labels[-1]):
        return None
    if len(labels) > 4 or not all(_IPV4_PART.fullmatch(label) for label in labels):
        raise TargetRefused(f"{host} is not a valid address")
    numbers = [_ipv4_number(label) for label in labels]
    # a.b.c.d; a.b.(16 bits); a.(24 bits); (32 bits), as inet_aton reads them
    *leading, last = numbers
    if any(number > 255 for number in leading) or last >= 256 ** (4 - len(leading)):
        raise TargetRefused(f"{host} is not a valid address")
    value = last
    for index, number in enumerate(leading):
        value += number << (8 * (3 - index))
    return ipaddress.IPv4Address(value)


def _ipv4_number(label: str) -> int:
    if label.startswith("0x"):
        if label == "0x":
            raise TargetRefused(f"{label} is not a number")
        return int(label, 16)
    return int(label, 8) if label.startswith("0") else int(label)


def refusal(address: IPAddress, *, allow_private: bool = False) -> str | None:
    """Why a webhook may not be sent to this address, or None. IPv6 forms that carry an IPv4
    address (mapped, NAT64, 6to4, Teredo) are judged by that address too."""
    for inner in _embedded(address):
        reason = refusal(inner, allow_private=allow_private)
        if reason:
            return reason
    if address in METADATA_ADDRESSES:
        return "a cloud metadata address"
    if address.is_unspecified:
        return "the unspecified address"
    if address.is_multicast:
        return "a multicast address"
    if allow_private:
        return None
    if address.is_loopback:
        return "a loopback address"
    if address.is_reserved:
        return "a reserved address"
    if address.is_link_local:
        return "a link-local address"
    if address in SHARED_ADDRESS_SPACE:
        return "a shared (carrier-grade NAT) address"
    if address.is_private:
        return "a private address"
    if not address.is_global:
        return "not a public address"
    return None


def _embedded(address: IPAddress) -> list[ipaddress.IPv4Address]:
    if not isinstance(address, ipaddress.IPv6Address):
        return []
    inner = [address.ipv4_mapped, address.sixtofour, address.teredo[1] if address.teredo else None]
    if address in NAT64:
        inner.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return [candidate for candidate in inner if candidate is not None]
