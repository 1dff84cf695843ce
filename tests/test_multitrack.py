"""Multitrack recordings: one WebM/Opus file per participant, each starting when its
participant joined and with no frames at all while they were muted, as Daily records them.

The tracks must land on the meeting's timeline sample for sample (stream start times, or
Daily's file names), every word on its participant, at the time it was said.
"""

from __future__ import annotations

import re
import subprocess
from difflib import SequenceMatcher
from pathlib import Path

import numpy as np
import pytest

from reflector.audio import SAMPLE_RATE, AudioError, decode_file, write_wav
from reflector.audio.multitrack import (
    daily_track_offset,
    iter_padded,
    mix_tracks,
    pad_track,
    probe_track,
)
from reflector.cli.main import main
from reflector.domain import Transcript, Word
from reflector.pipelines.file import TranscribeOptions
from reflector.pipelines.multitrack import (
    TracksError,
    TrackSource,
    recognize_tracks,
    transcribe_tracks,
)
from reflector.settings import get_settings
from reflector_testkit.problems import problem
from reflector_testkit.scoring import word_error_rate
from reflector_testkit.servers import (
    closed_job_of,
    running_client,
    server_settings,
    wait_for_status,
)
from reflector_testkit.tracks import Speaker, TrackMeeting, speak_meeting, write_tracks

LENGTH = 40.0
SPEAKERS = (
    Speaker(
        "alice",
        "joe",
        lines=(
            (1.0, "Good morning everyone, thanks for joining the planning meeting."),
            (21.0, "Then we agree to ship the release on Friday."),
        ),
        muted=((8.0, 19.5),),
    ),
    Speaker(
        "bob",
        "klatt",
        lines=(
            (6.0, "The billing service went live on Tuesday without any problems."),
            (26.5, "I will send the security checklist tomorrow."),
        ),
        joined=4.0,
        muted=((11.5, 25.5),),
    ),
    Speaker(
        "carol",
        "rp-f2",
        lines=(
            (13.0, "We still need someone to review the budget before the end of the month."),
            (31.5, "Please send me your travel plans for the conference."),
        ),
        joined=9.5,
        left=38.0,
        muted=((19.5, 30.5),),
    ),
)


@pytest.fixture(scope="module")
def meeting() -> TrackMeeting:
    made = speak_meeting(SPEAKERS, LENGTH)
    for speaker, utterances in zip(made.speakers, made.utterances, strict=True):
        for utterance in utterances:  # the script itself must be possible
            assert speaker.joined < utterance.start and utterance.end < (speaker.left or LENGTH)
            assert not any(a < utterance.end and utterance.start < b for a, b in speaker.muted)
    return made


@pytest.fixture(scope="module")
def tracks(meeting, tmp_path_factory) -> list[Path]:
    """WebM files whose audio streams start when each participant joined."""
    return write_tracks(meeting, tmp_path_factory.mktemp("tracks"))


@pytest.fixture(scope="module")
def daily_tracks(meeting, tmp_path_factory) -> list[Path]:
    """The same, with timestamps from zero and the start in Daily's file names."""
    return write_tracks(meeting, tmp_path_factory.mktemp("daily"), start_from="daily name")


def _lag(padded: np.ndarray, truth: np.ndarray, start: float, end: float) -> float:
    """Seconds by which ``padded`` is late against ``truth`` around one utterance."""
    a, b = round(start * SAMPLE_RATE), round(end * SAMPLE_RATE)
    window = 800  # ±50 ms
    reference = truth[a:b]
    scores = [
        float(np.dot(padded[a + shift : b + shift], reference))
        for shift in range(-window, window + 1)
    ]
    return (int(np.argmax(scores)) - window) / SAMPLE_RATE


# --- the timeline ----------------------------------------------------------------------------


