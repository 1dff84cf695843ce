"""Faults injected into the real components while a job runs, each checked for what a user would
see afterwards: the transcript ends (nothing lost), or, once deleted, nothing of it remains.

- PostgreSQL closed to new connections and its connections killed (``pg_terminate_backend``)
  for a few seconds in the middle of a stage;
- the S3 service (SeaweedFS) stopped for 30 s in the middle of a stage;
- a worker that lost its lease, still running, tries to write over the new owner's results;
- a transcript permanently deleted while its job runs;
- the disk full (a small tmpfs) while an upload is written, while it is stored, and under
  a running job;
- the Celery broker down when processing starts; abandoned uploads expired by beat;
- Redis (the event bus) restarted in the middle of a job.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import hashlib
import importlib
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import asyncpg
import botocore.exceptions
import numpy as np
import pytest
import redis
from sqlalchemy import func, select
from structlog.testing import capture_logs

from reflector.audio import SAMPLE_RATE, decode_file
from reflector.blobs import BLOBS_DIR_NAME
from reflector.db.tables import (
    EventRow,
    JobRow,
    SegmentRow,
    TranscriptRow,
    UploadRow,
    utcnow,
)
from reflector.jobs import runner
from reflector.jobs.fencing import LeaseLost
from reflector.jobs.runner import JobDeps, run_job
from reflector.jobs.submit import create_job
from reflector.pipelines.stages import FILE_STAGES, StageContext
from reflector.settings import get_settings
from reflector_testkit.ports import free_port
from reflector_testkit.scoring import word_error_rate
from reflector_testkit.seaweed import SeaweedUnavailable, restartable_seaweed
from reflector_testkit.servers import (
    POSTGRES_ADMIN,
    closed_job_of,
    job_of,
    postgres_database,
    running_client,
    server_settings,
    wait_for_status,
)

pytestmark = pytest.mark.slow

RETRY_SECONDS = 60.0
"""The retry budget of the tests' jobs: more than the outages they survive (3 to 30 s)."""


# --- helpers -----------------------------------------------------------------------------------


@contextlib.contextmanager
def app(tmp_path: Path, database_url: str | None, **overrides) -> Iterator:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("REFLECTOR_LLM_BACKEND", "extractive")
        settings = server_settings(
            tmp_path, database_url, job_retry_seconds=RETRY_SECONDS, **overrides
        )
        with running_client(settings) as client:
            yield client


def upload(client, clip_path: Path, name: str = "fault") -> str:
    tid = client.post("/v1/transcripts", json={"name": name}).json()["id"]
    response = client.post(
        f"/v1/transcripts/{tid}/upload",
        params={"filename": "clip.wav", "summarize": "true"},
        content=clip_path.read_bytes(),
    )
    assert response.status_code == 200, response.text
    return tid


def wait_for_stage(client, tid: str, stage: str, timeout: float = 120) -> None:
    """Until the transcript's job is in ``stage`` (polled every 10 ms)."""
    deadline = time.monotonic() + timeout
    while True:
        job = job_of(client, tid)
        if job is not None and job.current_stage == stage:
            return
        assert time.monotonic() < deadline, f"the job never reached {stage}: {job}"
        time.sleep(0.01)


def segments_text(client, tid: str) -> str:
    return " ".join(s["text"] for s in client.get(f"/v1/transcripts/{tid}/segments").json())


def retried(logs: list[dict]) -> list[str]:
    """What the jobs tried again, from the captured log entries."""
    return [entry["what"] for entry in logs if entry["event"] == "transient_error_retrying"]


def in_thread(work: Callable[[], object]) -> Callable[[], object]:
    """Run ``work`` in a thread now; the returned function joins it and gives its result."""
    result: dict[str, object] = {}

    def target() -> None:
        try:
            result["value"] = work()
        except BaseException as error:  # handed to the test's thread
            result["error"] = error

    thread = threading.Thread(target=target, daemon=True)
    thread.start()

    def join() -> object:
        thread.join(timeout=300)
        if "error" in result:
            raise result["error"]  # type: ignore[misc]
        return result.get("value")

    return join


# --- which errors are worth another try ----------------------------------------------------------


