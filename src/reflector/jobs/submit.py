"""Create a processing job for a transcript, with the options it will run with."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from reflector.bus import EventBus
from reflector.db.tables import ACTIVE_JOB_INDEX, JobRow, TranscriptRow
from reflector.domain.status import TranscriptStatus
from reflector.errors import BadInputError
from reflector.pipelines.lifecycle import announce_status, apply_status
from reflector.pipelines.stages import JobOptions
from reflector.settings import Settings


class TranscriptBusy(BadInputError):
    """The transcript already has a job queued or running (the database allows one)."""

    status = 409
    problem_type = "transcript-busy"


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
    processed from its status, and :class:`TranscriptBusy` (the session rolled back) when
    another request started a job for it first.
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
    try:
        await session.flush()
    except IntegrityError as error:
        # The partial unique index on active jobs: a concurrent request won the race.
        await session.rollback()
        if ACTIVE_JOB_INDEX in str(error.orig) or "jobs.transcript_id" in str(error.orig):
            raise TranscriptBusy(
                "the transcript is already being processed; wait until it ends"
            ) from error
        raise
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
