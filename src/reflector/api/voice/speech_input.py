"""Audio sent to the voice endpoints: a multipart file or base64 in JSON, saved to a temp file.

Uploads are streamed to disk in pieces and refused as soon as they pass the size limit, so a
huge request costs neither memory nor time. Decoding happens later, in the recogniser, which
says clearly when the bytes are not audio.
"""

from __future__ import annotations

import base64
import binascii
from pathlib import Path

from fastapi import UploadFile

from reflector.api.problems import Problem
from reflector.audio import AudioError

_PIECE = 1024 * 1024


def too_large(size: int, limit: int) -> Problem:
    return Problem(413, "audio-too-large", f"the audio is {size} bytes; the limit is {limit} bytes")


def empty_audio() -> Problem:
    return Problem(400, "empty-audio", "the audio is empty (0 bytes)")


def unusable_audio(error: AudioError) -> Problem:
    return Problem(400, "unreadable-audio", f"the audio cannot be used: {error}")


async def save_upload(upload: UploadFile, folder: Path, limit: int) -> Path:
    """Copy a multipart file into ``folder``; 413 past ``limit`` bytes, 400 when empty."""
    suffix = Path(upload.filename or "audio").suffix[:16]
    path = folder / f"upload{suffix}"
    size = 0
    with path.open("wb") as out:
        while piece := await upload.read(_PIECE):
            size += len(piece)
            if size > limit:
                raise too_large(size, limit)
            out.write(piece)
    if size == 0:
        raise empty_audio()
    return path


def save_base64(data: str, folder: Path, limit: int) -> Path:
    """Decode base64 audio (a ``data:`` URL prefix is allowed) into ``folder``."""
    if data.startswith("data:"):
        data = data.partition(",")[2]
    if len(data) * 3 // 4 > limit + 3:
        raise too_large(len(data) * 3 // 4, limit)
    try:
        audio = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise Problem(400, "bad-base64", "the audio is not valid base64") from None
    if not audio:
        raise empty_audio()
    path = folder / "upload.bin"
    path.write_bytes(audio)
    return path