def test_errors_that_pass_are_told_from_those_that_do_not(tmp_path):
    from reflector.blobs import BlobNotFound, BlobUnavailable, LocalBlobStore, S3BlobStore
    from reflector.pipelines.stages import StageFailed
    from reflector.pipelines.transient import is_transient

    # A real S3 client pointed at a port nothing listens on: unreachable is worth a retry.
    nowhere = S3BlobStore("bucket", endpoint_url=f"http://127.0.0.1:{free_port()}",
                          access_key="k", secret_key="s", max_attempts=1)  # fmt: skip
    with pytest.raises(BlobUnavailable) as unreachable:
        asyncio.run(nowhere.get_bytes("transcripts/x/a.json"))
    assert is_transient(unreachable.value)
    # A missing blob is not: it will be missing next time too.
    with pytest.raises(BlobNotFound) as missing:
        asyncio.run(LocalBlobStore(tmp_path).get_bytes("transcripts/x/a.json"))
    assert not is_transient(missing.value)
    assert not is_transient(StageFailed("the audio cannot be decoded"))
    assert not is_transient(ValueError("a programming error"))
    assert is_transient(ConnectionRefusedError())
    # A full disk (the work folder, a decoded recording, a local blob) passes when room is made.
    assert is_transient(OSError(errno.ENOSPC, "No space left on device"))
    assert not is_transient(OSError(errno.EACCES, "Permission denied"))


def test_a_negative_retry_budget_is_refused_with_its_name(tmp_path):
    from pydantic import ValidationError

    from reflector.settings import Settings

    with pytest.raises(ValidationError, match="job_retry_seconds"):
        Settings(data_dir=tmp_path, job_retry_seconds=-1)


# --- transient errors are retried inside a stage -----------------------------------------------


@dataclass
class Outage:
    killed: int = 0
    """Backends terminated while the database was closed."""


async def _postgres_outage(url: str, tid: str, stage: str, seconds: float) -> Outage:
    """When the job enters ``stage``: the database refuses new connections and every
    connection to it is killed, over and over, for ``seconds``; then it opens again."""
    watcher = await asyncpg.connect(url)
    try:
        deadline = time.monotonic() + 120
        query = "SELECT current_stage FROM jobs WHERE transcript_id = $1"
        while await watcher.fetchval(query, tid) != stage:
            assert time.monotonic() < deadline, f"the job never reached {stage}"
            await asyncio.sleep(0.01)
    finally:
        await watcher.close()
    return await _postgres_down(url, seconds)


async def _postgres_down(url: str, seconds: float) -> Outage:
    """The database refuses new connections and every connection to it is killed, over and
    over, for ``seconds``; then it opens again."""
    name = url.rsplit("/", 1)[1]
    admin = await asyncpg.connect(f"{POSTGRES_ADMIN}/postgres")
    outage = Outage()
    try:
        await admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false')
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            outage.killed += await admin.fetchval(
                "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE datname = $1 AND pid <> pg_backend_pid()",
                name,
            )
            await asyncio.sleep(0.05)
    finally:
        await admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true')
        await admin.close()
    return outage


def test_postgres_gone_for_seconds_mid_stage_the_job_still_ends(tmp_path, piper_clip):
    with postgres_database() as url, app(tmp_path, url) as client, capture_logs() as logs:
        tid = client.post("/v1/transcripts", json={"name": "database outage"}).json()["id"]
        outage = in_thread(lambda: asyncio.run(_postgres_outage(url, tid, "transcribe", 4.0)))
        response = client.post(
            f"/v1/transcripts/{tid}/upload",
            params={"filename": "clip.wav", "summarize": "true"},
            content=piper_clip.path.read_bytes(),
        )
        assert response.status_code == 200, response.text
        assert outage().killed > 0  # the job's connections were cut mid-stage
        body = wait_for_status(client, tid, {"ended", "error"}, timeout=180)
        assert body["status"] == "ended", body
        job = closed_job_of(client, tid)
        # The same worker carried it through: no second claim, no stage started twice over.
        assert job.status == "done" and job.attempts == 1
        assert job.stages_done == list(FILE_STAGES)
        assert word_error_rate(piper_clip.text, segments_text(client, tid)) < 0.2
    assert retried(logs), "the outage never reached the job"


def _on_s3(s3) -> dict[str, str]:
    """Settings that keep the app's blobs in the SeaweedFS bucket ``s3``."""
    return {
        "storage_backend": "s3",
        "s3_bucket": s3.bucket,
        "s3_endpoint_url": s3.endpoint_url,
        "s3_access_key": s3.access_key,
        "s3_secret_key": s3.secret_key,
    }