def test_offsets_come_from_the_stream_or_from_daily_file_names(meeting, tracks, daily_tracks):
    for speaker, path, daily in zip(meeting.speakers, tracks, daily_tracks, strict=True):
        from_stream = probe_track(path)
        assert from_stream.offset_source == ("stream" if speaker.joined else "none")
        assert from_stream.offset == pytest.approx(speaker.joined, abs=0.01)
        from_name = probe_track(daily)
        assert from_name.offset_source == "file name"
        assert from_name.offset == pytest.approx(speaker.joined, abs=0.0005)
    assert daily_track_offset("1700000000000-not-a-uuid-cam-audio-1700000004000") is None
    assert daily_track_offset("meeting.webm") is None


@pytest.mark.parametrize("kind", ["stream", "daily"])
def test_padding_puts_every_utterance_back_where_it_was_said(meeting, tracks, daily_tracks,
                                                             tmp_path, kind):  # fmt: skip
    paths = tracks if kind == "stream" else daily_tracks
    for index, path in enumerate(paths):
        speaker = meeting.speakers[index]
        padded = pad_track(probe_track(path), tmp_path / f"{index}.f32")
        samples = np.asarray(padded.samples())
        assert padded.end == pytest.approx(speaker.left or LENGTH, abs=0.03)
        truth = meeting.heard[index]
        for utterance in meeting.utterances[index]:
            # Sample-accurate after every muted stretch: no drift, no shift by a gap.
            assert abs(_lag(samples, truth, utterance.start, utterance.end)) <= 0.002
        # Before joining and while muted there were no frames: exact silence, nothing else.
        for start, end in [(0.0, speaker.joined), *speaker.muted]:
            a, b = round(start * SAMPLE_RATE) + 480, round(end * SAMPLE_RATE) - 480
            assert not samples[a:b].any() if b > a else True


def test_other_containers_and_a_given_offset(meeting, tmp_path):
    # Ogg/Opus with a start time, and a WAV (no timestamps to go by) placed by the caller.
    ogg = write_tracks(meeting, tmp_path / "ogg", suffix=".ogg")[1]
    info = probe_track(ogg)
    assert info.offset == pytest.approx(4.0, abs=0.01)
    wav = write_wav(meeting.heard[2][round(9.5 * SAMPLE_RATE) :], tmp_path / "carol.wav")
    assert probe_track(wav).offset_source == "none"
    placed = probe_track(wav, offset=9.5)
    for track, index in ((info, 1), (placed, 2)):
        samples = np.concatenate(list(iter_padded(track)))
        for utterance in meeting.utterances[index]:
            lag = _lag(samples, meeting.heard[index], utterance.start, utterance.end)
            assert abs(lag) <= 0.002


def test_mixdown_is_one_mp3_of_the_whole_meeting_with_its_waveform(meeting, tracks, tmp_path):
    padded = [pad_track(probe_track(p), tmp_path / f"{i}.f32") for i, p in enumerate(tracks)]
    mix = mix_tracks([p.chunks() for p in padded], tmp_path / "mix.mp3", block=SAMPLE_RATE)
    assert mix.duration == pytest.approx(LENGTH, abs=0.03)
    assert len(mix.waveform) == 255 and max(mix.waveform) == 1.0
    audio = decode_file(mix.path)
    assert audio.duration == pytest.approx(LENGTH, abs=0.1)
    # Everyone is in it, at their times: it sounds like the meeting mixed in one room.
    truth = meeting.mixed()
    for utterances in meeting.utterances:
        for utterance in utterances:
            assert abs(_lag(audio.samples, truth, utterance.start, utterance.end)) <= 0.003
    # Silent until the first word, as the waveform shows.
    assert max(mix.waveform[:5]) < 0.01


# --- bad input -------------------------------------------------------------------------------


def _video_only(path: Path) -> Path:
    subprocess.run(
        ["ffmpeg", "-loglevel", "error", "-f", "lavfi", "-i",
         "testsrc=duration=1:size=32x32:rate=5", str(path)],
        check=True,
    )  # fmt: skip
    return path


