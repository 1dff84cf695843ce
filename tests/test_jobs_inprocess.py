"""The embedded job runner: a job cut off by a crash resumes after a restart, from its last
finished stage, and ends with the same result."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from reflector.db.tables import EventRow, JobRow, TranscriptRow, utcnow
from reflector_testkit.servers import (
    closed_job_of,
    postgres_database,
    running_client,
    server_settings,
    wait_for_status,
)

pytestmark = pytest.mark.slow


def _event_counts(client, transcript_id: str) -> dict[str, int]:
    state = client.app.state.reflector

    async def count() -> dict[str, int]:
        async with state.sessions() as session:
            rows = await session.scalars(
                select(EventRow.type).where(EventRow.transcript_id == transcript_id)
            )
            counts: dict[str, int] = {}
            for event_type in rows:
                counts[event_type] = counts.get(event_type, 0) + 1
            return counts

    return client.portal.call(count)


def _crash_during_diarization(client, transcript_id: str) -> None:
    """Leave the job as a worker that died in the diarize stage would have left it."""
    # The runner closes the job a moment after the transcript reads ``ended``: rewritten
    # before that, the row would end up ``done`` with the crash's stages, and never resume.
    closed_job_of(client, transcript_id)
    state = client.app.state.reflector

    async def crash() -> None:
        async with state.sessions() as session:
            job = await session.scalar(select(JobRow).where(JobRow.transcript_id == transcript_id))
            job.status, job.current_stage = "running", "diarize"
            job.stages_done = ["prepare", "transcribe"]
            job.lease_owner, job.lease_expires = "dead-host:1", utcnow() - timedelta(seconds=1)
            transcript = await session.get(TranscriptRow, transcript_id)
            transcript.status = "processing"
            await session.commit()

    client.portal.call(crash)


@pytest.mark.parametrize("database", ["sqlite", "postgres"])
def test_a_job_cut_off_mid_way_resumes_after_a_restart(database, tmp_path, piper_clip):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("REFLECTOR_LLM_BACKEND", "extractive")
        if database == "postgres":
            with postgres_database() as url:
                _scenario(server_settings(tmp_path, url), piper_clip)
        else:
            _scenario(server_settings(tmp_path, None), piper_clip)


def _scenario(settings, piper_clip) -> None:
    with running_client(settings) as client:
        tid = client.post("/v1/transcripts", json={"name": "resume"}).json()["id"]
        client.post(
            f"/v1/transcripts/{tid}/upload",
            params={"filename": "clip.wav", "summarize": "true"},
            content=piper_clip.path.read_bytes(),
        )
        wait_for_status(client, tid, {"ended"})
        before = client.get(f"/v1/transcripts/{tid}/segments").json()
        first_counts = _event_counts(client, tid)
        _crash_during_diarization(client, tid)

    # A new server process: the runner finds the orphaned job and finishes it.
    with running_client(settings) as client:
        done = wait_for_status(client, tid, {"ended", "error"})
        assert done["status"] == "ended", done
        counts = _event_counts(client, tid)
        after = client.get(f"/v1/transcripts/{tid}/segments").json()
    # Finished stages did not run again; the interrupted one and those after it did.
    assert counts["DURATION"] == first_counts["DURATION"] == 1
    assert counts["TRANSCRIPT"] == first_counts["TRANSCRIPT"]
    assert counts["SEGMENTS"] == first_counts["SEGMENTS"] + 1
    assert counts["FINAL_TITLE"] == first_counts["FINAL_TITLE"] + 1
    assert after == before


def test_the_background_loops_end_on_their_own_when_the_server_stops(tmp_path):
    """Stopped between two rounds, never cancelled mid-query (a query cut off on SQLite can
    leave its connection's close waiting forever, and the process never exits)."""
    with running_client(server_settings(tmp_path, None, live_preload=False)) as client:
        state = client.app.state.reflector
        assert client.get("/healthz").status_code == 200
        loops = [state.live.watcher, *state.runner._periodic]
        assert len(loops) == 3 and not any(loop.done() for loop in loops)
    assert all(loop.done() and not loop.cancelled() for loop in loops)
