"""A LibreTranslate-compatible server, and the adapter that keeps translations coming when it
fails.

The contract (LibreTranslate's API, which several self-hosted servers speak):

- ``POST {url}/translate`` with JSON ``{"q", "source", "target", "format": "text",
  "api_key"?}`` answers ``{"translatedText": "..."}``; errors are 4xx/5xx with
  ``{"error": "..."}``;
- ``GET {url}/languages`` answers ``[{"code": "en", "name": "English", "targets": [...]}]``
  (older servers leave out ``targets``: every listed language to every other).

Every request goes through :func:`reflector.resilience.send_with_retries` under a circuit
breaker: connection errors, timeouts and 5xx answers are retried with backoff, a 4xx fails at
once, and a server that keeps failing opens the breaker so later calls fail fast instead of
waiting on it. :class:`FallbackTranslator` then translates locally.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence

import httpx

from reflector.resilience import CircuitBreaker, CircuitOpenError, RetryPolicy, send_with_retries
from reflector.translation.types import (
    DEFAULT_MAX_CHARS,
    CheckedTranslator,
    InvalidTranslationInput,
    Pair,
    RemoteTranslationError,
    TranslationError,
    TranslationServerUnavailableError,
    Translator,
    UnsupportedPairError,
    check_text,
    describe_pairs,
    normalize_language,
    normalize_pair,
)

log = logging.getLogger(__name__)

LANGUAGES_TTL = 300.0
"""Seconds the server's language list is trusted before it is asked again."""
LANGUAGES_RETRY = 30.0
"""Seconds before asking again after the language list could not be read."""


class RemoteTranslator(CheckedTranslator):
    """:class:`~reflector.translation.types.Translator` backed by a LibreTranslate-compatible
    server; ignores ``context`` (the API has no field for it)."""

    name = "remote"

    def __init__(
        self,
        url: str,
        *,
        breaker: CircuitBreaker,
        api_key: str | None = None,
        policy: RetryPolicy | None = None,
        client: httpx.Client | None = None,
        max_chars: int = DEFAULT_MAX_CHARS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"the translation server URL must start with http(s)://, not {url!r}")
        self.url = url.rstrip("/")
        self.api_key = api_key or None
        self.breaker = breaker
        self.policy = policy or RetryPolicy()
        self._client = client or httpx.Client()
        self._owns_client = client is None
        self.max_chars = max_chars
        self._clock = clock
        self._languages_lock = threading.Lock()
        self._codes: dict[Pair, Pair] | None = None
        """Our (source, target) → the server's own codes (``zh`` → ``zh-Hans``)."""
        self._languages_read_at: float | None = None

    # -- HTTP ------------------------------------------------------------------------------

    def _call(self, send: Callable[[], httpx.Response]) -> httpx.Response:
        try:
            return send_with_retries(self.breaker, self.policy, send)
        except CircuitOpenError as error:
            raise TranslationServerUnavailableError(str(error)) from error
        except httpx.HTTPStatusError as error:
            raise RemoteTranslationError(
                f"the translation server answered {error.response.status_code}: "
                f"{_error_detail(error.response)}"
            ) from error
        except httpx.HTTPError as error:
            raise RemoteTranslationError(
                f"the translation server at {self.url} did not answer: "
                f"{type(error).__name__}: {error}"
            ) from error

    # -- languages -------------------------------------------------------------------------

    def known_pairs(self) -> set[Pair] | None:
        """The pairs the server lists, or ``None`` while its list cannot be read (a server
        without ``/languages``, or one that is down): then every pair is worth a try."""
        with self._languages_lock:
            now = self._clock()
            fresh_for = LANGUAGES_TTL if self._codes is not None else LANGUAGES_RETRY
            if self._languages_read_at is None or now - self._languages_read_at >= fresh_for:
                self._languages_read_at = now
                try:
                    self._codes = self._read_languages()
                except RemoteTranslationError as error:
                    log.warning("cannot read the translation server's languages: %s", error)
                    self._codes = None
            return set(self._codes) if self._codes is not None else None

    def _read_languages(self) -> dict[Pair, Pair]:
        response = self._call(
            lambda: self._client.get(f"{self.url}/languages", timeout=self.policy.timeout)
        )
        try:
            listed = response.json()
            entries = [(str(e["code"]), e.get("targets")) for e in listed]
        except (ValueError, TypeError, KeyError, AttributeError) as error:
            raise RemoteTranslationError(
                "the translation server's /languages answer is not a list of languages"
            ) from error
        ours: dict[str, str] = {}  # our code → the server's
        for code, _ in entries:
            try:
                ours.setdefault(normalize_language(code), code)
            except InvalidTranslationInput:
                continue  # a code we cannot name (``auto``, ``zh-Hant`` twice, ...)
        theirs = {code: ours_code for ours_code, code in ours.items()}
        codes: dict[Pair, Pair] = {}
        for code, targets in entries:
            if code not in theirs:
                continue
            reachable = targets if isinstance(targets, list) else [c for c, _ in entries]
            for target in reachable:
                if target in theirs and target != code:
                    codes[(theirs[code], theirs[target])] = (code, target)
        return codes

    def pairs(self) -> set[Pair]:
        return self.known_pairs() or set()

    # -- translating -----------------------------------------------------------------------

    def _translate(self, text: str, source: str, target: str, context: Sequence[str]) -> str:
        known = self.known_pairs()
        if known is not None and (source, target) not in known:
            raise UnsupportedPairError(
                f"the translation server cannot translate {source}→{target}; it offers "
                f"{describe_pairs(known)}"
            )
        remote_source, remote_target = (self._codes or {}).get((source, target), (source, target))
        body: dict[str, str] = {
            "q": text,
            "source": remote_source,
            "target": remote_target,
            "format": "text",
        }
        if self.api_key:
            body["api_key"] = self.api_key
        response = self._call(
            lambda: self._client.post(
                f"{self.url}/translate", json=body, timeout=self.policy.timeout
            )
        )
        try:
            translated = response.json()["translatedText"]
        except (ValueError, TypeError, KeyError) as error:
            raise RemoteTranslationError(
                "the translation server's answer has no translatedText"
            ) from error
        if not isinstance(translated, str) or not translated.strip():
            raise RemoteTranslationError("the translation server answered with no translation")
        return translated.strip()

    def close(self) -> None:
        if self._owns_client:
            self._client.close()