def test_s3_stopped_for_seconds_mid_stage_the_job_still_ends(tmp_path, piper_clip):
    (tmp_path / "seaweed").mkdir()
    with contextlib.ExitStack() as stack:
        try:
            weed = stack.enter_context(restartable_seaweed(tmp_path / "seaweed"))
        except SeaweedUnavailable as error:
            pytest.fail(str(error))
        s3 = weed.server
        with app(tmp_path / "data", None, **_on_s3(s3)) as client, capture_logs() as logs:
            tid = upload(client, piper_clip.path, "storage outage")
            wait_for_stage(client, tid, "prepare")
            # Killed, not asked to stop: every S3 call fails from this instant.
            weed.process.send_signal(signal.SIGKILL)
            weed.process.wait()
            weed.process = None
            time.sleep(30)  # as long as a real restart of the storage service may take
            weed.start()
            body = wait_for_status(client, tid, {"ended", "error"}, timeout=180)
            assert body["status"] == "ended", body
            assert body["has_audio"]
            assert client.get(f"/v1/transcripts/{tid}/audio.mp3").status_code == 200
            assert word_error_rate(piper_clip.text, segments_text(client, tid)) < 0.2
            job = closed_job_of(client, tid)
            assert job.status == "done" and job.attempts == 1
        assert retried(logs), "the outage never reached the job"


# --- a worker that lost its lease writes nothing -----------------------------------------------


@pytest.fixture(params=["sqlite", "postgres"])
def quiet_app(request, tmp_path):
    """The app, its runner's sweep too slow to interfere with jobs the test runs itself."""
    if request.param == "sqlite":
        with app(tmp_path, None, job_sweep_seconds=3600) as client:
            yield client
    else:
        with postgres_database() as url, app(tmp_path, url, job_sweep_seconds=3600) as client:
            yield client


def test_a_worker_that_lost_its_lease_cannot_overwrite_the_new_owners_results(
    quiet_app, piper_clip, monkeypatch
):
    client = quiet_app
    state = client.app.state.reflector
    deps = JobDeps(state.settings, state.sessions, state.blobs, state.bus)
    tid = upload(client, piper_clip.path, "fenced")
    assert wait_for_status(client, tid, {"ended", "error"})["status"] == "ended"
    closed_job_of(client, tid)  # the first job is closed, so a new one may start
    real_transcribe = runner.STAGE_FUNCTIONS["transcribe"]
    stalled = asyncio.Event()
    resume = asyncio.Event()
    attempts: dict[str, str] = {}

    async def transcribe(ctx: StageContext) -> None:
        if "stalled" in attempts:  # the new owner: the real stage
            await real_transcribe(ctx)
            return
        # The first worker stalls here (a long pause, a frozen VM) past its lease ...
        attempts["stalled"] = "yes"
        stalled.set()
        await resume.wait()
        # ... and, waking up, tries to write as if it still held the job.
        for name, write in {
            "transcript": lambda: ctx.update(title="written by a stale worker"),
            "blob": lambda: ctx.put_json("recognition", {"stale": True}),
        }.items():
            try:
                await write()
                attempts[name] = "written"
            except LeaseLost:
                attempts[name] = "refused"

    monkeypatch.setitem(runner.STAGE_FUNCTIONS, "transcribe", transcribe)

    async def scenario() -> tuple[str, str, str]:
        async with state.sessions() as session:
            row = await session.get(TranscriptRow, tid)
            job = await create_job(session, row, state.settings, summarize=True)
            await session.commit()
        first = asyncio.create_task(run_job(deps, job.id, "worker-a"))
        await stalled.wait()
        async with state.sessions() as session:  # worker A's lease runs out
            row = await session.get(JobRow, job.id)
            row.lease_expires = utcnow() - timedelta(seconds=1)
            await session.commit()
        second = await run_job(deps, job.id, "worker-b")
        resume.set()
        return job.id, second, await first

    job_id, second, first = client.portal.call(scenario)
    assert second == "done"
    assert first == "lost"
    assert attempts == {"stalled": "yes", "transcript": "refused", "blob": "refused"}
    body = client.get(f"/v1/transcripts/{tid}").json()
    assert body["status"] == "ended" and body["title"] != "written by a stale worker"
    assert word_error_rate(piper_clip.text, segments_text(client, tid)) < 0.2

    async def stored() -> tuple[JobRow, dict]:
        async with state.sessions() as session:
            job = await session.get(JobRow, job_id)
        return job, await state.blobs.get_bytes(f"transcripts/{tid}/stages/recognition.json")

    job, recognition = client.portal.call(stored)
    # Worker B's bookkeeping stands: A neither recorded its stage nor failed the job.
    assert job.status == "done" and job.stages_done == list(FILE_STAGES)
    assert job.lease_owner is None and job.error is None
    assert b"stale" not in recognition


