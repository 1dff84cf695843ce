"""Create a processing job for a transcript, with the options it will run with."""

from __future__ import annotations

from datetime import timedelta

import structlog
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from reflector.bus import EventBus
from reflector.db.tables import ACTIVE_JOB_INDEX, JobRow, TranscriptRow, utcnow
from reflector.domain.status import TranscriptStatus
from reflector.errors import BadInputError
from reflector.pipelines.lifecycle import announce_status, apply_status
from reflector.pipelines.registry import pipeline_stages
from reflector.pipelines.stages import JobOptions
from reflector.settings import Settings

log = structlog.get_logger(__name__)


class TranscriptBusy(BadInputError):
    """The transcript already has a job queued or running (the database allows one)."""

    status = 409
    problem_type = "transcript-busy"


async def create_job(
    session: AsyncSession,
    transcript: TranscriptRow,
    settings: Settings,
    summarize: bool | None = None,
    pipeline: str = "file",
) -> JobRow:
    """A queued job for ``transcript``; the transcript goes to ``processing`` (not committed,
    not announced: see :func:`start_processing`).

    ``summarize``: ``None`` summarises recordings over a minute. ``pipeline``: ``file`` (the
    transcript's upload) or ``multitrack`` (its ``tracks``, one per participant). Raises
    :class:`~reflector.domain.status.IllegalTransition` when the transcript cannot be
    processed from its status, and :class:`TranscriptBusy` (the session rolled back) when
    another request started a job for it first.
    """
    pipeline_stages(pipeline)  # an unknown name fails here, not in a worker
    if pipeline == "multitrack" and not transcript.tracks:
        raise BadInputError("a multitrack job needs the transcript's tracks")
    options = JobOptions(
        model=settings.asr_model,
        language=transcript.source_language,
        summary_language=transcript.target_language,
        # Each track is one speaker: nobody needs to be told apart.
        diarize=pipeline == "file" and settings.diarization_backend != "off",
        summarize=summarize,
    )
    apply_status(transcript, TranscriptStatus.PROCESSING)
    job = JobRow(transcript_id=transcript.id, pipeline=pipeline, options=options.to_dict())
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
    pipeline: str = "file",
) -> JobRow:
    """:func:`create_job`, committed with the rest of the session, then announced (the
    ``STATUS`` event and the owner's ``TRANSCRIPT_STATUS``). The caller submits the job.

    Once committed the job exists, whatever happens next: an event bus that cannot be reached
    only means that the news is not published (the ``STATUS`` event is stored, and replayed to
    whoever subscribes; see :mod:`reflector.pipelines.publish`)."""
    job = await create_job(session, transcript, settings, summarize, pipeline)
    await session.commit()
    await announce_status(
        session, bus, transcript.id, transcript.user_id, TranscriptStatus.PROCESSING
    )
    return job


async def submission_failed(
    sessions: async_sessionmaker, job_id: str, settings: Settings, error: BaseException
) -> None:
    """The job could not be handed to the workers (the broker is down): it stays queued in the
    database, marked as waiting for long enough that the next sweep (``reflector beat``, or
    the in-process runner's housekeeping) sends it again, instead of after
    ``job_requeue_seconds``."""
    log.warning("job_not_submitted", job=job_id, error=f"{type(error).__name__}: {error}")
    waited = utcnow() - timedelta(seconds=settings.job_requeue_seconds + 1)
    async with sessions() as session:
        await session.execute(
            update(JobRow)
            .where(JobRow.id == job_id, JobRow.status == "queued", JobRow.lease_owner.is_(None))
            .values(updated_at=waited)
        )
        await session.commit()


def pipeline_for(transcript: TranscriptRow) -> str:
    """The pipeline that processes ``transcript``: ``multitrack`` when it has tracks."""
    return "multitrack" if transcript.tracks else "file"
