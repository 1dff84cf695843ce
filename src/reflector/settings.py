"""Settings read from ``REFLECTOR_*`` environment variables (and a ``.env`` file).

Every setting has a default that works offline on a CPU.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "reflector"


class Settings(BaseSettings):
    """Process-wide configuration; build one with :func:`get_settings`."""

    model_config = SettingsConfigDict(env_prefix="REFLECTOR_", env_file=".env", extra="ignore")

    data_dir: Path = Field(default_factory=_default_data_dir)
    """Where assembled models, databases and blobs live."""

    asr_model: str = "base"
    """Bundled model name (``base``, ``tiny.en``) or a CTranslate2 model directory."""
    asr_device: Literal["cpu", "cuda", "auto"] = "cpu"
    asr_compute_type: str = "auto"
    """CTranslate2 compute type; ``auto`` is ``int8`` on CPU and ``float16`` on CUDA."""
    asr_cpu_threads: int = Field(default_factory=lambda: os.cpu_count() or 1, ge=1)
    asr_batch_size: int = Field(default=4, ge=1, le=64)
    """Windows decoded together; 4 is as fast as 8 on a CPU and needs half the memory."""
    asr_beam_size: int = Field(default=5, ge=1, le=10)

    diarization_backend: Literal["local", "remote", "off"] = "local"
    """``local`` (CAM++ on this machine), ``remote`` (an HTTP server) or ``off``."""
    diarization_url: str | None = None
    diarization_api_key: str | None = None

    log_level: Literal["debug", "info", "warning", "error"] = "warning"
    log_format: Literal["console", "json"] = "console"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The settings of this process, read once."""
    return Settings()