def test_a_reprocess_right_after_ended_waits_for_the_job_to_close(
    quiet_app, piper_clip, monkeypatch
):
    """``ended`` (and its notifications) are committed before the job is marked done, so a
    worker that dies between them runs the finish stage again; a reprocess asked for in that
    moment waits for the job instead of being refused as busy."""
    client = quiet_app
    real_finish = runner.STAGE_FUNCTIONS["finish"]
    ended = threading.Event()

    async def finish(ctx: StageContext) -> None:
        await real_finish(ctx)
        ended.set()
        await asyncio.sleep(1.0)  # the job is still running, its transcript ended

    monkeypatch.setitem(runner.STAGE_FUNCTIONS, "finish", finish)
    tid = upload(client, piper_clip.path, "reprocessed at once")
    assert ended.wait(120)
    assert client.get(f"/v1/transcripts/{tid}").json()["status"] == "ended"
    again = client.post(f"/v1/transcripts/{tid}/process", params={"summarize": "false"})
    assert again.status_code == 202, again.text
    monkeypatch.setitem(runner.STAGE_FUNCTIONS, "finish", real_finish)
    assert wait_for_status(client, tid, {"ended", "error"})["status"] == "ended"


# --- deleting deletes ----------------------------------------------------------------------------


def _blob_keys(state, tid: str) -> list[str]:
    """Every blob under the transcript's prefix, whatever the store."""
    store = state.blobs
    if store.name == "local":
        folder = Path(state.settings.data_dir) / BLOBS_DIR_NAME / "transcripts" / tid
        return [str(p) for p in folder.rglob("*") if p.is_file()] if folder.exists() else []
    listed = store._client.list_objects_v2(Bucket=store.bucket, Prefix=f"transcripts/{tid}/")
    return [item["Key"] for item in listed.get("Contents", [])]


@pytest.fixture(params=["sqlite-local", "postgres-s3"])
def deleting_app(request, tmp_path, seaweed):
    if request.param == "sqlite-local":
        with app(tmp_path, None) as client:
            yield client
    else:
        with postgres_database() as url, app(tmp_path, url, **_on_s3(seaweed)) as client:
            yield client


def test_a_transcript_deleted_while_its_job_runs_leaves_nothing(deleting_app, piper_clip):
    client = deleting_app
    state = client.app.state.reflector
    tid = upload(client, piper_clip.path, "to delete")
    wait_for_stage(client, tid, "transcribe")  # the MP3 is stored; more is on its way
    assert _blob_keys(state, tid)
    deleted = client.delete(f"/v1/transcripts/{tid}", params={"permanent": "true"})
    assert deleted.status_code == 204, deleted.text
    client.portal.call(state.runner.join)  # the job has stopped

    assert client.get(f"/v1/transcripts/{tid}").status_code == 404
    assert _blob_keys(state, tid) == []

    async def rows() -> dict[str, int]:
        counts = {}
        async with state.sessions() as session:
            for table in (TranscriptRow, JobRow, EventRow, SegmentRow, UploadRow):
                column = table.id if table is TranscriptRow else table.transcript_id
                counts[table.__tablename__] = await session.scalar(
                    select(func.count()).select_from(table).where(column == tid)
                )
        return counts

    assert set(client.portal.call(rows).values()) == {0}
    work = Path(state.settings.data_dir) / "work"
    assert not work.exists() or list(work.iterdir()) == []


def test_a_permanent_delete_removes_unfinished_uploads_from_the_disk(tmp_path):
    with app(tmp_path, None) as client:
        tid = client.post("/v1/transcripts", json={"name": "half"}).json()["id"]
        opened = client.post(f"/v1/transcripts/{tid}/uploads", json={"filename": "a.wav"})
        upload_id = opened.json()["id"]
        put = client.put(f"/v1/transcripts/{tid}/uploads/{upload_id}", params={"offset": 0},
                         content=b"x" * 1000)  # fmt: skip
        assert put.status_code == 200
        staged = tmp_path / "uploads" / f"{upload_id}.part"
        assert staged.stat().st_size == 1000
        deleted = client.delete(f"/v1/transcripts/{tid}", params={"permanent": "true"})
        assert deleted.status_code == 204
        assert not staged.exists()
        # Asking for it now: the transcript and its upload are gone, not half there.
        gone = client.get(f"/v1/transcripts/{tid}/uploads/{upload_id}")
        assert gone.status_code == 404


# --- a full disk during an upload ----------------------------------------------------------------


@contextlib.contextmanager
def _tmpfs(folder: Path, size: str) -> Iterator[Path]:
    """``folder`` as a disk of ``size`` (a tmpfs; mounting needs root)."""
    folder.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
        capture_output=True, text=True,
    )  # fmt: skip
    if mounted.returncode != 0:
        pytest.skip(
            "a size-limited disk is a tmpfs mount, which this user may not make: "
            + (mounted.stderr.strip() or f"mount exited {mounted.returncode}")
        )
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


