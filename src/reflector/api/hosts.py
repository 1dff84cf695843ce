"""Which ``Host`` names and web origins the server trusts.

A page on another site can make a browser talk to a server on localhost, either by resolving
its own name to 127.0.0.1 (DNS rebinding: the request then carries the foreign name as
``Host``) or by opening a WebSocket, which browsers send cross-site with only an ``Origin`` to
tell. Checking both keeps an unauthenticated server on localhost for its own machine.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from reflector.settings import Settings

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
WILDCARD_ADDRESSES = frozenset({"", "0.0.0.0", "::"})
_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}


def is_loopback(host: str) -> bool:
    """``host`` (a name or an address to listen on) is reachable only from this machine."""
    name = host.strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def split_host(value: str) -> tuple[str, int | None]:
    """A ``Host`` header (``name``, ``name:port``, ``[v6]:port``) as lower-case name and port."""
    value = value.strip().lower()
    if value.startswith("["):
        name, _, rest = value[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    elif value.count(":") == 1:
        name, _, port = value.partition(":")
    else:  # a bare name, or a bare IPv6 address
        name, port = value, ""
    return name.rstrip("."), int(port) if port.isdigit() else None


def trusted_hosts(settings: Settings) -> list[str]:
    """``REFLECTOR_TRUSTED_HOSTS``, or loopback names, the listening host and the public one."""
    if settings.trusted_hosts is not None:
        return [pattern.strip().lower().rstrip(".") for pattern in settings.trusted_hosts]
    hosts = list(LOOPBACK_NAMES)
    for name in (settings.host, urlsplit(settings.resolved_public_url()).hostname or ""):
        name = name.strip("[]").lower()
        if name not in WILDCARD_ADDRESSES and name not in hosts:
            hosts.append(name)
    return hosts


def host_is_trusted(name: str, patterns: list[str]) -> bool:
    for pattern in patterns:
        if pattern == "*" or pattern == name:
            return True
        if pattern.startswith("*.") and name.endswith(pattern[1:]):
            return True
    return False


def _origin_parts(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url.strip().lower())
    try:
        port = parts.port
    except ValueError:
        port = None
    return parts.scheme, (parts.hostname or "").rstrip("."), port


def _same_origin(origin: str, allowed: str) -> bool:
    """Two origins match when scheme, name and port (with the scheme's default) do."""
    scheme, name, port = _origin_parts(origin)
    other_scheme, other_name, other_port = _origin_parts(allowed)
    return (
        bool(name)
        and (scheme, name) == (other_scheme, other_name)
        and (port or _DEFAULT_PORTS.get(scheme)) == (other_port or _DEFAULT_PORTS.get(scheme))
    )


def origin_is_allowed(origin: str, host_header: str, settings: Settings) -> bool:
    """A browser's ``Origin`` is the server itself (as reached, or its public URL) or a
    configured CORS origin. The scheme is not compared with the reached ``Host``: a proxy may
    end TLS in front of the server."""
    scheme, name, port = _origin_parts(origin)
    if not name or scheme not in _DEFAULT_PORTS:
        return False  # "null" (a sandboxed page, a file) or nonsense
    host_name, host_port = split_host(host_header)
    if name == host_name and (port or _DEFAULT_PORTS[scheme]) == (
        host_port or _DEFAULT_PORTS[scheme]
    ):
        return True
    if "*" in settings.cors_origins:
        return True
    allowed = [settings.resolved_public_url(), *settings.cors_origins]
    return any(_same_origin(origin, candidate) for candidate in allowed)
