"""Audio: the MP3 with HTTP Range (206) and HEAD, signed links, and the waveform."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse

from reflector.api.auth import optional_user
from reflector.api.deps import Reader, Session, State, readable_transcript
from reflector.api.problems import Problem
from reflector.api.signing import signed_query, verify
from reflector.api.state import AppState
from reflector.api.transcripts.schemas import AudioLink, WaveformOut
from reflector.db import repository
from reflector.db.tables import TranscriptRow

router = APIRouter(prefix="/v1/transcripts", tags=["audio"])

LINK_TTL_SECONDS = 300
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def _byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """``(start, end)`` inclusive for a single range; ``None`` for the whole file."""
    if not header:
        return None
    match = _RANGE.match(header.strip())
    if not match or match.groups() == ("", ""):
        raise Problem(416, "bad-range", f"unsupported Range {header!r}; use bytes=START-END",
                      headers={"Content-Range": f"bytes */{size}"})  # fmt: skip
    first, last = match.groups()
    if first == "":  # the last N bytes
        start, end = max(0, size - int(last)), size - 1
    else:
        start = int(first)
        end = min(int(last), size - 1) if last else size - 1
    if start >= size or end < start:
        raise Problem(416, "range-not-satisfiable", f"the file has {size} bytes",
                      headers={"Content-Range": f"bytes */{size}"})  # fmt: skip
    return start, end


def _ensure_audio(row: TranscriptRow) -> None:
    """410 when consent deleted the audio, 404 while there is none yet."""
    if row.audio_deleted:
        raise Problem(
            410, "audio-deleted", "the audio was deleted: a meeting participant declined to keep it"
        )
    if row.audio_key is None:
        raise Problem(404, "no-audio", "this transcript has no audio (yet)")


async def _audio_response(state: AppState, request: Request, row: TranscriptRow) -> Response:
    _ensure_audio(row)
    info = await state.blobs.stat(row.audio_key)
    if info is None:
        raise Problem(404, "no-audio", "this transcript's audio is missing from storage")
    size = info.size
    headers = {"Accept-Ranges": "bytes", "Content-Type": "audio/mpeg"}
    wanted = _byte_range(request.headers.get("range"), size)
    start, end = wanted or (0, size - 1)
    headers["Content-Length"] = str(end - start + 1 if size else 0)
    status = 206 if wanted else 200
    if wanted:
        headers["Content-Range"] = f"bytes {start}-{end}/{size}"
    if request.method == "HEAD" or size == 0:
        return Response(status_code=status, headers=headers)
    return StreamingResponse(
        state.blobs.iter_range(row.audio_key, start, end), status_code=status, headers=headers
    )


@router.head("/{transcript_id}/audio.mp3", include_in_schema=False)
@router.get("/{transcript_id}/audio.mp3")
async def get_audio(
    transcript_id: str,
    request: Request,
    session: Session,
    state: State,
    exp: int | None = None,
    sig: str | None = None,
) -> Response:
    """The recording as MP3, for whoever may read the transcript, or with a signed link."""
    if sig is not None and exp is not None:
        if not verify(state.secret_key, request.url.path, exp, sig):
            raise Problem(403, "bad-signature", "the audio link is invalid or has expired")
        row = await repository.get_transcript(session, transcript_id, None)
    else:
        row = await readable_transcript(session, transcript_id, await optional_user(request))
    return await _audio_response(state, request, row)


@router.post("/{transcript_id}/audio/link", response_model=AudioLink)
async def audio_link(
    transcript_id: str, request: Request, session: Session, state: State, user: Reader
) -> AudioLink:
    """A link to the MP3 that works without credentials for a few minutes."""
    row = await readable_transcript(session, transcript_id, user)
    _ensure_audio(row)
    path = f"/v1/transcripts/{row.id}/audio.mp3"
    query, expires = signed_query(state.secret_key, path, LINK_TTL_SECONDS)
    base = state.settings.public_url or str(request.base_url).rstrip("/")
    return AudioLink(
        url=f"{base.rstrip('/')}{path}?{query}",
        expires_at=datetime.fromtimestamp(expires, UTC),
    )


@router.get("/{transcript_id}/waveform", response_model=WaveformOut)
async def waveform(transcript_id: str, session: Session, user: Reader) -> WaveformOut:
    row = await readable_transcript(session, transcript_id, user)
    if row.waveform is None:
        raise Problem(404, "no-waveform", "the waveform is computed when processing starts")
    return WaveformOut(peaks=row.waveform, duration=row.duration)
