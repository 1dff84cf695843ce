"""The distributed job mode: the file pipeline's stages as Celery tasks (``reflector worker``).

A job is three tasks, each on its own queue so that heavy audio work, LLM work and quick work can
be given to different machines::

    process_audio (audio: prepare, transcribe, diarize) → summarize (llm) → finish (quick)

(a multitrack job's audio stages are prepare_tracks, transcribe_tracks and segments).

Each task calls :func:`reflector.jobs.runner.run_job` with its stages; the runner claims the job's
lease and skips stages already recorded as finished, so a task delivered twice (``acks_late``:
a message is acknowledged only after its task returns, so a killed worker's task is delivered
again) resumes the job instead of repeating it. ``reflector beat`` runs :func:`requeue_orphans`,
which sends jobs that no worker holds back to the queues.

The app is configured from :func:`reflector.settings.get_settings` when this module is imported.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import structlog
from celery import Celery, Task
from celery.signals import setup_logging, worker_process_shutdown, worker_shutdown
from kombu import Exchange, Queue

from reflector.settings import Settings, get_settings

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

    from reflector.jobs.runner import JobDeps

log = structlog.get_logger(__name__)

AUDIO_QUEUE = "audio"
LLM_QUEUE = "llm"
QUICK_QUEUE = "quick"
QUEUES = (AUDIO_QUEUE, LLM_QUEUE, QUICK_QUEUE)

AUDIO_STAGES = (
    *("prepare", "transcribe", "diarize"),  # file
    *("prepare_tracks", "transcribe_tracks", "segments"),  # multitrack
)
LLM_STAGES = ("summarize",)
QUICK_STAGES = ("finish",)

RETRY_BACKOFF_SECONDS = 5
RETRY_BACKOFF_MAX_SECONDS = 300
"""Well under the Redis transport's visibility timeout (an hour), past which a message that
waits for its retry in a worker would be delivered a second time."""
MAX_RETRIES = 8
BUSY_RETRIES = 10

T = TypeVar("T")


def webhook_round_seconds(settings: Settings) -> float:
    """How often beat sends a webhook round: the poll interval, but not more than one message
    every few seconds on the broker."""
    return max(settings.webhook_poll_seconds, 5.0)


def _periodic(task: str, seconds: float) -> dict[str, Any]:
    """A beat entry run every ``seconds`` on the quick queue; a round nobody ran in time
    expires, superseded by the next one."""
    return {
        "task": task,
        "schedule": seconds,
        "options": {"queue": QUICK_QUEUE, "expires": seconds},
    }


def make_celery(settings: Settings) -> Celery:
    """A Celery app for ``settings``: Redis broker, late acknowledgement, three queues."""
    app = Celery("reflector")
    sweep = settings.job_sweep_seconds
    transport_options: dict[str, Any] = {}
    if settings.celery_key_prefix:
        transport_options["global_keyprefix"] = settings.celery_key_prefix
    app.conf.update(
        broker_url=settings.celery_broker_url or settings.redis_url,
        broker_transport_options=transport_options,
        broker_connection_retry_on_startup=True,
        # Results live in the database (job and transcript rows); nobody waits on a task.
        task_ignore_result=True,
        task_serializer="json",
        accept_content=["json"],
        result_serializer="json",
        # A message is acknowledged after its task returns, and given back if the process
        # running it dies, so work is never lost with a worker; the job's lease and finished
        # stages make the second delivery resume, not repeat.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        # A job uses every core for minutes: a worker takes one message at a time and leaves
        # the rest to idle workers.
        worker_prefetch_multiplier=1,
        task_queues=[Queue(name, Exchange(name), routing_key=name) for name in QUEUES],
        task_default_queue=QUICK_QUEUE,
        task_routes={
            "reflector.process_audio": {"queue": AUDIO_QUEUE},
            "reflector.summarize": {"queue": LLM_QUEUE},
            "reflector.finish": {"queue": QUICK_QUEUE},
            "reflector.requeue_orphans": {"queue": QUICK_QUEUE},
            "reflector.expire_uploads": {"queue": QUICK_QUEUE},
            "reflector.deliver_webhooks": {"queue": QUICK_QUEUE},
            "reflector.integrations": {"queue": QUICK_QUEUE},
            "reflector.read_whereby_queue": {"queue": QUICK_QUEUE},
            "reflector.retry_recordings": {"queue": QUICK_QUEUE},
            "reflector.poll_recordings": {"queue": QUICK_QUEUE},
        },
        # Reflector configures logging itself (structlog on stderr), and stage code prints
        # nothing that should become log records.
        worker_hijack_root_logger=False,
        worker_redirect_stdouts=False,
        beat_schedule={
            "requeue-orphaned-jobs": _periodic("reflector.requeue_orphans", sweep),
            # Unfinished uploads untouched for ``upload_expiry_seconds``: marked expired, and
            # their bytes removed where the worker shares the API server's data dir (each API
            # server also clears its own disk; see ``jobs.housekeeping``).
            "expire-uploads": _periodic("reflector.expire_uploads", sweep),
            # Webhook deliveries that are due (first tries and retries).
            "deliver-webhooks": _periodic(
                "reflector.deliver_webhooks", webhook_round_seconds(settings)
            ),
            # Zulip posts and summary emails that are due; room calendars that are due.
            "integrations": _periodic("reflector.integrations", sweep),
            # Daily's recent recordings (a webhook may have been lost), and pending ones.
            "poll-recordings": _periodic(
                "reflector.poll_recordings", settings.recording_poll_seconds
            ),
            "retry-failed-recordings": _periodic("reflector.retry_recordings", sweep),
            # Whereby's bucket notifications, when a queue is configured.
            **(
                {
                    "read-whereby-queue": _periodic(
                        "reflector.read_whereby_queue", settings.whereby_sqs_poll_seconds
                    )
                }
                if settings.whereby_sqs_queue_url
                else {}
            ),
        },
        beat_schedule_filename=str(settings.data_dir / "celerybeat-schedule"),
        timezone="UTC",
    )
    return app


app = make_celery(get_settings())


@setup_logging.connect
def _configure_logging(**_: Any) -> None:
    # Connecting this signal also stops Celery from installing its own root handlers.
    from reflector.logging_setup import configure_logging

    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format)


# --- per-process resources -----------------------------------------------------------------


@dataclass
class WorkerContext:
    """What a worker process keeps between tasks: one event loop and the job dependencies.

    The database pool and the Redis bus belong to the loop they were opened on, so every task
    of the process runs on this one loop rather than a fresh ``asyncio.run`` each time.
    """

    loop: asyncio.AbstractEventLoop
    engine: AsyncEngine
    deps: JobDeps

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(coroutine)


async def _open_context(settings: Settings, loop: asyncio.AbstractEventLoop) -> WorkerContext:
    # Imported here: the server imports this module only to send tasks, and beat not even that.
    from reflector.jobs.resources import open_resources

    # One task at a time per process: a small pool is plenty.
    engine, deps = open_resources(settings, pool_size=2)
    return WorkerContext(loop, engine, deps)


_contexts: dict[int, WorkerContext] = {}
"""The context of this process, by pid: a prefork child must not use the loop or connections
of the process it was forked from, so it builds its own on its first task."""


def worker_context() -> WorkerContext:
    """This process's loop and job dependencies, built on first use."""
    pid = os.getpid()
    context = _contexts.get(pid)
    if context is None:
        _contexts.clear()  # an inherited parent's context, if any, is not ours to use
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        context = loop.run_until_complete(_open_context(get_settings(), loop))
        _contexts[pid] = context
        log.info("worker_process_ready", pid=pid)
    return context


