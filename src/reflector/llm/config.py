"""LLM settings (``REFLECTOR_LLM_*``) and the one place that turns them into a chat model.

Kept beside the engine so it can be merged into ``reflector.settings.Settings`` field by field;
every default works offline (the bundled GGUF in process).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from reflector.llm.llamacpp import DEFAULT_CONTEXT_TOKENS, LlamaCppChat, LlamaCppOptions
from reflector.llm.openai_compat import OpenAiChat, OpenAiOptions
from reflector.llm.protocol import ChatModel, LlmUnavailable
from reflector.llm.registry import DEFAULT_LLM, resolve_gguf

Backend = Literal["local", "openai", "extractive"]


class LlmSettings(BaseSettings):
    """Which engine writes summaries, and how to reach it."""

    model_config = SettingsConfigDict(env_prefix="REFLECTOR_LLM_", env_file=".env", extra="ignore")

    backend: Backend = "local"
    """``local`` (bundled GGUF via llama.cpp), ``openai`` (any compatible server) or
    ``extractive`` (no model)."""
    model: str = DEFAULT_LLM
    """Bundled model name or a path to a ``.gguf`` file (local backend)."""
    context_tokens: int = Field(default=DEFAULT_CONTEXT_TOKENS, ge=512, le=131072)
    threads: int = Field(default=0, ge=0)
    """CPU threads for the local backend; 0 uses every core."""
    openai_base_url: str = "http://127.0.0.1:8000/v1"
    openai_model: str = "default"
    openai_api_key: SecretStr | None = None
    openai_timeout: float = Field(default=120.0, gt=0)
    openai_context_tokens: int = Field(default=8192, ge=512)
    condense: bool = True
    """Let the model read a fact-preserving excerpt of each topic instead of all of it: on a
    CPU reading dominates. Turn off for a remote GPU backend with a large context."""
    attempts: int = Field(default=2, ge=1, le=5)
    """Tries per answer; later tries see why the previous answer was rejected."""
    summary_language: str | None = None
    """ISO code of the summaries' language; unset: the transcript's language."""
    name_threshold: float = Field(default=0.6, ge=0, le=1)


def load_chat_model(settings: LlmSettings, data_dir: Path) -> ChatModel | None:
    """The configured chat model, loaded once per process; ``None`` for ``extractive``.

    Raises :class:`LlmUnavailable` with a message for people when it cannot be loaded.
    """
    if settings.backend == "extractive":
        return None
    if settings.backend == "openai":
        key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else None
        return OpenAiChat(
            OpenAiOptions(
                base_url=settings.openai_base_url,
                model=settings.openai_model,
                api_key=key,
                timeout=settings.openai_timeout,
                context_tokens=settings.openai_context_tokens,
            )
        )
    location = resolve_gguf(settings.model, data_dir)
    if location.info.context_length and settings.context_tokens > location.info.context_length:
        raise LlmUnavailable(
            f"{location.name} accepts {location.info.context_length} tokens of context, "
            f"not {settings.context_tokens}"
        )
    return LlamaCppChat(
        location.path,
        LlamaCppOptions(context_tokens=settings.context_tokens, threads=settings.threads),
        name=location.name,
    )
