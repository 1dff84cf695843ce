"""The ``openai`` backend: any OpenAI-compatible ``/chat/completions`` endpoint over HTTP.

Works with OpenAI itself, vLLM, Ollama, LM Studio, llama.cpp's server and Reflector on a GPU box.
Structured output is requested the standard way (``response_format: json_schema``); servers that
only know ``json_object`` with a ``schema`` (llama-cpp-python's server) reject that with a 4xx, and
the backend then switches to that form for the rest of its life. Connection failures and 5xx/429
answers are retried with exponential backoff; after repeated failures the backend reports itself
unavailable for a cool-down, so a dead server costs one timeout, not one per topic.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import httpx

from reflector.llm.protocol import (
    ChatMessage,
    ChatOptions,
    ChatResult,
    JsonSchema,
    LlmError,
    LlmUnavailable,
)

SchemaMode = Literal["json_schema", "json_object", "none"]


@dataclass(frozen=True)
class OpenAiOptions:
    base_url: str
    """E.g. ``https://api.openai.com/v1`` or ``http://gpu-box:8000/v1``."""
    model: str
    api_key: str | None = None
    timeout: float = 120.0
    context_tokens: int = 8192
    retries: int = 2
    backoff: float = 0.5
    """Seconds before the first retry; doubles each time."""
    cooldown: float = 30.0
    """Seconds the backend stays unavailable after it failed ``retries + 1`` times in a row."""

    def __post_init__(self) -> None:
        if not self.base_url.startswith(("http://", "https://")):
            raise ValueError("base_url must start with http:// or https://")
        if not self.model:
            raise ValueError("model must be set")
        if self.timeout <= 0 or self.retries < 0 or self.context_tokens < 512:
            raise ValueError("timeout must be > 0, retries >= 0, context_tokens >= 512")


def _rejects_format(response: httpx.Response) -> bool:
    """Whether the server refused the ``response_format`` (not the request as a whole)."""
    return response.status_code in (400, 422, 500) and "response_format" in response.text


class OpenAiChat:
    """A :class:`~reflector.llm.protocol.ChatModel` for an OpenAI-compatible server."""

    def __init__(self, options: OpenAiOptions, client: httpx.Client | None = None) -> None:
        self.options = options
        headers = {"Authorization": f"Bearer {options.api_key}"} if options.api_key else {}
        self._client = client or httpx.Client(
            base_url=options.base_url.rstrip("/") + "/", timeout=options.timeout, headers=headers
        )
        self._schema_mode: SchemaMode = "json_schema"
        self._down_until = 0.0

    @property
    def name(self) -> str:
        return self.options.model

    @property
    def context_tokens(self) -> int:
        return self.options.context_tokens

    def count_tokens(self, text: str) -> int:
        # No tokenizer for an arbitrary remote model: about 3 characters per token over-estimates
        # English (≈4), so chunks sized with it always fit.
        return len(text) // 3 + 1

    def close(self) -> None:
        self._client.close()

    def _response_format(self, schema: JsonSchema) -> dict[str, object] | None:
        if self._schema_mode == "json_schema":
            return {
                "type": "json_schema",
                "json_schema": {"name": schema.get("title", "answer"), "schema": schema},
            }
        if self._schema_mode == "json_object":
            return {"type": "json_object", "schema": schema}
        return None

    def _post(self, body: dict[str, object]) -> httpx.Response:
        if time.monotonic() < self._down_until:
            raise LlmUnavailable(f"{self.options.base_url} failed recently; not retrying yet")
        delay = self.options.backoff
        last_error: Exception | None = None
        for attempt in range(self.options.retries + 1):
            try:
                response = self._client.post("chat/completions", json=body)
            except httpx.TransportError as error:  # refused, reset, timed out
                last_error = error
            else:
                if response.status_code != 429 and response.status_code < 500:
                    return response
                if _rejects_format(response):
                    return response  # not transient: llama-cpp-python's server says 500 here
                last_error = LlmError(f"HTTP {response.status_code}: {response.text[:200]}")
            if attempt < self.options.retries:
                time.sleep(delay)
                delay *= 2
        self._down_until = time.monotonic() + self.options.cooldown
        raise LlmUnavailable(f"{self.options.base_url} is not answering: {last_error}")

    def chat(
        self, messages: Sequence[ChatMessage], options: ChatOptions = ChatOptions()
    ) -> ChatResult:
        body: dict[str, object] = {
            "model": self.options.model,
            "messages": [{"role": m.role, "content": m.content} for m in messages],
            "max_tokens": options.max_tokens,
            "temperature": options.temperature,
        }
        started = time.perf_counter()
        while True:
            schema = options.json_schema
            response_format = self._response_format(schema) if schema else None
            if response_format is not None:
                body["response_format"] = response_format
            else:
                body.pop("response_format", None)
            response = self._post(body)
            if _rejects_format(response) and response_format is not None:
                # The server does not know this response_format: try the next, simpler one.
                self._schema_mode = "json_object" if self._schema_mode == "json_schema" else "none"
                continue
            break
        if response.status_code in (401, 403):
            raise LlmUnavailable(f"{self.options.base_url} refused the API key")
        if response.status_code == 404:
            raise LlmUnavailable(
                f"{self.options.base_url} has no chat/completions or no model {self.name!r}"
            )
        if response.status_code >= 400:
            raise LlmError(f"HTTP {response.status_code}: {response.text[:300]}")
        try:
            payload = response.json()
            choice = payload["choices"][0]
            text = choice["message"].get("content") or ""
        except (ValueError, KeyError, IndexError, TypeError) as error:
            raise LlmError(f"unexpected answer from {self.options.base_url}") from error
        usage = payload.get("usage") or {}
        return ChatResult(
            text=text,
            prompt_tokens=int(usage.get("prompt_tokens") or 0),
            completion_tokens=int(usage.get("completion_tokens") or 0),
            seconds=time.perf_counter() - started,
            finish_reason=choice.get("finish_reason"),
        )
