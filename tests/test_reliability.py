"""What Reflector promises to keep, tested the hard way, on SQLite and PostgreSQL: uploads
cut mid-chunk, written twice at once or damaged; two ``process`` calls at once; a stage that
takes its worker down every time; a restart while a job runs; a decompression bomb."""

from __future__ import annotations

import asyncio
import hashlib
import os
import socket
import subprocess
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import av
import httpx
import numpy as np
import pytest
from sqlalchemy import select

from reflector.blobs import BLOBS_DIR_NAME
from reflector.cli.main import main
from reflector.db.tables import JobRow, TranscriptRow, UploadRow, utcnow
from reflector.jobs import runner
from reflector.jobs.housekeeping import expire_uploads
from reflector.jobs.runner import JobDeps, run_job
from reflector.jobs.submit import TranscriptBusy, create_job
from reflector.settings import get_settings
from reflector_testkit.scoring import word_error_rate
from reflector_testkit.servers import (
    closed_job_of,
    job_of,
    postgres_database,
    running_client,
    running_server,
    server_settings,
    wait_for_status,
)

PROBLEM = "application/problem+json"
DATABASES = ["sqlite", "postgres"]


# --- helpers -----------------------------------------------------------------------------------


def silent_flac(path: Path, seconds: int, rate: int = 1000, hide_duration: bool = False) -> Path:
    """Digital silence as FLAC: a day of it is under 30 KB (a decompression bomb). With
    ``hide_duration`` the header does not say how long it is (its sample count is zeroed)."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream("flac", rate=rate, layout="mono", options={"frame_size": "65535"})
        block = rate * 600
        zeros = np.zeros((1, block), dtype=np.int16)
        for index in range(seconds // 600):
            frame = av.AudioFrame.from_ndarray(zeros, format="s16", layout="mono")
            frame.sample_rate, frame.pts = rate, index * block
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    if hide_duration:
        data = bytearray(path.read_bytes())
        info = 8  # "fLaC", then the STREAMINFO block header; the sample count is bits 108-143
        data[info + 13] &= 0xF0
        data[info + 14 : info + 18] = bytes(4)
        path.write_bytes(bytes(data))
    return path


def _problem(response: httpx.Response, status: int, slug: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body = response.json()
    assert body["type"].endswith("/" + slug), body
    return body


def _sha256_header(data: bytes) -> dict[str, str]:
    return {"Upload-Checksum": f"sha256 {hashlib.sha256(data).hexdigest()}"}


@pytest.fixture(scope="module", params=DATABASES)
def live_server(request, tmp_path_factory):
    """``reflector serve`` in a process of its own, so a connection can really be cut."""
    mp = pytest.MonkeyPatch()
    mp.setenv("REFLECTOR_LLM_BACKEND", "extractive")
    mp.setenv("REFLECTOR_ASR_MODEL", "tiny.en")
    mp.setenv("REFLECTOR_DIARIZATION_BACKEND", "off")
    data_dir = tmp_path_factory.mktemp(f"reliability-{request.param}")
    try:
        if request.param == "sqlite":
            with running_server(data_dir, None) as server:
                server.data_dir = data_dir
                yield server
        else:
            with postgres_database() as url, running_server(data_dir, url) as server:
                server.data_dir = data_dir
                yield server
    finally:
        mp.undo()


@pytest.fixture
def http(live_server):
    with httpx.Client(base_url=live_server.base_url, timeout=60) as client:
        yield client


def _open_upload(http: httpx.Client, size: int | None) -> tuple[str, str]:
    tid = http.post("/v1/transcripts", json={"name": "exact"}).json()["id"]
    body = {"filename": "clip.wav"} | ({"size": size} if size is not None else {})
    upload = http.post(f"/v1/transcripts/{tid}/uploads", json=body)
    assert upload.status_code == 201, upload.text
    return tid, f"/v1/transcripts/{tid}/uploads/{upload.json()['id']}"


def _cut_mid_body(base_url: str, path: str, chunk: bytes, sent: int) -> None:
    """A PUT whose connection drops after ``sent`` of the chunk's bytes."""
    host, port = base_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        head = (
            f"PUT {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/octet-stream\r\n"
            f"Content-Length: {len(chunk)}\r\n\r\n"
        )
        sock.sendall(head.encode() + chunk[:sent])
        time.sleep(0.3)  # the server has read the partial body when the connection goes