def _error_detail(response: httpx.Response) -> str:
    try:
        detail = response.json().get("error")
    except (ValueError, AttributeError):
        detail = None
    return str(detail) if detail else response.text[:300].strip() or response.reason_phrase


FallbackListener = Callable[[str, Exception], None]
"""Told the primary's name and the error each time the fallback translates instead."""


class FallbackTranslator:
    """A remote translator with a local one behind it.

    Pairs the server does not list go straight to the local side. Otherwise the server is
    asked first; when its breaker is open (it failed repeatedly, so it is not waited on) or the
    call fails, the local side translates instead. The breaker probes the server back by
    itself: after its reset timeout one call goes to the server again, and success closes it.
    Mistakes in the request (empty text, a bad language code) are the caller's and are
    raised, never hidden by a fallback.
    """

    def __init__(
        self,
        primary: RemoteTranslator,
        fallback: Translator,
        *,
        on_fallback: FallbackListener | None = None,
    ) -> None:
        self.primary, self.fallback = primary, fallback
        self.name = primary.name
        self.on_fallback = on_fallback
        self._lock = threading.Lock()
        self.fallbacks = 0
        """Translations the fallback has made because the primary failed."""

    def pairs(self) -> set[Pair]:
        return self.primary.pairs() | self.fallback.pairs()

    def translate(self, text: str, source: str, target: str, context: Sequence[str] = ()) -> str:
        text = check_text(text, self.primary.max_chars)
        source, target = normalize_pair(source, target)
        known = self.primary.known_pairs()
        if known is not None and (source, target) not in known and source != target:
            return self.fallback.translate(text, source, target, context)
        try:
            return self.primary.translate(text, source, target, context)
        except (RemoteTranslationError, UnsupportedPairError) as error:
            if (source, target) not in self.fallback.pairs():
                raise
            self._fell_back(error)
            return self.fallback.translate(text, source, target, context)

    def _fell_back(self, error: TranslationError) -> None:
        with self._lock:
            self.fallbacks += 1
        log.warning("translating locally: %s", error)
        if self.on_fallback is not None:
            self.on_fallback(self.primary.name, error)

    def close(self) -> None:
        self.primary.close()
        close = getattr(self.fallback, "close", None)
        if close is not None:
            close()
