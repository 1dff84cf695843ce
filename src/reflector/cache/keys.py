"""Cache keys for synthesized speech: SHA-256 over the normalised text, voice and options."""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections.abc import Mapping

KEY_VERSION = 1
"""Bumped when what the bytes depend on changes, so old entries are never served."""


def normalise_text(text: str) -> str:
    """Unicode NFC with runs of whitespace collapsed to one space, stripped: texts that differ
    only in invisible ways share one entry."""
    return re.sub(r"\s+", " ", unicodedata.normalize("NFC", text)).strip()


def speech_cache_key(text: str, voice: str | None, options: Mapping[str, object]) -> str:
    """64 hex characters identifying one rendering of ``text`` by ``voice`` with ``options``
    (format, speed, language, loudness, backend, ...; order does not matter)."""
    payload = {
        "version": KEY_VERSION,
        "text": normalise_text(text),
        "voice": (voice or "").strip().lower(),
        "options": {str(k): str(v) for k, v in sorted(options.items())},
    }
    encoded = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(encoded.encode("utf-8")).hexdigest()