def _received(http: httpx.Client, url: str, at_least: int = 0, timeout: float = 10) -> int:
    deadline = time.monotonic() + timeout
    while True:
        received = http.get(url).json()["received"]
        if received >= at_least or time.monotonic() > deadline:
            return received
        time.sleep(0.05)


# --- uploads are exact -------------------------------------------------------------------------


def test_a_chunk_cut_mid_way_leaves_nothing_and_the_resumed_file_is_exact(
    http, live_server, piper_clip
):
    data = piper_clip.path.read_bytes()
    tid, url = _open_upload(http, len(data))
    half = len(data) // 2
    assert http.put(url, params={"offset": 0}, content=data[:half]).status_code == 200
    # The second chunk's connection drops after 1000 of its bytes.
    _cut_mid_body(live_server.base_url, f"{url}?offset={half}", data[half:], 1000)
    time.sleep(0.5)
    assert http.get(url).json()["received"] == half  # the cut chunk counts for nothing
    # Resumed where the server says: the chunk is sent again, whole.
    resumed = http.put(url, params={"offset": half}, content=data[half:])
    assert resumed.status_code == 200 and resumed.json()["received"] == len(data)
    # The checksum of the original file proves the assembled one is byte-identical.
    done = http.post(f"{url}/complete", params={"summarize": "false"},
                     headers=_sha256_header(data))  # fmt: skip
    assert done.status_code == 200, done.text
    stored = next((live_server.data_dir / BLOBS_DIR_NAME / "transcripts" / tid).glob("upload*"))
    assert stored.read_bytes() == data
    assert wait_for_status(http, tid, {"ended", "error"})["status"] == "ended"


def test_a_wrong_checksum_is_refused_and_the_upload_kept(http):
    data = os.urandom(50_000)
    damaged = bytearray(data)
    damaged[30_000] ^= 0xFF
    _, url = _open_upload(http, len(data))
    assert http.put(url, params={"offset": 0}, content=bytes(damaged)).status_code == 200
    wrong = http.post(f"{url}/complete", headers=_sha256_header(data))
    assert "checksum" in _problem(wrong, 422, "checksum-mismatch")["detail"].lower()
    assert http.get(url).json()["status"] == "open"
    _problem(http.post(f"{url}/complete", headers={"Upload-Checksum": "md5 abc"}), 400,
             "invalid-checksum")  # fmt: skip
    # The damaged part is written again at its offset; the bytes after it stay.
    fixed = http.put(url, params={"offset": 29_000}, content=data[29_000:31_000])
    assert fixed.status_code == 200 and fixed.json()["received"] == len(data)
    # Now the checksum matches; random bytes are no audio, which only the next check says.
    _problem(http.post(f"{url}/complete", headers=_sha256_header(data)), 415, "not-audio")


def test_a_chunk_with_its_own_checksum_is_kept_only_when_it_matches(http):
    data = os.urandom(300_000)
    _, url = _open_upload(http, len(data))
    first, second = data[:200_000], data[200_000:]
    assert http.put(url, params={"offset": 0}, content=first,
                    headers=_sha256_header(first)).status_code == 200  # fmt: skip
    # Damaged on the way: refused whole, the upload where it was.
    damaged = bytearray(second)
    damaged[5] ^= 0xFF
    refused = http.put(url, params={"offset": 200_000}, content=bytes(damaged),
                       headers=_sha256_header(second))  # fmt: skip
    assert _problem(refused, 422, "checksum-mismatch")["expected_offset"] == 200_000
    assert http.get(url).json()["received"] == 200_000
    malformed = http.put(url, params={"offset": 200_000}, content=second,
                         headers={"Upload-Checksum": "sha256 nope"})  # fmt: skip
    _problem(malformed, 400, "invalid-checksum")
    sent = http.put(url, params={"offset": 200_000}, content=second,
                    headers=_sha256_header(second))  # fmt: skip
    assert sent.status_code == 200 and sent.json()["received"] == len(data)
    # The assembled file is the original: its whole checksum matches at ``complete``.
    _problem(http.post(f"{url}/complete", headers=_sha256_header(data)), 415, "not-audio")


