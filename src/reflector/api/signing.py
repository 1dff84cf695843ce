"""Short-lived signed links: ``?exp=<unix time>&sig=<HMAC>`` over the path.

An ``<audio>`` element or a download manager cannot send an API key; a signed link lets it fetch
one transcript's audio for a few minutes without one.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from pathlib import Path


def load_or_create_secret(configured: str | None, data_dir: Path) -> bytes:
    """The configured key, else one generated once and kept (owner-only) in the data dir."""
    if configured:
        return configured.encode()
    path = data_dir / "secret.key"
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip().encode()


def sign(secret: bytes, path: str, expires: int) -> str:
    return hmac.new(secret, f"{path}\n{expires}".encode(), hashlib.sha256).hexdigest()


def signed_query(secret: bytes, path: str, ttl_seconds: int) -> tuple[str, int]:
    expires = int(time.time()) + ttl_seconds
    return f"exp={expires}&sig={sign(secret, path, expires)}", expires


def verify(secret: bytes, path: str, expires: int, signature: str) -> bool:
    if expires < time.time():
        return False
    # Constant-time comparison: timing must not reveal how much of a guess was right.
    return hmac.compare_digest(sign(secret, path, expires), signature)