@worker_process_shutdown.connect
@worker_shutdown.connect
def _close_worker_context(**_: Any) -> None:
    context = _contexts.pop(os.getpid(), None)
    if context is None or context.loop.is_closed():
        return

    async def close() -> None:
        await context.deps.bus.close()
        await context.engine.dispose()

    try:
        context.run(close())
    finally:
        context.loop.close()


# --- tasks ---------------------------------------------------------------------------------


def busy_countdown(retries: int, lease_seconds: float) -> float:
    """Seconds before asking again for a job another worker holds: 2, 4, 8 … up to a lease."""
    return min(2.0 ** (retries + 1), lease_seconds)


def _run_stages(task: Task, job_id: str, stages: tuple[str, ...]) -> str:
    from reflector.jobs.recovery import pending_stage
    from reflector.jobs.runner import run_job, worker_id

    context = worker_context()
    # The task id in the owner keeps two tasks of one process apart, while a retry of the same
    # task (same id) can take back a lease it still holds.
    owner = f"{worker_id()}/{task.request.id}"
    outcome = context.run(run_job(context.deps, job_id, owner, stages=stages))
    log.info("job_task_finished", job=job_id, task=task.name, outcome=outcome)
    if outcome == "busy":
        # Another worker holds the lease. If it is alive it carries the job on by itself; if
        # it died (e.g. the process that ran this very message before it came back), the
        # lease runs out soon, so ask again a few times and then leave the job to its holder
        # and to the orphan sweep.
        if task.request.retries >= BUSY_RETRIES:
            log.info("job_left_to_its_holder", job=job_id, task=task.name)
            return outcome
        lease = context.deps.settings.job_lease_seconds
        raise task.retry(
            countdown=busy_countdown(task.request.retries, lease), max_retries=BUSY_RETRIES
        )
    if outcome == "partial":
        stage = context.run(pending_stage(context.deps.sessions, job_id))
        if stage is not None:  # None: someone else ended the job meanwhile
            send_stage(job_id, stage)
    return outcome


_RETRYING: dict[str, Any] = {
    "bind": True,
    "acks_late": True,
    "autoretry_for": (Exception,),
    "retry_backoff": RETRY_BACKOFF_SECONDS,
    "retry_backoff_max": RETRY_BACKOFF_MAX_SECONDS,
    "retry_jitter": True,
    "max_retries": MAX_RETRIES,
}