def test_unusable_tracks_are_named_in_clear_errors(tracks, tmp_path):
    screen = _video_only(tmp_path / "screen.mp4")
    with pytest.raises(AudioError, match=r"screen\.mp4: has no audio stream"):
        transcribe_tracks([TrackSource(tracks[0], "a"), TrackSource(screen, "b")],
                          TranscribeOptions(), tmp_path)  # fmt: skip
    broken = tmp_path / "broken.webm"
    broken.write_bytes(b"\x1aE\xdf\xa3" + bytes(range(256)) * 4)
    with pytest.raises(AudioError, match=r"broken\.webm: .*corrupt"):
        probe_track(broken)
    truncated = tmp_path / "truncated.webm"
    truncated.write_bytes(tracks[1].read_bytes()[:400])  # cut inside the header
    with pytest.raises(AudioError, match=r"truncated\.webm"):
        pad_track(probe_track(truncated), tmp_path / "t.f32")
    with pytest.raises(TracksError, match="no tracks"):
        transcribe_tracks([], TranscribeOptions(), tmp_path)
    with pytest.raises(ValueError, match="offset"):
        probe_track(tracks[0], offset=-1.0)


# --- transcription ---------------------------------------------------------------------------


def _normal(text: str) -> str:
    return re.sub(r"[^a-z0-9']", "", text.lower())


def _matched(ours: list[Word], reference: list[Word]) -> list[tuple[Word, Word]]:
    """Pairs of the same word in both lists, aligned by their text."""
    a, b = [_normal(w.text) for w in ours], [_normal(w.text) for w in reference]
    pairs = []
    for block in SequenceMatcher(a=a, b=b, autojunk=False).get_matching_blocks():
        pairs += [(ours[block.a + k], reference[block.b + k]) for k in range(block.size)]
    return pairs


@pytest.mark.slow
def test_every_word_is_on_its_speaker_at_its_time(meeting, tracks, tiny_engine, vad, data_dir):
    options = TranscribeOptions(model="tiny.en", summarize=False)
    names = [s.name for s in meeting.speakers]
    transcript = transcribe_tracks(
        [TrackSource(p, n) for p, n in zip(tracks, names, strict=True)],
        options,
        data_dir,
        engine=tiny_engine,
        vad=vad,
        workers=2,
    )
    assert transcript.speaker_names == dict(enumerate(names))
    assert transcript.duration == pytest.approx(LENGTH, abs=0.05)
    assert [s.start for s in transcript.segments] == sorted(s.start for s in transcript.segments)
    # The truth: the same recogniser on what each microphone heard, sample-exact on the
    # timeline (no file, no offsets, no missing frames).
    reference = recognize_tracks(list(meeting.heard), options, tiny_engine, vad)
    for index, utterances in enumerate(meeting.utterances):
        words = [w for w in transcript.words if w.speaker == index]
        spoken = " ".join(w.text for w in words)
        assert word_error_rate(meeting.text(index), spoken) <= 0.2, (names[index], spoken)
        for word in words:  # nobody's words land in someone else's turn
            assert any(u.start - 0.3 <= word.start <= u.end + 0.3 for u in utterances), word
        pairs = _matched(words, reference.tracks[index].words)
        assert len(pairs) >= 0.9 * len(reference.tracks[index].words)
        for got, truth in pairs:
            assert abs(got.start - truth.start) <= 0.1 and abs(got.end - truth.end) <= 0.1


# --- the command line ------------------------------------------------------------------------


@pytest.fixture
def cli_settings(monkeypatch, data_dir):
    monkeypatch.setenv("REFLECTOR_DATA_DIR", str(data_dir))
    monkeypatch.setenv("REFLECTOR_ASR_MODEL", "tiny.en")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def _run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.slow