def test_two_puts_at_once_are_serialised_and_the_file_is_exact(http, live_server):
    data = os.urandom(400_000)
    _, url = _open_upload(http, len(data))
    half = len(data) // 2

    async def slow_body(part: bytes) -> AsyncIterator[bytes]:
        for start in range(0, len(part), 20_000):
            yield part[start : start + 20_000]
            await asyncio.sleep(0.01)

    async def race() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=live_server.base_url, timeout=60) as client:
            # The same chunk twice (a client retrying while its first try still runs), and
            # the next chunk at once.
            return await asyncio.gather(
                client.put(url, params={"offset": 0}, content=slow_body(data[:half])),
                client.put(url, params={"offset": 0}, content=slow_body(data[:half])),
                client.put(url, params={"offset": half}, content=slow_body(data[half:])),
            )

    responses = asyncio.run(race())
    for response in responses:
        assert response.status_code in (200, 409), response.text
        if response.status_code == 409:
            assert response.json()["type"].rsplit("/", 1)[1] in ("wrong-offset", "upload-busy")
    received = http.get(url).json()["received"]
    if received < len(data):  # the second chunk came before the first: send it again
        assert received == half
        http.put(url, params={"offset": half}, content=data[half:])
    _problem(http.post(f"{url}/complete", headers=_sha256_header(data)), 415, "not-audio")


# --- one job per transcript --------------------------------------------------------------------


def test_two_process_calls_at_once_start_one_job(http, live_server, piper_clip):
    data = piper_clip.path.read_bytes()
    tid = http.post("/v1/transcripts", json={"name": "twice"}).json()["id"]
    first = http.post(f"/v1/transcripts/{tid}/upload", params={"filename": "c.wav",
                      "summarize": "false"}, content=data)  # fmt: skip
    assert first.status_code == 200
    wait_for_status(http, tid, {"ended"})

    async def race() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=live_server.base_url, timeout=60) as client:
            call = f"/v1/transcripts/{tid}/process"
            return await asyncio.gather(*(client.post(call) for _ in range(2)))

    responses = asyncio.run(race())
    codes = sorted(r.status_code for r in responses)
    assert codes == [202, 409], [r.text for r in responses]
    refused = next(r for r in responses if r.status_code == 409)
    assert refused.json()["type"].endswith("/transcript-busy")
    assert wait_for_status(http, tid, {"ended", "error"})["status"] == "ended"


@pytest.fixture(scope="module", params=DATABASES)
def app_client(request, tmp_path_factory):
    """The app in this process, for tests that reach into its database."""
    data_dir = tmp_path_factory.mktemp(f"app-{request.param}")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("REFLECTOR_LLM_BACKEND", "extractive")
        if request.param == "sqlite":
            with running_client(server_settings(data_dir, None, job_max_attempts=3)) as client:
                yield client
        else:
            with postgres_database() as url:
                settings = server_settings(data_dir, url, job_max_attempts=3)
                with running_client(settings) as client:
                    yield client


def test_the_database_refuses_a_second_active_job(app_client):
    """Past every status check (two requests read the transcript before either wrote), the
    partial unique index still lets only one job in."""
    state = app_client.app.state.reflector
    tid = app_client.post("/v1/transcripts", json={"name": "index"}).json()["id"]

    async def two_jobs() -> None:
        async with state.sessions() as first, state.sessions() as second:
            row_a = await first.get(TranscriptRow, tid)
            row_b = await second.get(TranscriptRow, tid)
            row_a.status = row_b.status = "uploaded"
            await create_job(first, row_a, state.settings)
            await first.commit()
            with pytest.raises(TranscriptBusy):
                await create_job(second, row_b, state.settings)
            jobs = (await first.scalars(select(JobRow).where(JobRow.transcript_id == tid))).all()
            assert len(jobs) == 1

    app_client.portal.call(two_jobs)


# --- attempts are counted ----------------------------------------------------------------------


class WorkerDied(BaseException):
    """What a killed worker looks like from the database: it simply stops, mid-stage."""


