"""Passwords of local accounts: argon2id hashes (the library's recommended parameters).

Checking a sign-in for an unknown email verifies a fixed dummy hash instead, so a wrong email
and a wrong password take the same time and nobody can probe which accounts exist.
"""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MAX_PASSWORD_CHARS = 1024
"""Longer inputs are refused before hashing: argon2 reads all of them."""

_hasher = PasswordHasher()
# Made once, when the module loads, so the first sign-in with an unknown email is not slower.
_DUMMY_HASH = _hasher.hash("no account has this password")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Whether ``password`` matches; with no hash, the same work against a dummy one."""
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and bool(password_hash)
    except (VerificationError, InvalidHashError):
        return False