@pytest.fixture
def small_disks(tmp_path) -> Iterator[tuple[Path, Path]]:
    """A data dir whose upload staging folder is a 2 MB disk and whose blob store a 4 MB one."""
    with (
        _tmpfs(tmp_path / "uploads", "2m") as staging,
        _tmpfs(tmp_path / BLOBS_DIR_NAME, "4m") as blobs,
    ):
        yield staging, blobs


def _fill(folder: Path, leave: int) -> Path:
    """A file taking all of ``folder``'s free space but ``leave`` bytes."""
    filler = folder / "filler"
    filler.unlink(missing_ok=True)
    stat = os.statvfs(folder)
    filler.write_bytes(b"\0" * max(0, stat.f_bavail * stat.f_frsize - leave))
    return filler


def _insufficient_storage(response) -> dict:
    assert response.status_code == 507, response.text
    body = response.json()
    assert body["type"].endswith("/insufficient-storage"), body
    return body


def test_a_full_disk_during_an_upload_keeps_nothing_half_written_and_the_upload_resumes(
    tmp_path, small_disks, piper_clip
):
    small_disk, blobs = small_disks
    data = piper_clip.path.read_bytes()
    half = len(data) // 2
    second = data[half:]
    with app(tmp_path, None) as client:
        tid = client.post("/v1/transcripts", json={"name": "full disk"}).json()["id"]
        opened = client.post(f"/v1/transcripts/{tid}/uploads",
                             json={"filename": "clip.wav", "size": len(data)})  # fmt: skip
        upload_id = opened.json()["id"]
        url = f"/v1/transcripts/{tid}/uploads/{upload_id}"
        assert client.put(url, params={"offset": 0}, content=data[:half]).status_code == 200
        staged = small_disk / f"{upload_id}.part"

        def left_behind() -> list[str]:
            return sorted(p.name for p in small_disk.iterdir() if p.suffix == ".chunk")

        # No room for the chunk itself, then room for it but not for its copy into the upload.
        for room in (len(second) // 2, len(second) * 3 // 2):
            _fill(small_disk, room)
            refused = _insufficient_storage(client.put(url, params={"offset": half},
                                                       content=second))  # fmt: skip
            assert refused["expected_offset"] == half
            assert client.get(url).json()["received"] == half
            assert staged.stat().st_size == half  # nothing half-written kept
            assert left_behind() == []
        # A whole file in one request: refused the same way, nothing of it kept.
        other = client.post("/v1/transcripts", json={"name": "whole"}).json()["id"]
        whole = client.post(f"/v1/transcripts/{other}/upload", params={"filename": "clip.wav"},
                            content=data)  # fmt: skip
        _insufficient_storage(whole)
        assert client.get(f"/v1/transcripts/{other}").json()["status"] == "idle"
        assert sorted(p.name for p in small_disk.iterdir()) == sorted(
            ["filler", staged.name, f"{upload_id}.lock"]
        )

        # Room again: the upload goes on from where the server says, and is exact.
        (small_disk / "filler").unlink()
        resumed = client.put(url, params={"offset": half}, content=second)
        assert resumed.status_code == 200 and resumed.json()["received"] == len(data)
        checksum = {"Upload-Checksum": f"sha256 {hashlib.sha256(data).hexdigest()}"}
        # The blob store full when the finished upload is stored: the upload stays open.
        _fill(blobs, len(data) // 2)
        full = client.post(f"{url}/complete", params={"summarize": "false"}, headers=checksum)
        assert _insufficient_storage(full)["expected_offset"] == len(data)
        assert client.get(url).json()["status"] == "open"
        assert staged.read_bytes() == data
        assert sorted(p.name for p in blobs.rglob("*") if p.is_file()) == ["filler"]
        (blobs / "filler").unlink()
        done = client.post(f"{url}/complete", params={"summarize": "false"}, headers=checksum)
        assert done.status_code == 200, done.text
        stored = next((tmp_path / BLOBS_DIR_NAME / "transcripts" / tid).glob("upload*"))
        assert stored.read_bytes() == data
        assert wait_for_status(client, tid, {"ended", "error"})["status"] == "ended"
        assert word_error_rate(piper_clip.text, segments_text(client, tid)) < 0.2


def test_a_full_s3_store_at_complete_keeps_the_upload_open_until_there_is_room(
    tmp_path, piper_clip
):
    """SeaweedFS holding only a few 1 MB volumes, filled up: `complete` cannot store the
    file, the answer says to try again, and the upload stays open with every byte. Restarted
    with room: the same `complete` stores a byte-identical file and the transcript ends."""
    data = piper_clip.path.read_bytes()
    (tmp_path / "seaweed").mkdir()
    with contextlib.ExitStack() as stack:
        try:
            weed = stack.enter_context(restartable_seaweed(tmp_path / "seaweed", volumes=2))
        except SeaweedUnavailable as error:
            pytest.fail(str(error))
        s3 = weed.server
        bucket = s3.client()
        for index in range(20):  # filled with other data until a write is refused
            try:
                bucket.put_object(Bucket=s3.bucket, Key=f"filler/{index}", Body=b"x" * 2**20)
            except botocore.exceptions.ClientError:
                break
        else:
            pytest.fail("the small SeaweedFS store never filled up")
        with app(tmp_path / "data", None, **_on_s3(s3)) as client:
            tid = client.post("/v1/transcripts", json={"name": "full store"}).json()["id"]
            opened = client.post(f"/v1/transcripts/{tid}/uploads",
                                 json={"filename": "clip.wav", "size": len(data)})  # fmt: skip
            url = f"/v1/transcripts/{tid}/uploads/{opened.json()['id']}"
            assert client.put(url, params={"offset": 0}, content=data).status_code == 200
            checksum = {"Upload-Checksum": f"sha256 {hashlib.sha256(data).hexdigest()}"}
            full = client.post(f"{url}/complete", params={"summarize": "false"}, headers=checksum)
            # SeaweedFS answers a full store with a plain 500, which says only "not now":
            # a service that names it (HTTP 507) is answered 507 insufficient-storage.
            assert full.status_code in (503, 507), full.text
            assert full.json()["type"].rsplit("/", 1)[-1] in ("unavailable", "insufficient-storage")
            kept = client.get(url).json()
            assert kept["status"] == "open" and kept["received"] == len(data), kept
            assert client.get(f"/v1/transcripts/{tid}").json()["status"] == "idle"
            keys = bucket.list_objects_v2(Bucket=s3.bucket, Prefix="transcripts/")
            assert keys.get("KeyCount", 0) == 0  # no partial file stored
            # Room again (more volumes allowed): the same request goes through.
            weed.stop()
            weed.command = [a for a in weed.command if not a.startswith("-volume.max=")]
            weed.command.append("-volume.max=16")
            weed.start()
            done = client.post(f"{url}/complete", params={"summarize": "false"}, headers=checksum)
            assert done.status_code == 200, done.text
            stored = [o["Key"] for o in bucket.list_objects_v2(
                Bucket=s3.bucket, Prefix=f"transcripts/{tid}/upload")["Contents"]]  # fmt: skip
            body = bucket.get_object(Bucket=s3.bucket, Key=stored[0])["Body"].read()
            assert body == data
            assert wait_for_status(client, tid, {"ended", "error"})["status"] == "ended"
            assert word_error_rate(piper_clip.text, segments_text(client, tid)) < 0.2


def test_a_full_disk_under_a_running_job_is_waited_out(tmp_path, piper_clip):
    """The work folder's disk full when the job starts (it cannot even copy the upload there):
    the stage is tried again until room is made, and the job ends as if nothing happened."""
    with (
        _tmpfs(tmp_path / "work", "4m") as work,
        app(tmp_path, None) as client,
        capture_logs() as logs,
    ):
        filler = _fill(work, 0)
        tid = upload(client, piper_clip.path, "full work disk")
        deadline = time.monotonic() + 60
        while not retried(logs):
            assert time.monotonic() < deadline, "the full disk never reached the job"
            time.sleep(0.05)
        time.sleep(2)
        filler.unlink()  # room again
        body = wait_for_status(client, tid, {"ended", "error"})
        assert body["status"] == "ended", body
        assert word_error_rate(piper_clip.text, segments_text(client, tid)) < 0.2
        job = closed_job_of(client, tid)
        assert job.status == "done" and job.attempts == 1


# --- Redis: the Celery broker and the event bus --------------------------------------------------


class RedisServer:
    """A Redis server of the test's own, on a free port (never the shared one), that can be
    stopped and started again; without persistence, as a cache-like broker often runs."""

    def __init__(self, folder: Path) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.folder = folder
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.folder),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis.from_url(self.url)
        deadline = time.monotonic() + 20
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                assert time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.05)
        client.close()

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None