def test_a_stage_that_kills_its_worker_every_time_fails_for_good(app_client, monkeypatch):
    state = app_client.app.state.reflector
    deps = JobDeps(state.settings, state.sessions, state.blobs, state.bus)
    tid = app_client.post("/v1/transcripts", json={"name": "crash loop"}).json()["id"]

    async def deadly(_context) -> None:
        raise WorkerDied

    monkeypatch.setitem(runner.STAGE_FUNCTIONS, "prepare", deadly)

    async def new_job() -> str:
        async with state.sessions() as session:
            row = await session.get(TranscriptRow, tid)
            row.status = "uploaded"
            job = await create_job(session, row, state.settings)
            await session.commit()
            return job.id

    async def attempt(job_id: str, owner: str) -> str:
        try:
            return await run_job(deps, job_id, owner)
        except WorkerDied:
            # The next worker finds the job where the dead one left it; the lease ran out.
            async with state.sessions() as session:
                job = await session.get(JobRow, job_id)
                job.lease_expires = utcnow() - timedelta(seconds=1)
                await session.commit()
            return "died"

    job_id = app_client.portal.call(new_job)
    outcomes = [app_client.portal.call(attempt, job_id, f"worker-{n}") for n in range(5)]
    assert outcomes == ["died", "died", "died", "failed", "failed"]

    async def rows() -> tuple[JobRow, TranscriptRow]:
        async with state.sessions() as session:
            return await session.get(JobRow, job_id), await session.get(TranscriptRow, tid)

    job, transcript = app_client.portal.call(rows)
    assert job.status == "failed" and job.stage_attempts == 3
    assert transcript.status == "error"
    assert "gave up after 3 attempts" in transcript.error and "prepare" in transcript.error
    assert app_client.get(f"/v1/transcripts/{tid}").json()["status"] == "error"


def test_abandoned_uploads_expire(app_client):
    state = app_client.app.state.reflector
    tid = app_client.post("/v1/transcripts", json={"name": "abandoned"}).json()["id"]
    old = app_client.post(f"/v1/transcripts/{tid}/uploads", json={"filename": "a.wav"}).json()
    fresh = app_client.post(f"/v1/transcripts/{tid}/uploads", json={"filename": "b.wav"}).json()
    for upload in (old, fresh):
        app_client.put(f"/v1/transcripts/{tid}/uploads/{upload['id']}", params={"offset": 0},
                       content=b"x" * 1000)  # fmt: skip
    staging = Path(state.settings.data_dir) / "uploads"
    assert (staging / f"{old['id']}.part").stat().st_size == 1000

    async def age_and_sweep() -> int:
        async with state.sessions() as session:
            row = await session.get(UploadRow, old["id"])
            row.updated_at = utcnow() - timedelta(days=2)
            await session.commit()
        from reflector.blobs.staging import UploadStaging

        return await expire_uploads(state.sessions, UploadStaging(staging), 24 * 3600)

    assert app_client.portal.call(age_and_sweep) == 1
    assert not (staging / f"{old['id']}.part").exists()
    assert (staging / f"{fresh['id']}.part").exists()
    gone = app_client.get(f"/v1/transcripts/{tid}/uploads/{old['id']}").json()
    assert gone["status"] == "expired"
    late = app_client.put(f"/v1/transcripts/{tid}/uploads/{old['id']}",
                          params={"offset": 1000}, content=b"y")  # fmt: skip
    assert late.status_code == 409 and late.json()["type"].endswith("/upload-closed")


# --- a restart resumes at once -----------------------------------------------------------------


def _dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


@pytest.mark.slow
@pytest.mark.parametrize("database", DATABASES)
def test_a_restart_resumes_a_running_job_without_waiting_for_its_lease(
    database, tmp_path, piper_clip
):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("REFLECTOR_LLM_BACKEND", "extractive")
        if database == "postgres":
            with postgres_database() as url:
                _restart_scenario(server_settings(tmp_path, url, job_lease_seconds=3600),
                                  piper_clip)  # fmt: skip
        else:
            _restart_scenario(server_settings(tmp_path, None, job_lease_seconds=3600), piper_clip)


