"""Multitrack uploads: one audio file per participant, stored as the transcript's tracks and
processed by the multitrack pipeline (each track one speaker).

Each file gets the checks a single upload gets (the size limit, counted as it streams to disk,
for all files together; an audio stream that FFmpeg's whitelisted demuxers can open; the
length limit, counted from the meeting's start), and a refused one is named in the error.
Nothing is stored unless every file passes.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from fastapi import UploadFile
from sqlalchemy.ext.asyncio import AsyncSession

from reflector.api.problems import Problem
from reflector.api.state import AppState
from reflector.api.uploads import service
from reflector.audio import AudioError
from reflector.audio.multitrack import TrackInfo, probe_track
from reflector.db.tables import TranscriptRow
from reflector.domain.status import TranscriptStatus
from reflector.pipelines.lifecycle import apply_status
from reflector.pipelines.multitrack import MAX_TRACKS

_PIECE = 1024 * 1024
NAME_LENGTH = 200


@dataclass(frozen=True)
class ReceivedTrack:
    path: Path
    filename: str
    name: str
    info: TrackInfo


def speaker_name(filename: str, index: int) -> str:
    """A track's default speaker name: its file name without the extension."""
    stem = Path(filename).stem.strip() if filename else ""
    return stem[:NAME_LENGTH] or f"Speaker {index + 1}"


def _label(index: int, filename: str) -> str:
    return f"track {index + 1}" + (f" ({filename})" if filename else "")


def check_request(files: Sequence[UploadFile], names: Sequence[str] | None) -> list[str]:
    """The speaker name of every file; 422 for no files, too many, or names that do not pair
    up with the files."""
    if not files:
        raise Problem(422, "no-tracks", "no tracks: send one audio file per participant as `files`")
    if len(files) > MAX_TRACKS:
        raise Problem(
            422, "too-many-tracks", f"{len(files)} tracks: at most {MAX_TRACKS} are accepted"
        )
    if names is not None and len(names) != len(files):
        raise Problem(
            422,
            "track-names",
            f"{len(names)} names for {len(files)} files: give one `names` value per file, "
            "in the same order, or none",
        )
    chosen = []
    for i, upload in enumerate(files):
        given = names[i].strip() if names is not None else ""
        if len(given) > NAME_LENGTH:
            raise Problem(422, "track-names", f"the name of {_label(i, '')} is too long")
        chosen.append(given or speaker_name(upload.filename or "", i))
    return chosen


async def _receive(upload: UploadFile, path: Path, limit: int, label: str) -> int:
    """Copy one multipart file to ``path``; 413 once all files together pass ``limit``."""
    size = 0
    with path.open("wb") as out:
        while piece := await upload.read(_PIECE):
            size += len(piece)
            if size > limit:
                raise Problem(
                    413, "upload-too-large", f"the tracks are over the upload limit at {label}"
                )
            await asyncio.to_thread(out.write, piece)
    if size == 0:
        raise Problem(422, "empty-upload", f"{label} is empty")
    return size


async def _check(path: Path, filename: str, label: str, max_seconds: float) -> TrackInfo:
    try:
        info = await asyncio.to_thread(probe_track, path, None, filename or None)
    except AudioError as error:
        # The message names the temporary file; the client knows the track by its number.
        reason = str(error).removeprefix(f"{path}: ")
        raise Problem(415, "not-audio", f"{label} cannot be used: {reason}") from error
    end = info.offset + (info.media.duration or 0.0)
    if end > max_seconds:
        raise Problem(
            413,
            "audio-too-long",
            f"{label} ends {end:.0f} s after the meeting's start, over the limit of "
            f"{max_seconds:.0f} s",
        )
    return info


async def accept_tracks(
    state: AppState,
    session: AsyncSession,
    row: TranscriptRow,
    files: Sequence[UploadFile],
    names: Sequence[str] | None,
    summarize: bool | None,
) -> None:
    """Check every file, store them as the transcript's tracks (replacing earlier ones) and
    start the multitrack pipeline."""
    speakers = check_request(files, names)
    settings = state.settings
    work = settings.data_dir / "work"
    work.mkdir(parents=True, exist_ok=True)
    folder = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix="tracks-", dir=work))
    try:
        received: list[ReceivedTrack] = []
        left = settings.max_upload_bytes
        for i, upload in enumerate(files):
            filename = (upload.filename or "")[:500]
            label = _label(i, filename)
            path = folder / f"{i}{service._safe_suffix(filename)}"
            left -= await _receive(upload, path, left, label)
            info = await _check(path, filename, label, settings.max_audio_seconds)
            received.append(ReceivedTrack(path, filename, speakers[i], info))
        await state.blobs.delete_prefix(f"transcripts/{row.id}/tracks/")
        tracks = []
        for i, track in enumerate(received):
            key = f"transcripts/{row.id}/tracks/{i}{track.path.suffix}"
            await state.blobs.put_file(key, track.path)
            tracks.append(
                {
                    "key": key,
                    "name": track.name,
                    "user_id": None,
                    "participant_id": None,
                    "filename": track.filename,
                }
            )
    finally:
        await asyncio.to_thread(shutil.rmtree, folder, True)
    row.tracks = tracks
    row.upload_key = None
    row.duration = round(max(t.info.offset + (t.info.media.duration or 0.0) for t in received), 3)
    apply_status(row, TranscriptStatus.UPLOADED)
    await session.commit()
    await service.start_processing(state, session, row, summarize, pipeline="multitrack")