def test_cli_transcribes_tracks_with_speakers_named_after_files_or_options(
    capsys, cli_settings, tracks
):
    code, out, err = _run(capsys, "transcribe", "--multitrack", *map(str, tracks),
                          "--speaker-name", "Alice", "--speaker-name", "3=Carol",
                          "-f", "json", "-q", "--no-summarize")  # fmt: skip
    assert code == 0, err
    transcript = Transcript.model_validate_json(out)
    assert transcript.speaker_names == {0: "Alice", 1: "bob", 2: "Carol"}
    assert {w.speaker for w in transcript.words} == {0, 1, 2}
    assert transcript.speaker_turns and transcript.speaker_profiles
    code, out, _ = _run(capsys, "transcribe", "--multitrack", *map(str, tracks), "-f", "vtt",
                        "-q", "--no-summarize")  # fmt: skip
    assert code == 0
    assert "<v alice>" in out and "<v bob>" in out and "<v carol>" in out


def _one_line_error(code: int, err: str, expected: int, fragment: str) -> None:
    assert code == expected
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("reflector: error: "), err
    assert fragment in lines[0], lines[0]


def test_cli_refuses_bad_tracks_and_options_clearly(capsys, cli_settings, tracks, tmp_path):
    screen = _video_only(tmp_path / "screen.mp4")
    code, _, err = _run(capsys, "transcribe", "--multitrack", str(tracks[0]), str(screen))
    _one_line_error(code, err, 1, "screen.mp4: has no audio stream")
    broken = tmp_path / "broken.ogg"
    broken.write_bytes(b"OggS" + bytes(200))
    code, _, err = _run(capsys, "transcribe", "--multitrack", str(tracks[0]), str(broken))
    _one_line_error(code, err, 1, "broken.ogg")
    code, _, err = _run(capsys, "transcribe", "--multitrack")
    _one_line_error(code, err, 2, "Missing argument")
    code, _, err = _run(capsys, "transcribe", str(tracks[0]), str(tracks[1]))
    _one_line_error(code, err, 2, "add --multitrack")
    code, _, err = _run(capsys, "transcribe", "--multitrack", str(tracks[0]), "--speaker-name",
                        "A", "--speaker-name", "B")  # fmt: skip
    _one_line_error(code, err, 2, "one name per track")
    code, _, err = _run(capsys, "transcribe", "--multitrack", str(tracks[0]), "--speakers", "2")
    _one_line_error(code, err, 2, "each track is one speaker")


# --- the server ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("REFLECTOR_LLM_BACKEND", "extractive")
        data_dir = tmp_path_factory.mktemp("server")
        with running_client(server_settings(data_dir, None)) as client:
            yield client


def _files(paths: list[Path]) -> list[tuple[str, tuple[str, bytes, str]]]:
    return [("files", (p.name, p.read_bytes(), "audio/webm")) for p in paths]


def _detail(response, status: int, slug: str) -> str:
    return problem(response, status, slug)["detail"]


