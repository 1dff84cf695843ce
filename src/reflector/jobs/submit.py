"""Create a processing job for a transcript, with the options it will run with."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from reflector.bus import EventBus
from reflector.db.tables import JobRow, TranscriptRow
from reflector.domain.status import TranscriptStatus
from reflector.pipelines.lifecycle import announce_status, apply_status
from reflector.pipelines.stages import JobOptions
from reflector.settings import Settings


async def create_job(
    session: AsyncSession,
    transcript: TranscriptRow,
    settings: Settings,
    summarize: bool | None = None,
) -> JobRow:
    """A queued job for ``transcript``; the transcript goes to ``processing`` (not committed,
    not announced: see :func:`start_processing`).

    ``summarize``: ``None`` summarises recordings over a minute. Raises
    :class:`~reflector.domain.status.IllegalTransition` when the transcript cannot be
    processed from its status.
    """
    options = JobOptions(
        model=settings.asr_model,
        language=transcript.source_language,
        summary_language=transcript.target_language,
        diarize=settings.diarization_backend != "off",
        summarize=summarize,
    )
    apply_status(transcript, TranscriptStatus.PROCESSING)
    job = JobRow(transcript_id=transcript.id, options=options.to_dict())
    session.add(job)
    await session.flush()
    return job


async def start_processing(
    session: AsyncSession,
    bus: EventBus,
    transcript: TranscriptRow,
    settings: Settings,
    summarize: bool | None = None,
) -> JobRow:
    """:func:`create_job`, committed with the rest of the session, then announced (the
    ``STATUS`` event and the owner's ``TRANSCRIPT_STATUS``). The caller submits the job."""
    job = await create_job(session, transcript, settings, summarize)
    await session.commit()
    await announce_status(
        session, bus, transcript.id, transcript.user_id, TranscriptStatus.PROCESSING
    )
    return job