def _restart_scenario(settings, piper_clip) -> None:
    with running_client(settings) as client:
        tid = client.post("/v1/transcripts", json={"name": "restart"}).json()["id"]
        client.post(f"/v1/transcripts/{tid}/upload", params={"filename": "c.wav"},
                    content=piper_clip.path.read_bytes())  # fmt: skip
        wait_for_status(client, tid, {"ended"})
        closed_job_of(client, tid)  # else the runner's closing write could undo the kill
        state = client.app.state.reflector

        async def killed_mid_job() -> None:
            # As the previous server process left it: running, its lease good for an hour.
            async with state.sessions() as session:
                job = await session.scalar(select(JobRow).where(JobRow.transcript_id == tid))
                job.status, job.current_stage = "running", "summarize"
                job.stages_done = ["prepare", "transcribe", "diarize"]
                job.lease_owner = f"{socket.gethostname()}:{_dead_pid()}"
                job.lease_expires = utcnow() + timedelta(hours=1)
                transcript = await session.get(TranscriptRow, tid)
                transcript.status = "processing"
                await session.commit()

        client.portal.call(killed_mid_job)

    started = time.monotonic()
    with running_client(settings) as client:
        assert wait_for_status(client, tid, {"ended", "error"}, timeout=60)["status"] == "ended"
    assert time.monotonic() - started < 60  # far less than the lease


# --- hostile input: decompression bombs --------------------------------------------------------


def test_the_cli_refuses_a_bomb_before_decoding_it(tmp_path, capsys, monkeypatch, data_dir):
    monkeypatch.setenv("REFLECTOR_DATA_DIR", str(data_dir))
    monkeypatch.setenv("REFLECTOR_ASR_MODEL", "tiny.en")
    get_settings.cache_clear()
    try:
        day = silent_flac(tmp_path / "day.flac", 24 * 3600)
        assert day.stat().st_size < 64_000
        started = time.monotonic()
        code = main(["transcribe", str(day), "-q"])
        err = capsys.readouterr().err
        assert code != 0 and "longer than the limit of 4 h 00 min" in err, err
        # Hiding the length in the header only moves the refusal into decoding.
        hidden = silent_flac(tmp_path / "hidden.flac", 24 * 3600, hide_duration=True)
        monkeypatch.setenv("REFLECTOR_MAX_AUDIO_SECONDS", "600")
        get_settings.cache_clear()
        code = main(["transcribe", str(hidden), "-q"])
        err = capsys.readouterr().err
        assert code != 0 and "longer than the limit of 10 min" in err, err
        assert time.monotonic() - started < 60
    finally:
        get_settings.cache_clear()


def test_a_bomb_upload_is_refused_or_fails_its_job_once(tmp_path):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("REFLECTOR_LLM_BACKEND", "extractive")
        settings = server_settings(tmp_path / "data", None, max_audio_seconds=600)
        with running_client(settings) as client:
            day = silent_flac(tmp_path / "day.flac", 24 * 3600)
            tid = client.post("/v1/transcripts", json={"name": "bomb"}).json()["id"]
            stated = client.post(f"/v1/transcripts/{tid}/upload", params={"filename": "d.flac"},
                                 content=day.read_bytes())  # fmt: skip
            _problem(stated, 413, "audio-too-long")
            assert client.get(f"/v1/transcripts/{tid}").json()["status"] == "idle"

            hidden = silent_flac(tmp_path / "hidden.flac", 24 * 3600, hide_duration=True)
            accepted = client.post(f"/v1/transcripts/{tid}/upload",
                                   params={"filename": "h.flac"},
                                   content=hidden.read_bytes())  # fmt: skip
            assert accepted.status_code == 200, accepted.text
            done = wait_for_status(client, tid, {"ended", "error"}, timeout=60)
            assert done["status"] == "error"
            assert "longer than the limit of 10 min" in done["error"]
            failed = job_of(client, tid)
            # Failed once, for good: no worker picks it up again.
            assert failed.status == "failed" and failed.attempts == 1


# --- hostile input: a file damaged mid-way -----------------------------------------------------


def _damaged_from(path: Path, fraction: float, target: Path) -> Path:
    """``path`` with everything after ``fraction`` of its bytes replaced by random bytes (a
    valid header, then garbage: a recording cut off and overwritten)."""
    data = bytearray(path.read_bytes())
    cut = round(len(data) * fraction)
    data[cut:] = np.random.default_rng(7).bytes(len(data) - cut)
    target.write_bytes(bytes(data))
    return target