@app.task(name="reflector.process_audio", **_RETRYING)
def process_audio(self: Task, job_id: str) -> str:
    """Decode, transcribe and diarize (or, multitrack: pad and mix the tracks, transcribe
    each, build the segments); then hand the job to :func:`summarize`."""
    return _run_stages(self, job_id, AUDIO_STAGES)


@app.task(name="reflector.summarize", **_RETRYING)
def summarize(self: Task, job_id: str) -> str:
    """Title, topics, summaries and action items; then hand the job to :func:`finish`."""
    return _run_stages(self, job_id, LLM_STAGES)


@app.task(name="reflector.finish", **_RETRYING)
def finish(self: Task, job_id: str) -> str:
    """Mark the transcript ended and tell its viewers."""
    return _run_stages(self, job_id, QUICK_STAGES)


# No retries: the next sweep comes soon anyway.
@app.task(name="reflector.requeue_orphans", acks_late=True)
def requeue_orphans() -> int:
    """Send every job that no worker is working on back to its queue (run by beat)."""
    from reflector.jobs.recovery import take_orphans

    context = worker_context()
    settings = context.deps.settings
    orphans = context.run(take_orphans(context.deps.sessions, settings.job_requeue_seconds))
    for orphan in orphans:
        log.warning("job_requeued", job=orphan.job_id, stage=orphan.next_stage)
        send_stage(orphan.job_id, orphan.next_stage)
    return len(orphans)


# No retries: the next sweep comes soon anyway.
@app.task(name="reflector.expire_uploads", acks_late=True)
def expire_uploads() -> int:
    """Mark expired the uploads nobody finished in time and remove their staged bytes (run by
    beat); returns how many expired."""
    from reflector.blobs.staging import UploadStaging
    from reflector.jobs.housekeeping import expire_uploads as expire

    context = worker_context()
    settings = context.deps.settings
    staging = UploadStaging.in_data_dir(settings.data_dir)
    return context.run(expire(context.deps.sessions, staging, settings.upload_expiry_seconds))


# No retries: the next round comes soon, and a delivery cut off is taken over after its lease.
@app.task(name="reflector.deliver_webhooks", acks_late=True)
def deliver_webhooks() -> int:
    """Send the webhook deliveries that are due, for one round at most (run by beat)."""
    from reflector.integrations.webhooks.sender import drain_due

    context = worker_context()
    settings = context.deps.settings
    # Claims no new batch after one period, so the quick queue is not held for long; rounds
    # that overlap (a slow receiver) never send a delivery twice: each claims its own.
    seconds = webhook_round_seconds(settings)
    return context.run(drain_due(context.deps.sessions, settings, seconds))


async def _submit_job(job_id: str) -> None:
    enqueue_job(job_id)


@app.task(name="reflector.read_whereby_queue", acks_late=True)
def read_whereby_queue() -> int:
    """Record the recordings Whereby's bucket announced on its SQS queue and start their
    transcripts (run by beat); returns how many were new."""
    from reflector.jobs.recording_chores import read_whereby_queue as read
    from reflector.jobs.recording_chores import recording_deps

    context = worker_context()
    return context.run(read(recording_deps(context.deps, _submit_job)))


@app.task(name="reflector.retry_recordings", acks_late=True)
def retry_recordings() -> int:
    """Try failed platform recordings again, when due (run by beat)."""
    from reflector.jobs.recording_chores import recording_deps
    from reflector.jobs.recording_chores import retry_recordings as retry

    context = worker_context()
    return context.run(retry(recording_deps(context.deps, _submit_job)))


@app.task(name="reflector.poll_recordings", acks_late=True)
def poll_recordings() -> int:
    """Ask Daily for recent recordings a webhook may have missed, and ingest every pending
    recording (run by beat); returns the transcripts made."""
    from reflector.jobs.recording_chores import recording_deps
    from reflector.pipelines.recordings import poll_recordings as poll

    context = worker_context()
    return len(context.run(poll(recording_deps(context.deps, _submit_job))))


# No retries: the next round comes soon, and each notification keeps its own tries.
@app.task(name="reflector.integrations", acks_late=True)
def integrations() -> int:
    """Send the Zulip posts and summary emails that are due and read the room calendars that
    are due (run by beat); how many of them were handled."""
    from reflector.integrations.tasks import run_due

    context = worker_context()
    deps = context.deps
    tick = context.run(run_due(deps.sessions, deps.blobs, deps.settings))
    return tick.notifications + tick.calendars


def send_stage(job_id: str, stage: str) -> None:
    """Send the task that runs ``stage`` of the job."""
    if stage in QUICK_STAGES:
        finish.apply_async((job_id,), queue=QUICK_QUEUE)
    elif stage in LLM_STAGES:
        summarize.apply_async((job_id,), queue=LLM_QUEUE)
    else:
        process_audio.apply_async((job_id,), queue=AUDIO_QUEUE)


def enqueue_job(job_id: str) -> None:
    """Start a queued job: its first task goes to the ``audio`` queue."""
    process_audio.apply_async((job_id,), queue=AUDIO_QUEUE)
