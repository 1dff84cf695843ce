"""Create a processing job for a transcript, with the options it will run with."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from reflector.db.tables import JobRow, TranscriptRow
from reflector.pipelines.stages import JobOptions
from reflector.settings import Settings


async def create_job(
    session: AsyncSession,
    transcript: TranscriptRow,
    settings: Settings,
    summarize: bool | None = None,
) -> JobRow:
    """A queued job for ``transcript``; the transcript goes to ``processing``.

    ``summarize``: ``None`` summarises recordings over a minute.
    """
    options = JobOptions(
        model=settings.asr_model,
        language=transcript.source_language,
        summary_language=transcript.target_language,
        diarize=settings.diarization_backend != "off",
        summarize=summarize,
    )
    job = JobRow(transcript_id=transcript.id, options=options.to_dict())
    session.add(job)
    transcript.status = "processing"
    transcript.error = None
    await session.flush()
    return job
