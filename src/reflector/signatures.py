"""HMAC-SHA256 signatures over ``"<timestamp>.<raw body>"``, checked within a replay window.

Daily and Whereby sign the webhooks they send Reflector this way, and Reflector signs its own
outgoing webhooks the same way (Stripe's ``t=<timestamp>,v1=<hex>`` header, as Whereby does).
The timestamp is signed with the body, so refusing timestamps further than a few minutes from
now also refuses a captured request sent again later. Signatures are compared in constant time.

Plain functions over bytes and strings: each caller turns :class:`SignatureError` into its own
error (a 401 problem for a platform's webhook, ``False`` for a receiver's check).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping

from reflector.errors import BadInputError


class SignatureError(BadInputError, ValueError):
    """A signature that does not check out; the message says why, for people."""


def timestamped_digest(key: bytes, timestamp: str | int, body: bytes) -> bytes:
    """The HMAC-SHA256 (raw bytes) of ``"<timestamp>.<body>"`` keyed with ``key``."""
    return hmac.new(key, f"{timestamp}.".encode() + body, hashlib.sha256).digest()


def hex_signature(secret: str, timestamp: int, body: bytes) -> str:
    """The hex HMAC-SHA256 of ``"<timestamp>.<body>"`` keyed with ``secret`` (UTF-8)."""
    return timestamped_digest(secret.encode(), timestamp, body).hex()


def signature_header(secret: str, timestamp: int, body: bytes) -> str:
    """``t=<timestamp>,v1=<hex signature>``: the header value for ``body`` sent at
    ``timestamp`` (Unix seconds)."""
    return f"t={timestamp},v1={hex_signature(secret, timestamp, body)}"


def header_value(headers: Mapping[str, str], name: str) -> str | None:
    """The header ``name`` (lower case) of ``headers``, whatever case they were sent in."""
    return next((value for key, value in headers.items() if key.lower() == name), None)


def check_window(sent: float, tolerance: float, now: float | None = None) -> None:
    """Raise :class:`SignatureError` when ``sent`` (Unix seconds) is further than ``tolerance``
    seconds from ``now`` (default: the current time)."""
    current = time.time() if now is None else now
    if not abs(current - sent) <= tolerance:
        raise SignatureError(
            "the webhook's timestamp is outside the accepted window (replayed, or a clock is off)"
        )


def check_signature_header(
    secret: str,
    header: str | None,
    body: bytes,
    *,
    tolerance: float,
    now: float | None = None,
    name: str = "signature",
) -> None:
    """Check a ``t=<timestamp>,v1=<hex>`` header (``name`` is its name, for the messages)
    against the raw ``body``: the timestamp within ``tolerance`` seconds of ``now`` and one of
    its ``v1`` signatures (a sender rotating its secret sends two) made with ``secret``.
    Raises :class:`SignatureError`."""
    if not header:
        raise SignatureError(f"the {name} header is missing")
    timestamp: str | None = None
    candidates: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t":
            timestamp = value
        elif key == "v1":
            candidates.append(value)
    if timestamp is None or not timestamp.isdigit() or not candidates:
        raise SignatureError(f"the {name} header is not t=<time>,v1=<hex>")
    check_window(int(timestamp), tolerance, now)
    expected = hex_signature(secret, int(timestamp), body).encode()
    # Every candidate is compared, so the time taken does not tell which one came close.
    matches = [hmac.compare_digest(expected, c.encode(errors="replace")) for c in candidates]
    if not any(matches):
        raise SignatureError("the webhook's signature does not match its body")
