"""Signing deliveries as Stripe does, so receivers can tell them from forgeries and replays.

``Reflector-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>``

The timestamp is signed with the body, so a receiver that refuses old timestamps (a few
minutes) also refuses a captured delivery sent again later. Every try is signed anew.
"""

from __future__ import annotations

import secrets
import time

from reflector import signatures

SIGNATURE_HEADER = "Reflector-Signature"
SECRET_PREFIX = "whsec_"
DEFAULT_TOLERANCE_SECONDS = 300


def new_secret() -> str:
    """A random signing secret (256 bits)."""
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def signature_header(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """The ``Reflector-Signature`` value for ``body`` sent at ``timestamp`` (default now)."""
    moment = int(time.time()) if timestamp is None else timestamp
    return signatures.signature_header(secret, moment, body)


def verify(
    secret: str,
    body: bytes,
    header: str,
    tolerance: float = DEFAULT_TOLERANCE_SECONDS,
    now: float | None = None,
) -> bool:
    """Whether ``header`` signs ``body`` with ``secret`` within ``tolerance`` seconds of
    ``now``: the check of the verifier in docs/webhooks.md, except that any of several ``v1``
    values may match (:func:`reflector.signatures.check_signature_header`)."""
    try:
        signatures.check_signature_header(secret, header, body, tolerance=tolerance, now=now)
    except signatures.SignatureError:
        return False
    return True
