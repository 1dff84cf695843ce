"""``GET /v1/transcripts/{id}/export?format=…``: the formats of ``reflector transcribe``, plus a
ZIP with all of them and the MP3."""

from __future__ import annotations

import re
import tempfile
import zipfile
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response, StreamingResponse

from reflector.api.deps import Reader, Session, State, readable_transcript
from reflector.db import repository
from reflector.export import FORMATS, render
from reflector.pipelines.speaker_turns import load_turns

router = APIRouter(prefix="/v1/transcripts", tags=["exports"])

_MEDIA = {
    "text": ("text/plain; charset=utf-8", "txt"),
    "timestamped": ("text/plain; charset=utf-8", "timestamped.txt"),
    "vtt": ("text/vtt; charset=utf-8", "vtt"),
    "srt": ("application/x-subrip; charset=utf-8", "srt"),
    "json": ("application/json", "json"),
    "md": ("text/markdown; charset=utf-8", "md"),
    "rttm": ("text/plain; charset=utf-8", "rttm"),
}


def _file_stem(name: str, title: str | None, transcript_id: str) -> str:
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", (title or name or "").strip()).strip("-.")
    return stem[:80] or f"transcript-{transcript_id[:8]}"


@router.get("/{transcript_id}/export")
async def export_transcript(
    transcript_id: str,
    session: Session,
    state: State,
    user: Reader,
    format: Annotated[str, Query(pattern="^(text|timestamped|vtt|srt|json|md|rttm|zip)$")] = "text",
) -> Response:
    row = await readable_transcript(session, transcript_id, user)
    transcript = await repository.to_domain(session, row)
    # Speaker turns live beside the audio, not in the database (see pipelines.speaker_turns).
    turns = await load_turns(state.blobs, row.id)
    transcript = transcript.model_copy(update={"speaker_turns": turns})
    stem = _file_stem(row.name, row.title, row.id)
    if format != "zip":
        media, extension = _MEDIA[format]
        return Response(
            render(transcript, format, name=stem),
            media_type=media,
            headers={"Content-Disposition": f'attachment; filename="{stem}.{extension}"'},
        )
    # A spooled file keeps small archives in memory and moves large ones (the MP3) to disk.
    archive = tempfile.SpooledTemporaryFile(max_size=16 * 1024 * 1024)  # noqa: SIM115 (closed by chunks())
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as bundle:
        for fmt in FORMATS:
            bundle.writestr(f"{stem}.{_MEDIA[fmt][1]}", render(transcript, fmt, name=stem))
        if row.audio_key:
            with bundle.open(f"{stem}.mp3", "w") as audio:
                async for chunk in state.blobs.iter_range(row.audio_key):
                    audio.write(chunk)
    size = archive.tell()
    archive.seek(0)

    def chunks():
        with archive:
            while block := archive.read(256 * 1024):
                yield block

    return StreamingResponse(
        chunks(),
        media_type="application/zip",
        headers={
            "Content-Disposition": f'attachment; filename="{stem}.zip"',
            "Content-Length": str(size),
        },
    )
