"""How an installation runs Whisper: the model and the hardware and decoding settings that are
the same for every recording (``REFLECTOR_ASR_*``, via ``Settings.asr_options``)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class AsrConfig:
    model: str = "base"
    """Bundled model name (``base``, ``tiny.en``) or a CTranslate2 model directory."""
    device: str = "cpu"
    """``cpu``, ``cuda`` or ``auto``."""
    compute_type: str = "auto"
    """CTranslate2 compute type; ``auto`` is ``int8`` on CPU and ``float16`` on CUDA."""
    cpu_threads: int = 0
    """0: CTranslate2's default."""
    beam_size: int = 5
    batch_size: int = 4
    """Windows decoded together."""