def test_a_file_corrupt_mid_way_keeps_its_readable_part_and_never_loops(tmp_path, piper_clip):
    from reflector.audio import SAMPLE_RATE, decode_file, encode_mp3, write_audio_file

    mp3 = encode_mp3(decode_file(piper_clip.path).samples, tmp_path / "meeting.mp3")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("REFLECTOR_LLM_BACKEND", "extractive")
        settings = server_settings(tmp_path / "data", None, job_max_attempts=3)
        with running_client(settings) as client:
            state = client.app.state.reflector

            def upload(path: Path) -> tuple[str, httpx.Response]:
                tid = client.post("/v1/transcripts", json={"name": path.name}).json()["id"]
                return tid, client.post(f"/v1/transcripts/{tid}/upload",
                                        params={"filename": path.name, "summarize": "false"},
                                        content=path.read_bytes())  # fmt: skip

            def job(tid: str) -> JobRow:
                async def read() -> JobRow:
                    async with state.sessions() as session:
                        query = select(JobRow).where(JobRow.transcript_id == tid)
                        return (await session.scalars(query)).one()

                return client.portal.call(read)

            # Garbage after the first half: the first half is transcribed, and said to be
            # all there was.
            tid, accepted = upload(_damaged_from(mp3, 0.5, tmp_path / "half.mp3"))
            assert accepted.status_code == 200, accepted.text
            done = wait_for_status(client, tid, {"ended", "error"})
            assert done["status"] == "ended", done
            assert done["duration"] < 0.7 * piper_clip.duration
            assert any("damaged" in note for note in done["notes"]), done["notes"]
            text = " ".join(
                s["text"] for s in client.get(f"/v1/transcripts/{tid}/segments").json()
            ).lower()
            assert "good morning everyone" in text and "planning meeting" in text
            assert job(tid).attempts == 1

            # Garbage right after a valid header (FLAC's, which states the length): nothing
            # to decode. Failed once, with the reason; never a loop.
            flac = write_audio_file(decode_file(piper_clip.path).samples, tmp_path / "m.flac",
                                    SAMPLE_RATE, "flac")  # fmt: skip
            tid, accepted = upload(_damaged_from(flac, 0.005, tmp_path / "head.flac"))
            assert accepted.status_code == 200, accepted.text
            failed = wait_for_status(client, tid, {"ended", "error"})
            assert failed["status"] == "error", failed
            assert "corrupt: nothing could be decoded" in failed["error"], failed
            assert job(tid).status == "failed" and job(tid).attempts == 1


# --- long recordings are read from disk --------------------------------------------------------


def test_a_recording_decoded_to_disk_goes_through_every_stage(tmp_path, piper_clip, monkeypatch):
    """Every stage reads the recording as the read-only memory map a long one becomes (here
    from its first second on): the transcript is the same as from memory."""
    from reflector.audio import decode as decoding

    monkeypatch.setattr(decoding, "SPILL_SECONDS", 1.0)
    monkeypatch.setenv("REFLECTOR_LLM_BACKEND", "extractive")
    with running_client(server_settings(tmp_path / "data", None)) as client:
        tid = client.post("/v1/transcripts", json={"name": "spilled"}).json()["id"]
        accepted = client.post(f"/v1/transcripts/{tid}/upload",
                               params={"filename": "clip.wav", "summarize": "true"},
                               content=piper_clip.path.read_bytes())  # fmt: skip
        assert accepted.status_code == 200, accepted.text
        done = wait_for_status(client, tid, {"ended", "error"})
        assert done["status"] == "ended", done
        assert done["duration"] == pytest.approx(piper_clip.duration, abs=0.1)
        text = " ".join(s["text"] for s in client.get(f"/v1/transcripts/{tid}/segments").json())
        assert word_error_rate(piper_clip.text, text) < 0.2
        assert done["title"]
        # Nothing of the decoded audio is left in the work folders.
        assert not [p for p in (tmp_path / "data" / "work").rglob("*") if p.is_file()]
