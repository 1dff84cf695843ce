"""A transcript's lifecycle: the allowed moves work, a forbidden one raises before anything
changes, and one call writes the row and sends both events (a real SQLite file, the in-memory
bus)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker

from reflector.bus import MemoryBus, transcript_channel, user_channel
from reflector.db import repository
from reflector.db.tables import EventRow, JobRow, TranscriptRow
from reflector.domain.events import StatusEvent
from reflector.domain.status import (
    ALLOWED_TRANSITIONS,
    IllegalTransition,
    TranscriptStatus,
    can_transition,
    check_transition,
)
from reflector.jobs.submit import create_job, start_processing
from reflector.pipelines.lifecycle import set_status
from reflector.settings import Settings
from reflector_testkit.servers import sqlite_sessions

pytestmark = pytest.mark.anyio

S = TranscriptStatus
ALLOWED = sorted((a, b) for a, targets in ALLOWED_TRANSITIONS.items() for b in targets)
FORBIDDEN = sorted(
    (a, b) for a in TranscriptStatus for b in TranscriptStatus if b not in ALLOWED_TRANSITIONS[a]
)
DELIVERY_TIMEOUT = 3.0


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@dataclass
class World:
    sessions: async_sessionmaker
    bus: MemoryBus


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    async with sqlite_sessions(tmp_path / "lifecycle.db") as sessions:
        yield World(sessions, MemoryBus())


async def _transcript(world: World, status: TranscriptStatus) -> str:
    async with world.sessions() as session:
        row = TranscriptRow(user_id="u", status=status.value)
        session.add(row)
        await session.commit()
        return row.id


async def _row(world: World, transcript_id: str) -> TranscriptRow:
    async with world.sessions() as session:
        return await session.get(TranscriptRow, transcript_id)


async def _stored(world: World, transcript_id: str) -> list[tuple[str, dict]]:
    async with world.sessions() as session:
        rows = await session.scalars(
            select(EventRow).where(EventRow.transcript_id == transcript_id).order_by(EventRow.id)
        )
        return [(r.type, r.data) for r in rows]


# --- the rules -----------------------------------------------------------------------------------


def test_the_table_covers_every_status_and_the_moves_the_product_makes() -> None:
    assert set(ALLOWED_TRANSITIONS) == set(TranscriptStatus)
    assert [s.value for s in TranscriptStatus] == [
        "idle",
        "uploaded",
        "recording",
        "processing",
        "ended",
        "error",
    ]
    for move in [
        (S.IDLE, S.UPLOADED),  # a file upload
        (S.UPLOADED, S.PROCESSING),  # its job
        (S.IDLE, S.RECORDING),  # a live stream
        (S.RECORDING, S.PROCESSING),  # the stream stops, its recording is processed
        (S.RECORDING, S.IDLE),  # a stream that kept no audio
        (S.PROCESSING, S.PROCESSING),  # the first stage, also of a resumed job
        (S.PROCESSING, S.ENDED),
        (S.PROCESSING, S.ERROR),
        (S.ENDED, S.PROCESSING),  # reprocessing
        (S.ERROR, S.PROCESSING),
        (S.ENDED, S.UPLOADED),  # a new upload over a finished transcript
        (S.ERROR, S.UPLOADED),
        (S.ENDED, S.ENDED),  # a resumed job runs its last stage again
    ]:
        assert can_transition(*move), move


@pytest.mark.parametrize(("current", "target"), FORBIDDEN)
def test_a_forbidden_move_raises_a_clear_error(current, target) -> None:
    assert not can_transition(current, target)
    with pytest.raises(IllegalTransition) as caught:
        check_transition(current, target)
    message = str(caught.value)
    assert f"from {current.value!r} to {target.value!r}" in message
    assert caught.value.current is current and caught.value.target is target


def test_forbidden_moves_include_the_ones_that_would_lose_work() -> None:
    for move in [
        (S.IDLE, S.ENDED),
        (S.IDLE, S.PROCESSING),  # nothing to process
        (S.RECORDING, S.RECORDING),  # a second stream
        (S.PROCESSING, S.UPLOADED),  # an upload under a running job
        (S.PROCESSING, S.RECORDING),
        (S.ENDED, S.IDLE),
    ]:
        assert move in FORBIDDEN, move


def test_names_that_are_no_status_are_refused() -> None:
    with pytest.raises(ValueError):
        check_transition("idle", "finished")


# --- one call: row and both events ---------------------------------------------------------------


@pytest.mark.parametrize(("current", "target"), ALLOWED)
async def test_every_allowed_move_updates_the_row_and_sends_both_events(
    world: World, current: TranscriptStatus, target: TranscriptStatus
) -> None:
    tid = await _transcript(world, current)
    error = "decode failed" if target is S.ERROR else None
    async with (
        world.bus.subscribe(transcript_channel(tid)) as events,
        world.bus.subscribe(user_channel("u")) as user_events,
    ):
        await set_status(world.sessions, world.bus, tid, target, error)
        event = await asyncio.wait_for(anext(events), DELIVERY_TIMEOUT)
        user_event = await asyncio.wait_for(anext(user_events), DELIVERY_TIMEOUT)

    row = await _row(world, tid)
    assert row.status == target.value and row.error == error
    data = {"value": target.value, **({"error": error} if error else {})}
    assert await _stored(world, tid) == [("STATUS", data)]
    assert event == {"id": event["id"], "type": "STATUS", "data": data}
    assert isinstance(event["id"], int)
    assert user_event == {
        "type": "TRANSCRIPT_STATUS",
        "transcript_id": tid,
        "data": {"value": target.value},
    }
    async with world.sessions() as session:
        [typed] = await repository.stored_events(session, tid)
    assert typed == StatusEvent(id=event["id"], data=data)


async def test_a_forbidden_move_changes_nothing_and_sends_nothing(world: World) -> None:
    tid = await _transcript(world, S.IDLE)
    async with world.bus.subscribe(user_channel("u")) as user_events:
        with pytest.raises(IllegalTransition):
            await set_status(world.sessions, world.bus, tid, S.ENDED)
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(anext(user_events), 0.2)
    assert (await _row(world, tid)).status == "idle"
    assert await _stored(world, tid) == []


async def test_leaving_error_clears_the_message(world: World) -> None:
    tid = await _transcript(world, S.PROCESSING)
    await set_status(world.sessions, world.bus, tid, S.ERROR, "out of memory")
    assert (await _row(world, tid)).error == "out of memory"
    await set_status(world.sessions, world.bus, tid, S.PROCESSING)
    row = await _row(world, tid)
    assert (row.status, row.error) == ("processing", None)


# --- jobs and live claims ------------------------------------------------------------------------


async def test_starting_processing_creates_the_job_and_announces_it(
    world: World, tmp_path: Path
) -> None:
    tid = await _transcript(world, S.UPLOADED)
    settings = Settings(data_dir=tmp_path)
    async with world.bus.subscribe(user_channel("u")) as user_events:
        async with world.sessions() as session:
            row = await session.get(TranscriptRow, tid)
            job = await start_processing(session, world.bus, row, settings, summarize=False)
        user_event = await asyncio.wait_for(anext(user_events), DELIVERY_TIMEOUT)
    assert user_event["data"] == {"value": "processing"}
    assert (await _row(world, tid)).status == "processing"
    assert await _stored(world, tid) == [("STATUS", {"value": "processing"})]
    async with world.sessions() as session:
        stored_job = await session.get(JobRow, job.id)
        assert stored_job.transcript_id == tid and stored_job.options["summarize"] is False


async def test_a_job_is_refused_for_a_transcript_with_nothing_to_process(
    world: World, tmp_path: Path
) -> None:
    tid = await _transcript(world, S.IDLE)
    async with world.sessions() as session:
        row = await session.get(TranscriptRow, tid)
        with pytest.raises(IllegalTransition):
            await create_job(session, row, Settings(data_dir=tmp_path))
        assert not (await session.scalars(select(JobRow))).all()


async def test_a_live_claim_is_a_lock_checked_against_the_same_rules(world: World) -> None:
    tid = await _transcript(world, S.IDLE)
    async with world.sessions() as session:
        assert await repository.claim_for_recording(session, tid)
        assert not await repository.claim_for_recording(session, tid)  # the second stream
        await session.commit()
    row = await _row(world, tid)
    assert (row.status, row.source) == ("recording", "live")
    async with world.sessions() as session:
        await repository.release_recording(session, tid)
        await session.commit()
        with pytest.raises(IllegalTransition):
            await repository.move_status(session, tid, S.IDLE, S.ENDED)
    assert (await _row(world, tid)).status == "idle"