@pytest.fixture
def own_redis(tmp_path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path)
    try:
        yield server
    finally:
        server.kill()


def test_redis_restarted_mid_job_the_job_ends_and_its_events_catch_up(
    tmp_path, own_redis, piper_clip
):
    own_redis.start()
    with app(tmp_path, None, bus_backend="redis", redis_url=own_redis.url) as client:
        tid = client.post("/v1/transcripts", json={"name": "bus outage"}).json()["id"]
        with client.websocket_connect(f"/v1/transcripts/{tid}/events") as socket:
            response = client.post(
                f"/v1/transcripts/{tid}/upload",
                params={"filename": "clip.wav", "summarize": "true"},
                content=piper_clip.path.read_bytes(),
            )
            assert response.status_code == 200, response.text
            wait_for_stage(client, tid, "transcribe")
            own_redis.kill()
            time.sleep(3)
            own_redis.start()
            # The subscription broke with Redis: the socket says so by closing.
            with contextlib.suppress(Exception):
                while True:
                    socket.receive_json()
        body = wait_for_status(client, tid, {"ended", "error"}, timeout=180)
        assert body["status"] == "ended", body
        assert word_error_rate(piper_clip.text, segments_text(client, tid)) < 0.2
        # A client that connects again gets every event, those of the outage included.
        replayed = []
        with client.websocket_connect(f"/v1/transcripts/{tid}/events") as socket:
            while not any(
                e["type"] == "STATUS" and e["data"]["value"] == "ended" for e in replayed
            ):
                replayed.append(socket.receive_json())
        stages = [e["data"]["stage"] for e in replayed if e["type"] == "PROGRESS"]
        assert stages == list(FILE_STAGES)
        assert any(e["type"] == "TRANSCRIPT" for e in replayed)
        assert job_of(client, tid).attempts == 1


