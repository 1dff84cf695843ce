"""Rules for blob keys, shared by every store so that data can move between backends.

A key is a relative ``/``-separated path. The rules are strict because the local store maps keys
onto the file system: a key must never name something outside the store's root.
"""

from __future__ import annotations

_FORBIDDEN_SEGMENTS = {".", ".."}


def validate_key(key: str) -> str:
    """Return ``key`` unchanged if it is a valid blob key, else raise :class:`ValueError`.

    Valid: non-empty, relative (no leading ``/``), ``/``-separated segments that are neither
    empty (no ``//``, no trailing ``/``) nor ``.`` or ``..``, and no backslash or NUL character
    (a backslash is a separator on Windows, a NUL truncates paths in C APIs).
    """
    if not isinstance(key, str) or not key:
        raise ValueError(f"blob key must be a non-empty string, got {key!r}")
    if "\\" in key:
        raise ValueError(f"blob key {key!r} contains a backslash; use '/' to separate parts")
    if "\x00" in key:
        raise ValueError(f"blob key {key!r} contains a NUL character")
    if key.startswith("/"):
        raise ValueError(f"blob key {key!r} is absolute; keys are relative like 'a/b.mp3'")
    for segment in key.split("/"):
        if not segment:
            raise ValueError(f"blob key {key!r} has an empty part ('//' or a trailing '/')")
        if segment in _FORBIDDEN_SEGMENTS:
            raise ValueError(f"blob key {key!r} contains a {segment!r} part")
    return key


def validate_prefix(prefix: str) -> str:
    """Return ``prefix`` unchanged if it can start a valid key, else raise :class:`ValueError`.

    Same rules as :func:`validate_key`, except that a trailing ``/`` is allowed. The empty
    prefix is refused: it would match every blob in the store.
    """
    if not isinstance(prefix, str) or not prefix:
        raise ValueError("blob prefix must be a non-empty string; refusing to match every blob")
    body = prefix[:-1] if prefix.endswith("/") else prefix
    try:
        validate_key(body)
    except ValueError as exc:
        raise ValueError(f"invalid blob prefix {prefix!r}: {exc}") from None
    return prefix
