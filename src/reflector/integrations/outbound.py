"""Fetching a URL that a user typed (a room's calendar) without letting it reach inside.

A URL given by a user is fetched by the server, from inside the network: without care it could
read the cloud's metadata service, an admin page on localhost or a database on the LAN (server
side request forgery). So, unless private networks are allowed:

* the host name is resolved here and every address it has must be public (not loopback,
  private, link-local, shared, multicast or reserved: the same ranges as the webhooks' guard,
  :mod:`reflector.integrations.webhooks.netguard`), and the connection goes to the very
  address that was checked (the name is not resolved a second time, so a DNS answer that
  changes between check and use gains nothing; TLS still checks the certificate against the
  name);
* redirects are followed here, a few at most, each target checked the same way;
* only ``http`` and ``https`` are fetched (``webcal`` is read as ``https``), the body is read up
  to a size limit, and the whole exchange has a timeout.

Every failure is an :class:`OutboundError` whose message says what went wrong in words.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field

import httpx

from reflector.errors import BadInputError
from reflector.integrations.webhooks.netguard import (
    default_port,
    first_blocked,
    host_addresses,
    ip_literal,
    system_resolver,
)

MAX_REDIRECTS = 5


class OutboundError(BadInputError):
    """A user-given URL could not be fetched; the message says why, for people."""

    status = 422
    problem_type = "url-unreachable"


class BlockedAddressError(OutboundError):
    """The URL leads to an address inside the network, which is not fetched."""

    problem_type = "url-not-allowed"


@dataclass(frozen=True)
class FetchLimits:
    allow_private: bool = False
    """Let the URL reach loopback, private and link-local addresses (a LAN server, tests)."""
    timeout: float = 15.0
    max_bytes: int = 5 * 1024 * 1024


@dataclass(frozen=True)
class FetchResult:
    status: int
    """200, or 304 when the conditional headers matched (``body`` is then empty)."""
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)
    url: str = ""
    """Where the body came from, after redirects."""


def normalise_url(url: str) -> str:
    """``url`` with ``webcal://`` read as ``https://``; raises :class:`OutboundError` for any
    other scheme than ``http``/``https`` or a URL without a host."""
    text = url.strip()
    if text.lower().startswith("webcal://"):
        text = "https://" + text[len("webcal://") :]
    try:
        parsed = httpx.URL(text)
    except (httpx.InvalidURL, ValueError) as exc:
        raise OutboundError(f"{url!r} is not a valid URL: {exc}") from exc
    if parsed.scheme not in ("http", "https"):
        raise OutboundError(f"{url!r} is not an http or https URL")
    if not parsed.host:
        raise OutboundError(f"{url!r} has no host name")
    return str(parsed)


async def resolve(host: str, port: int, allow_private: bool) -> str:
    """The address to connect to for ``host``: every address it resolves to must be public
    unless ``allow_private`` (the ranges are the webhooks' guard's); raises
    :class:`OutboundError` in words otherwise."""
    try:
        addresses = await host_addresses(host, port, system_resolver)
    except (OSError, UnicodeError) as exc:
        raise OutboundError(f"the host name {host!r} could not be resolved") from exc
    if not addresses:
        raise OutboundError(f"the host name {host!r} has no address")
    blocked = None if allow_private else first_blocked(addresses)
    if blocked is not None:
        address, reason = blocked
        where = host if ip_literal(host) is not None else f"{host} is at {address}, which"
        raise BlockedAddressError(
            f"{where} is inside the network ({reason}): this server fetches only "
            "from public addresses"
        )
    return str(addresses[0])


async def _fetch_once(
    client: httpx.AsyncClient, url: httpx.URL, headers: Mapping[str, str], limits: FetchLimits
) -> tuple[httpx.Response, bytes]:
    host = url.host
    address = await resolve(host, default_port(url), limits.allow_private)
    pinned = url.copy_with(host=address)
    host_header = host if url.port is None else f"{host}:{url.port}"
    extensions = {"sni_hostname": host} if url.scheme == "https" else {}
    request = client.build_request(
        "GET", pinned, headers={**headers, "Host": host_header}, extensions=extensions
    )
    response = await client.send(request, stream=True)
    try:
        chunks: list[bytes] = []
        size = 0
        if 200 <= response.status_code < 300:
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > limits.max_bytes:
                    raise OutboundError(
                        f"{host} sent more than {limits.max_bytes // 1024} KiB; that is too "
                        "large to read"
                    )
                chunks.append(chunk)
        return response, b"".join(chunks)
    finally:
        await response.aclose()


def _reason(exc: httpx.HTTPError, host: str, timeout: float) -> str:
    if isinstance(exc, httpx.TimeoutException):
        return f"{host} did not answer within {timeout:g} seconds"
    if isinstance(exc, httpx.ConnectError):
        cause = str(exc) or "connection refused"
        return f"could not connect to {host}: {cause}"
    return f"the request to {host} failed: {exc.__class__.__name__}: {exc}"


async def fetch(
    url: str, headers: Mapping[str, str] | None = None, limits: FetchLimits | None = None
) -> FetchResult:
    """GET ``url`` under the rules above; a 304 comes back as such (for conditional GETs),
    any other answer than 2xx, 304 or a redirect raises :class:`OutboundError`."""
    limits = limits or FetchLimits()
    current = httpx.URL(normalise_url(url))
    sent = dict(headers or {})
    async with httpx.AsyncClient(
        follow_redirects=False, timeout=limits.timeout, trust_env=False
    ) as client:
        for _ in range(MAX_REDIRECTS + 1):
            try:
                response, body = await asyncio.wait_for(
                    _fetch_once(client, current, sent, limits), limits.timeout * 2
                )
            except TimeoutError as exc:
                raise OutboundError(
                    f"{current.host} did not send the whole answer within "
                    f"{limits.timeout * 2:g} seconds"
                ) from exc
            except httpx.HTTPError as exc:
                raise OutboundError(_reason(exc, current.host, limits.timeout)) from exc
            status = response.status_code
            if status in (301, 302, 303, 307, 308) and "location" in response.headers:
                target = current.join(response.headers["location"])
                current = httpx.URL(normalise_url(str(target)))
                continue
            if status == 304 or 200 <= status < 300:
                return FetchResult(status, body, dict(response.headers), str(current))
            phrase = response.reason_phrase or "error"
            raise OutboundError(f"{current.host} answered {status} {phrase}")
    raise OutboundError(f"more than {MAX_REDIRECTS} redirects starting at {url}")