def _speech_with_pause(clip, outage: float) -> tuple[bytes, str]:
    """16-bit PCM of ``clip``, and for a long ``outage`` a pause as long (at twice real time)
    and the clip again after it; with the reference text of what is said."""
    samples = decode_file(clip.path).samples
    if outage > 5:
        pause = np.zeros(round(outage * 2 * SAMPLE_RATE), np.float32)
        samples = np.concatenate([samples, pause, samples])
    reference = f"{clip.text} {clip.text}" if outage > 5 else clip.text
    return (np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes(), reference


def _talk_live(client, tid: str, pcm: bytes, two_seconds_in: Callable[[], None]) -> list[dict]:
    """Stream ``pcm`` at twice real time to the transcript's live socket, calling
    ``two_seconds_in`` after 2 s of audio; the messages received until ``stopped``."""
    step = SAMPLE_RATE // 10 * 2  # 0.1 s of 16-bit samples
    messages: list[dict] = []
    with client.websocket_connect(f"/v1/transcripts/{tid}/record/ws") as socket:
        socket.send_json({"type": "config", "sample_rate": 16000, "format": "s16le"})
        for first in range(0, len(pcm), step):
            if first == step * 20:
                two_seconds_in()
            socket.send_bytes(pcm[first : first + step])
            time.sleep(0.05)  # twice real time
        socket.send_json({"type": "stop"})
        while not messages or messages[-1]["type"] != "stopped":
            messages.append(socket.receive_json())
    return messages


def _assert_every_live_word_kept(client, tid: str, messages: list[dict], reference: str) -> None:
    """The client got the words; the transcript ends; every final word it was sent is stored
    (those of an outage included), and the transcript's text is right."""
    live = [w for m in messages if m["type"] == "transcript" for w in m["final"]]
    assert word_error_rate(reference, "".join(w["text"] for w in live)) <= 0.25
    done = wait_for_status(client, tid, {"ended", "error"}, timeout=240)
    assert done["status"] == "ended", done
    events = client.get(f"/v1/transcripts/{tid}/events").json()
    kept = [
        w
        for e in events
        if e["type"] == "TRANSCRIPT" and "final" in e["data"]
        for w in e["data"]["final"]
    ]
    assert [w["text"] for w in kept] == [w["text"] for w in live]
    assert word_error_rate(reference, segments_text(client, tid)) <= 0.15


@pytest.mark.parametrize("outage", [3.0, 30.0])
def test_redis_restarted_mid_live_session_nothing_is_lost(tmp_path, own_redis, piper_clip, outage):
    """Redis killed 2 s into a live session and started again ``outage`` seconds later; the
    client goes on talking throughout (twice real time), the clip said again after it."""
    pcm, reference = _speech_with_pause(piper_clip, outage)
    own_redis.start()
    with app(tmp_path, None, bus_backend="redis", redis_url=own_redis.url) as client:
        tid = client.post("/v1/transcripts", json={"name": "live bus outage"}).json()["id"]
        restarted = []

        def redis_away() -> None:
            own_redis.kill()
            restarted.append(in_thread(lambda: (time.sleep(outage), own_redis.start())))

        messages = _talk_live(client, tid, pcm, redis_away)
        assert restarted
        restarted[0]()
        _assert_every_live_word_kept(client, tid, messages, reference)


def test_postgres_gone_for_30_seconds_mid_live_session_nothing_is_lost(tmp_path, piper_clip):
    """The database closed and every connection to it killed for 30 s, 2 s into a live
    session that goes on talking: the words keep coming, and every final word sent is stored
    once the database is back; the transcript ends with the words of both clips."""
    pcm, reference = _speech_with_pause(piper_clip, 30.0)
    with postgres_database() as url, app(tmp_path, url) as client:
        tid = client.post("/v1/transcripts", json={"name": "live database outage"}).json()["id"]
        outages = []

        def database_away() -> None:
            outages.append(in_thread(lambda: asyncio.run(_postgres_down(url, 30.0))))

        messages = _talk_live(client, tid, pcm, database_away)
        assert outages and outages[0]().killed > 0
        _assert_every_live_word_kept(client, tid, messages, reference)


def _reload_celery_app() -> None:
    """Rebuild the Celery app from the environment (it is configured when imported)."""
    get_settings.cache_clear()
    import reflector.jobs.celery_app as module

    importlib.reload(module)


def _start(env: dict[str, str], logs: Path, name: str, *command: str) -> subprocess.Popen:
    with (logs / f"{name}.log").open("wb") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "reflector", *command],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def test_with_the_broker_down_a_started_job_waits_and_beat_expires_uploads(
    tmp_path, own_redis, piper_clip
):
    data_dir, logs = tmp_path / "data", tmp_path / "logs"
    data_dir.mkdir()
    logs.mkdir()
    prefix = f"reflector-test-{uuid.uuid4().hex[:8]}:"
    processes: list[subprocess.Popen] = []
    with postgres_database() as url, pytest.MonkeyPatch.context() as mp:
        env = {
            **os.environ,
            "REFLECTOR_DATA_DIR": str(data_dir),
            "REFLECTOR_DATABASE_URL": url,
            "REFLECTOR_JOBS_BACKEND": "celery",
            "REFLECTOR_BUS_BACKEND": "redis",
            "REFLECTOR_REDIS_URL": own_redis.url,
            "REFLECTOR_CELERY_KEY_PREFIX": prefix,
            "REFLECTOR_JOB_SWEEP_SECONDS": "1",
            "REFLECTOR_UPLOAD_EXPIRY_SECONDS": "3600",
            "REFLECTOR_ASR_MODEL": "tiny.en",
            "REFLECTOR_ASR_BEAM_SIZE": "1",
            "REFLECTOR_LLM_BACKEND": "extractive",
            "REFLECTOR_LOG_FORMAT": "json",
            "OMP_WAIT_POLICY": "PASSIVE",
        }
        for name, value in env.items():
            if name.startswith("REFLECTOR_"):
                mp.setenv(name, value)
        _reload_celery_app()  # the server sends its tasks with this app
        settings = server_settings(
            data_dir,
            url,
            jobs_backend="celery",
            bus_backend="redis",
            redis_url=own_redis.url,
            celery_key_prefix=prefix,
            job_sweep_seconds=1,
        )
        try:
            # Redis is not running yet: neither the broker nor the bus can be reached.
            with running_client(settings) as client:
                tid = upload(client, piper_clip.path, "broker outage")
                assert client.get(f"/v1/transcripts/{tid}").json()["status"] == "processing"
                job = job_of(client, tid)
                assert job is not None and job.status == "queued"

                # An upload abandoned two days ago, on this server's disk.
                other = client.post("/v1/transcripts", json={"name": "abandoned"}).json()["id"]
                opened = client.post(f"/v1/transcripts/{other}/uploads",
                                     json={"filename": "a.wav"})  # fmt: skip
                upload_id = opened.json()["id"]
                client.put(f"/v1/transcripts/{other}/uploads/{upload_id}",
                           params={"offset": 0}, content=b"x" * 1000)  # fmt: skip
                staged = data_dir / "uploads" / f"{upload_id}.part"
                state = client.app.state.reflector

                async def age() -> None:
                    async with state.sessions() as session:
                        row = await session.get(UploadRow, upload_id)
                        row.updated_at = utcnow() - timedelta(days=2)
                        await session.commit()

                client.portal.call(age)
                old = time.time() - 2 * 86400
                os.utime(staged, (old, old))

                # The broker comes back; a worker and beat start.
                own_redis.start()
                processes.append(_start(env, logs, "worker", "worker", "--pool=solo"))
                processes.append(_start(env, logs, "beat", "beat"))
                body = wait_for_status(client, tid, {"ended", "error"}, timeout=240)
                assert body["status"] == "ended", body
                assert word_error_rate(piper_clip.text, segments_text(client, tid)) < 0.2

                deadline = time.monotonic() + 60
                while staged.exists() and time.monotonic() < deadline:
                    time.sleep(0.2)
                assert not staged.exists()
                expired = client.get(f"/v1/transcripts/{other}/uploads/{upload_id}")
                assert expired.json()["status"] == "expired"
        finally:
            for process in processes:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
            mp.undo()
            _reload_celery_app()