@pytest.mark.slow
def test_api_processes_uploaded_tracks_into_a_transcript_per_speaker(server, tracks):
    tid = server.post("/v1/transcripts", json={"name": "Planning"}).json()["id"]
    response = server.post(
        f"/v1/transcripts/{tid}/tracks",
        files=_files(tracks),
        data={"names": ["Alice", "Bob", "Carol"]},
        params={"summarize": "true"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "processing"
    done = wait_for_status(server, tid, {"ended", "error"}, timeout=300)
    assert done["status"] == "ended", done
    assert done["duration"] == pytest.approx(LENGTH, abs=0.05)
    segments = server.get(f"/v1/transcripts/{tid}/segments").json()
    assert {s["speaker"] for s in segments} == {0, 1, 2}
    people = server.get(f"/v1/transcripts/{tid}/participants").json()
    assert {(p["speaker"], p["name"]) for p in people} == {(0, "Alice"), (1, "Bob"), (2, "Carol")}
    first = {s["speaker"]: s["start"] for s in reversed(segments)}
    assert first[0] < 2.5 and 5.5 < first[1] < 7.5 and 12.5 < first[2] < 14.5
    audio = server.get(f"/v1/transcripts/{tid}/audio.mp3")
    assert audio.status_code == 200 and audio.headers["content-type"] == "audio/mpeg"
    waveform = server.get(f"/v1/transcripts/{tid}/waveform").json()
    assert len(waveform["peaks"]) == 255 and max(waveform["peaks"]) == 1.0
    vtt = server.get(f"/v1/transcripts/{tid}/export", params={"format": "vtt"}).text
    assert "<v Alice>" in vtt and "<v Carol>" in vtt
    # Processing again runs the tracks again, and keeps a name someone corrected.
    bob = next(p for p in people if p["speaker"] == 1)
    server.patch(f"/v1/transcripts/{tid}/participants/{bob['id']}", json={"name": "Robert"})
    assert server.post(f"/v1/transcripts/{tid}/process").status_code == 202
    assert wait_for_status(server, tid, {"ended", "error"}, timeout=300)["status"] == "ended"
    names = {
        p["speaker"]: p["name"] for p in server.get(f"/v1/transcripts/{tid}/participants").json()
    }
    assert names == {0: "Alice", 1: "Robert", 2: "Carol"}


def test_api_refuses_bad_tracks_and_keeps_nothing(server, tracks, tmp_path):
    tid = server.post("/v1/transcripts", json={"name": "Bad"}).json()["id"]
    url = f"/v1/transcripts/{tid}/tracks"
    screen = _video_only(tmp_path / "screen.mp4")
    detail = _detail(server.post(url, files=_files([tracks[0], screen])), 415, "not-audio")
    assert "track 2 (screen.mp4)" in detail and "no audio stream" in detail
    corrupt = tmp_path / "corrupt.webm"
    corrupt.write_bytes(b"\x1aE\xdf\xa3" + bytes(range(256)) * 4)
    detail = _detail(server.post(url, files=_files([corrupt])), 415, "not-audio")
    assert "track 1 (corrupt.webm)" in detail
    empty = tmp_path / "empty.webm"
    empty.touch()
    assert "is empty" in _detail(server.post(url, files=_files([empty])), 422, "empty-upload")
    assert "no tracks" in _detail(server.post(url, data={"names": ["x"]}), 422, "no-tracks")
    mismatch = server.post(url, files=_files(tracks[:2]), data={"names": ["Only one"]})
    assert "2 files" in _detail(mismatch, 422, "track-names")
    after = server.get(f"/v1/transcripts/{tid}").json()
    assert after["status"] == "idle"


@pytest.mark.slow
def test_a_multitrack_job_cut_off_mid_way_resumes_after_a_restart(tmp_path, tracks):
    """A new server finds the job and goes on after its last finished stage, padding the
    tracks again from the blob store (the old worker's files are gone)."""
    from datetime import timedelta

    from sqlalchemy import select

    from reflector.db.tables import JobRow, TranscriptRow, utcnow

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("REFLECTOR_LLM_BACKEND", "extractive")
        settings = server_settings(tmp_path, None)
        with running_client(settings) as client:
            tid = client.post("/v1/transcripts", json={"name": "resume"}).json()["id"]
            client.post(f"/v1/transcripts/{tid}/tracks", files=_files(tracks))
            assert wait_for_status(client, tid, {"ended", "error"}, 300)["status"] == "ended"
            before = client.get(f"/v1/transcripts/{tid}/segments").json()
            closed_job_of(client, tid)  # else the runner's closing write could undo the crash
            state = client.app.state.reflector

            async def crash() -> None:
                async with state.sessions() as session:
                    job = await session.scalar(select(JobRow).where(JobRow.transcript_id == tid))
                    assert job.pipeline == "multitrack"
                    job.status, job.current_stage = "running", "transcribe_tracks"
                    job.stages_done = ["prepare_tracks"]
                    job.lease_owner, job.lease_expires = "gone:1", utcnow() - timedelta(seconds=1)
                    (await session.get(TranscriptRow, tid)).status = "processing"
                    await session.commit()

            client.portal.call(crash)
        with running_client(settings) as client:
            done = wait_for_status(client, tid, {"ended", "error"}, 300)
            assert done["status"] == "ended", done
            assert client.get(f"/v1/transcripts/{tid}/segments").json() == before
