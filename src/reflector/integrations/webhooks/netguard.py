"""Keeping webhooks out of the server's own network (server-side request forgery).

A webhook URL is chosen by a user but requested by the server, from inside the network: left
alone it could reach the cloud's metadata service (169.254.169.254), an admin page on
localhost or a database on the LAN. So, unless private networks are allowed:

* a URL whose host is, or resolves to, a non-public address is refused when it is registered
  (:func:`check_url`, a 422 problem that names the address and its range);
* when sending, :class:`PinnedTransport` resolves the host again, checks every address, and
  connects to the checked address itself (TLS still verifies the certificate against the
  name): a DNS answer that changes between check and use (DNS rebinding) gains nothing;
* redirects are never followed (the sender makes its client with ``follow_redirects=False``).

IPv6 addresses that carry an IPv4 one (IPv4-mapped, IPv4-compatible, NAT64, 6to4, Teredo) are
judged by the IPv4 address inside.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Sequence

import httpx

from reflector.errors import BadInputError

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Awaitable[list[str]]]
"""``(host, port) → addresses``; the default asks the system's resolver."""

_BLOCKED: tuple[tuple[str, str], ...] = (
    ("0.0.0.0/8", "this network"),
    ("10.0.0.0/8", "private"),
    ("100.64.0.0/10", "shared address space (CGNAT)"),
    ("127.0.0.0/8", "loopback"),
    ("169.254.0.0/16", "link-local (cloud metadata)"),
    ("172.16.0.0/12", "private"),
    ("192.0.0.0/24", "IETF protocol assignments"),
    ("192.0.2.0/24", "documentation"),
    ("192.168.0.0/16", "private"),
    ("198.18.0.0/15", "benchmarking"),
    ("198.51.100.0/24", "documentation"),
    ("203.0.113.0/24", "documentation"),
    ("224.0.0.0/4", "multicast"),
    ("240.0.0.0/4", "reserved"),
    ("::/128", "unspecified"),
    ("::1/128", "loopback"),
    ("100::/64", "discard"),
    ("2001:db8::/32", "documentation"),
    ("fc00::/7", "unique local (private)"),
    ("fe80::/10", "link-local"),
    ("fec0::/10", "site-local"),
    ("ff00::/8", "multicast"),
)
_NETWORKS = tuple((ipaddress.ip_network(net), why) for net, why in _BLOCKED)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")


class UnsafeWebhookUrl(BadInputError):
    """The URL is not one this server may call; the message says why."""

    status = 422
    problem_type = "unsafe-webhook-url"


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in _NAT64 or (address in _IPV4_COMPATIBLE and int(address) > 1):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def blocked_reason(address: Address) -> str | None:
    """Why ``address`` may not be called (``"loopback"``, ``"private"`` …), or ``None`` if it
    is a public address."""
    if isinstance(address, ipaddress.IPv6Address):
        inner = _embedded_ipv4(address)
        if inner is not None:
            reason = blocked_reason(inner)
            return f"{reason}, inside an IPv6 address" if reason else None
    for network, why in _NETWORKS:
        if address.version == network.version and address in network:
            return f"{why}, {network}"
    if not address.is_global:
        return "not a public address"
    return None


async def system_resolver(host: str, port: int) -> list[str]:
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]).split("%")[0] for info in infos]


def ip_literal(host: str) -> Address | None:
    """``host`` as an IP address when it is one (``[::1]`` too), else ``None``."""
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


async def host_addresses(
    host: str, port: int, resolver: Resolver = system_resolver
) -> list[Address]:
    """Where a connection to ``host`` may go: the address itself for an IP literal, else what
    ``resolver`` answers (possibly nothing; its ``OSError`` passes through). Both guards (the
    webhooks' and :mod:`reflector.integrations.outbound`) judge these same addresses."""
    literal = ip_literal(host)
    if literal is not None:
        return [literal]
    return [ipaddress.ip_address(a) for a in await resolver(host, port)]


def first_blocked(addresses: Sequence[Address]) -> tuple[Address, str] | None:
    """The first of ``addresses`` that may not be called and :func:`blocked_reason`'s why;
    ``None`` when all are public. One such address is enough to refuse the host: the system
    may connect to any of them."""
    for address in addresses:
        reason = blocked_reason(address)
        if reason is not None:
            return address, reason
    return None


async def resolve_checked(
    host: str, port: int, allow_private: bool, resolver: Resolver = system_resolver
) -> str:
    """The address to connect to for ``host``: every address it has must be public unless
    ``allow_private``. Raises :class:`UnsafeWebhookUrl` (or ``OSError`` when the name does
    not resolve)."""
    addresses = await host_addresses(host, port, resolver)
    if not addresses:
        raise OSError(f"{host} has no address")
    blocked = None if allow_private else first_blocked(addresses)
    if blocked is not None:
        address, reason = blocked
        raise UnsafeWebhookUrl(
            f"{host} is at {address} ({reason}): webhooks may only call public "
            "addresses (REFLECTOR_WEBHOOK_ALLOW_PRIVATE_NETWORKS allows others)"
        )
    return str(addresses[0])


def parse_url(url: str) -> httpx.URL:
    """``url`` if it is an absolute ``http``/``https`` URL with a host; raises
    :class:`UnsafeWebhookUrl` otherwise."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, ValueError) as exc:
        raise UnsafeWebhookUrl(f"not a valid URL: {exc}") from exc
    if parsed.scheme not in ("http", "https"):
        raise UnsafeWebhookUrl("webhook URLs must start with http:// or https://")
    if not parsed.host:
        raise UnsafeWebhookUrl("the URL has no host name")
    return parsed


def default_port(url: httpx.URL) -> int:
    return url.port or (443 if url.scheme == "https" else 80)


def ascii_host(url: httpx.URL) -> str:
    """The host as DNS and TLS see it (an international name in its ``xn--`` form)."""
    return url.raw_host.decode("ascii")


async def check_url(url: str, allow_private: bool, resolver: Resolver = system_resolver) -> None:
    """Refuse, at registration, a URL that is not ``http``/``https`` or whose host is (or
    resolves to) a non-public address; a name that does not resolve is refused too."""
    parsed = parse_url(url)
    if allow_private:
        return
    try:
        await resolve_checked(ascii_host(parsed), default_port(parsed), False, resolver)
    except (OSError, UnicodeError) as exc:
        raise UnsafeWebhookUrl(f"the host name {parsed.host!r} could not be resolved") from exc


class PinnedTransport(httpx.AsyncBaseTransport):
    """An HTTP transport that connects only to checked addresses: each request's host is
    resolved here, checked, and the connection goes to that very address (the ``Host``
    header and TLS server name stay the original name).

    Connections are not kept alive: a pooled connection is keyed by address, and reusing one
    opened for another name behind the same address would send the wrong TLS name.
    """

    def __init__(self, allow_private: bool, resolver: Resolver = system_resolver) -> None:
        self.allow_private = allow_private
        self.resolver = resolver
        self._inner = httpx.AsyncHTTPTransport(
            retries=0, limits=httpx.Limits(max_keepalive_connections=0)
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        host = ascii_host(url)
        try:
            address = await resolve_checked(
                host, default_port(url), self.allow_private, self.resolver
            )
        except (OSError, UnicodeError) as exc:
            raise httpx.ConnectError(f"{host} could not be resolved", request=request) from exc
        request.url = url.copy_with(host=address)
        if url.scheme == "https":
            request.extensions = {**request.extensions, "sni_hostname": host}
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()
