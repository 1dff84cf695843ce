"""What every translation backend shares: the protocol, the errors, and input checks."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from reflector.errors import (
    BadInputError,
    EmptyTextError,
    ReflectorError,
    RemoteUnavailableError,
    TextTooLongError,
    UnavailableError,
)

DEFAULT_MAX_CHARS = 5000
"""Longest text one call may translate: several sentences of speech, never a whole document."""

Pair = tuple[str, str]
"""(source, target) ISO 639-1 codes, e.g. ``("en", "es")``."""


class TranslationError(ReflectorError):
    """Translation failed; the message is meant for people."""


class InvalidTranslationInput(TranslationError, BadInputError, ValueError):
    """The request itself is wrong (the caller's mistake); never retried or re-routed."""


class EmptyTranslationError(EmptyTextError, InvalidTranslationInput):
    """The text has nothing to translate (empty or only whitespace)."""


class TranslationTooLongError(TextTooLongError, InvalidTranslationInput):
    """The text is longer than the backend accepts in one call."""


class InvalidLanguageError(InvalidTranslationInput):
    """A language is not an ISO 639-1 code such as ``en`` or ``pt-BR``."""


class UnsupportedPairError(InvalidTranslationInput):
    """No configured backend translates from this source into this target."""


class TranslationUnavailableError(TranslationError, UnavailableError):
    """A backend cannot run here (tool or model missing, process keeps dying)."""


class RemoteTranslationError(TranslationError, UnavailableError):
    """A remote translation server failed or answered with something unusable."""


class TranslationServerUnavailableError(RemoteUnavailableError, RemoteTranslationError):
    """The remote server failed repeatedly; its circuit breaker is open."""


@runtime_checkable
class Translator(Protocol):
    """Text from one language into another; every backend and the router implement this.

    ``context`` holds the few sentences said just before ``text`` in the same speech. Backends
    that can use it (the LLM) read it to resolve pronouns and terms; the others ignore it. Either
    way only ``text`` is translated and returned.
    """

    @property
    def name(self) -> str: ...

    def pairs(self) -> set[Pair]:
        """The (source, target) pairs this backend can translate now."""
        ...

    def translate(
        self, text: str, source: str, target: str, context: Sequence[str] = ()
    ) -> str: ...


_LANGUAGE = re.compile(r"^([a-z]{2})(?:[-_][a-z0-9]{2,8})*$")


def normalize_language(code: str) -> str:
    """``"pt-BR"`` → ``"pt"``, ``" EN "`` → ``"en"``; anything else raises.

    Backends translate between languages, not regional variants, so only the ISO 639-1 base
    is kept.
    """
    if not isinstance(code, str):
        raise InvalidLanguageError(f"a language must be a code such as 'en', not {code!r}")
    match = _LANGUAGE.match(code.strip().lower())
    if match is None:
        raise InvalidLanguageError(
            f"{code!r} is not a language code; use ISO 639-1 codes such as 'en', 'es', 'pt-BR'"
        )
    return match.group(1)


def normalize_pair(source: str, target: str) -> Pair:
    return normalize_language(source), normalize_language(target)


def check_text(text: str, max_chars: int = DEFAULT_MAX_CHARS) -> str:
    """The text stripped of surrounding whitespace; raises for empty or oversized text."""
    if not isinstance(text, str):
        raise EmptyTranslationError(
            f"text to translate must be a string, not {type(text).__name__}"
        )
    stripped = text.strip()
    if not stripped:
        raise EmptyTranslationError(
            "there is no text to translate (it is empty or only whitespace)"
        )
    if len(stripped) > max_chars:
        raise TranslationTooLongError(
            f"text of {len(stripped)} characters is longer than the {max_chars} one translation "
            "accepts; send it sentence by sentence"
        )
    return stripped


class CheckedTranslator:
    """Base of the backends: :meth:`translate` checks the text and the language pair once,
    answers a same-language request with the text itself, and hands the rest to
    :meth:`_translate` with the stripped text and the ISO 639-1 codes."""

    name: str
    max_chars: int = DEFAULT_MAX_CHARS

    def __init__(self, *, max_chars: int = DEFAULT_MAX_CHARS) -> None:
        self.max_chars = max_chars

    def translate(self, text: str, source: str, target: str, context: Sequence[str] = ()) -> str:
        text = check_text(text, self.max_chars)
        source, target = normalize_pair(source, target)
        if source == target:
            return text
        return self._translate(text, source, target, context)

    def _translate(self, text: str, source: str, target: str, context: Sequence[str]) -> str:
        raise NotImplementedError


def describe_pairs(pairs: set[Pair], limit: int = 12) -> str:
    """``en→es, es→en, …`` for error messages."""
    if not pairs:
        return "none"
    shown = [f"{source}→{target}" for source, target in sorted(pairs)]
    more = f" and {len(shown) - limit} more" if len(shown) > limit else ""
    return ", ".join(shown[:limit]) + more
