"""Speaker turns as their own output: the diarizer's regions in the JSON (``speaker_turns``), as
NIST RTTM from the CLI and the API, and kept in step with speaker assignment and merging."""

from __future__ import annotations

import os

# OpenMP threads (PyTorch's) spin while waiting by default; see test_diarization.py.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import itertools
import json
from pathlib import Path

import numpy as np
import pytest

from reflector.audio import write_wav
from reflector.cli.main import main
from reflector.diarization import DiarizationResult, Diarizer, SpeakerTurn
from reflector.domain import (
    Segment,
    Transcript,
    Turn,
    Word,
    assign_span,
    join_turns,
    relabel_turns,
)
from reflector.export import FORMATS, format_for_path, render
from reflector.pipelines.file import TranscribeOptions, identify_speakers
from reflector.settings import get_settings
from reflector_testkit.meetings import Meeting
from reflector_testkit.real_speakers import ALSA_SOUNDS, two_voice_stream
from reflector_testkit.scoring import diarization_error_rate
from reflector_testkit.servers import light_server, wait_for_status
from reflector_testkit.speech import TEST_DATA


def parse_rttm(text: str) -> list[tuple[str, float, float, str]]:
    """``(file id, start, duration, speaker)`` per line; fails on anything not RTTM-shaped."""
    rows = []
    for line in text.splitlines():
        fields = line.split()
        assert len(fields) == 10, line
        kind, uri, channel, start, duration, ortho, stype, speaker, conf, lookahead = fields
        assert (kind, channel, ortho, stype, conf, lookahead) == (
            "SPEAKER", "1", "<NA>", "<NA>", "<NA>", "<NA>",
        )  # fmt: skip
        rows.append((uri, float(start), float(duration), speaker))
    return rows


def words(*spans: tuple[float, float, str, int | None]) -> list[Word]:
    return [Word(start=a, end=b, text=f" {t}", speaker=s) for a, b, t, s in spans]


@pytest.fixture
def transcript() -> Transcript:
    """Two speakers; the turns reach past the words (a pause inside speaker 1's sentence)."""
    first = words((0.5, 0.9, "Hello", 0), (1.0, 1.4, "there.", 0))
    second = words((2.0, 2.4, "Fine,", 1), (3.4, 3.8, "thanks.", 1))
    return Transcript(
        duration=5.0,
        segments=[
            Segment(start=0.5, end=1.4, text=" Hello there.", speaker=0, words=first),
            Segment(start=2.0, end=3.8, text=" Fine, thanks.", speaker=1, words=second),
        ],
        speaker_turns=[
            Turn(start=0.4, end=1.5, speaker=0),
            Turn(start=1.9, end=4.0, speaker=1),
        ],
        speaker_names={1: "Ann Lee"},
    )


# --- operations on turns ---------------------------------------------------------------------


def test_touching_turns_of_one_speaker_are_joined_and_others_kept_apart():
    turns = [
        Turn(start=2.0, end=3.0, speaker=0),
        Turn(start=0.0, end=1.0, speaker=0),
        Turn(start=1.0, end=2.0, speaker=0),
        Turn(start=2.5, end=4.0, speaker=1),  # overlaps speaker 0: people talk at once
        Turn(start=4.5, end=5.0, speaker=1),
    ]
    assert join_turns(turns) == [
        Turn(start=0.0, end=3.0, speaker=0),
        Turn(start=2.5, end=4.0, speaker=1),
        Turn(start=4.5, end=5.0, speaker=1),
    ]


def test_merging_and_assigning_speakers_rewrites_turns():
    turns = [Turn(start=0, end=2, speaker=0), Turn(start=2, end=3, speaker=1)]
    assert relabel_turns(turns, {1: 0}) == [Turn(start=0, end=3, speaker=0)]
    assert assign_span(turns, 1.5, 2.5, 2) == [
        Turn(start=0, end=1.5, speaker=0),
        Turn(start=1.5, end=2.5, speaker=2),
        Turn(start=2.5, end=3, speaker=1),
    ]


# --- outputs ---------------------------------------------------------------------------------


def test_json_carries_the_turns_and_reads_back(transcript):
    data = json.loads(render(transcript, "json"))
    assert data["speaker_turns"] == [
        {"start": 0.4, "end": 1.5, "speaker": 0},
        {"start": 1.9, "end": 4.0, "speaker": 1},
    ]
    assert Transcript.model_validate(data) == transcript


def test_rttm_lists_the_turns_with_names_or_numbers(transcript):
    assert "rttm" in FORMATS and format_for_path("call.RTTM") == "rttm"
    rows = parse_rttm(render(transcript, "rttm", name="weekly call"))
    assert rows == [("weekly_call", 0.4, 1.1, "speaker_1"), ("weekly_call", 1.9, 2.1, "Ann_Lee")]


def test_rttm_without_turns_falls_back_to_the_segments(transcript):
    older = transcript.model_copy(update={"speaker_turns": []})
    rows = parse_rttm(render(older, "rttm"))
    assert rows == [("recording", 0.5, 0.9, "speaker_1"), ("recording", 2.0, 1.8, "Ann_Lee")]
    anonymous = Transcript(segments=[Segment(start=0, end=1, text=" Hi.")])
    assert render(anonymous, "rttm") == ""


class _FixedDiarizer(Diarizer):
    """Returns the same turns whatever the audio; speakers numbered unlike the words'."""

    def _diarize(self, samples, speech, options) -> DiarizationResult:
        return DiarizationResult(
            (
                SpeakerTurn(0.0, 1.0, 1),
                SpeakerTurn(1.0, 1.6, 1),  # a remote server may cut one turn in two
                SpeakerTurn(1.8, 4.0, 0),
                SpeakerTurn(4.2, 4.2, 0),  # and send an empty one
            )
        )


def test_turns_are_numbered_like_the_words_and_joined():
    said = words((0.2, 0.6, "Hello", None), (1.1, 1.5, "there.", None), (2.0, 3.5, "Hi.", None))
    labelled, _, turns, note = identify_speakers(
        said, np.zeros(16_000 * 5, np.float32), [], TranscribeOptions(), _FixedDiarizer()
    )
    assert note is None
    assert [w.speaker for w in labelled] == [0, 0, 1]
    assert turns == [Turn(start=0.0, end=1.6, speaker=0), Turn(start=1.8, end=4.0, speaker=1)]


# --- real voices -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def real_stream(tmp_path_factory) -> tuple[Meeting, Path]:
    """Two real people taking turns (the LibriVox reader and the ALSA voice), as a WAV file."""
    if not (TEST_DATA / "pocketsphinx" / "librivox").is_dir():
        pytest.fail("real-speech test data missing: run `bash scripts/install.sh --dev`")
    if not ALSA_SOUNDS.is_dir():
        pytest.skip(f"no ALSA sounds in {ALSA_SOUNDS} (the alsa-utils package)")
    meeting = two_voice_stream(TEST_DATA / "pocketsphinx")
    path = tmp_path_factory.mktemp("real") / "two voices.wav"
    return meeting, write_wav(meeting.samples, path)


@pytest.fixture(scope="module")
def cli_outputs(real_stream, tmp_path_factory) -> tuple[dict, str]:
    """The JSON and RTTM of one ``reflector transcribe`` run each."""
    data_dir = tmp_path_factory.mktemp("data")
    _, path = real_stream
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("REFLECTOR_DATA_DIR", str(data_dir))
        mp.setenv("REFLECTOR_ASR_MODEL", "tiny.en")
        get_settings.cache_clear()
        out = tmp_path_factory.mktemp("out")
        try:
            for name in ("t.json", "t.rttm"):  # the format follows the extension
                assert main(["transcribe", str(path), "-o", str(out / name), "-q"]) == 0
        finally:
            get_settings.cache_clear()
    return json.loads((out / "t.json").read_text()), (out / "t.rttm").read_text()


@pytest.mark.slow
def test_real_two_voice_stream_has_two_speakers_in_its_turns(cli_outputs):
    data, _ = cli_outputs
    transcript = Transcript.model_validate(data)
    assert len({t.speaker for t in transcript.speaker_turns}) == 2
    assert transcript.speakers == [0, 1]
    turns = transcript.speaker_turns
    assert turns == sorted(turns, key=lambda t: t.start)
    assert all(t.end > t.start for t in turns)
    # Same speaker never touches itself: touching regions were joined.
    by_speaker = itertools.groupby(
        sorted(turns, key=lambda t: (t.speaker, t.start)), lambda t: t.speaker
    )
    for _, own in by_speaker:
        assert all(b.start > a.end for a, b in itertools.pairwise(own))


@pytest.mark.slow
def test_turns_cover_the_speech_between_words(real_stream, cli_outputs):
    meeting, _ = real_stream
    transcript = Transcript.model_validate(cli_outputs[0])
    segments = [
        SpeakerTurn(s.start, s.end, s.speaker) for s in transcript.segments if s.speaker is not None
    ]
    turns = [SpeakerTurn(t.start, t.end, t.speaker) for t in transcript.speaker_turns]
    by_turns = diarization_error_rate(meeting, turns, 0.25)
    by_segments = diarization_error_rate(meeting, segments, 0.25)
    assert by_turns <= 0.08
    assert by_turns < by_segments
    # Some pause between two words inside one speaker's stretch is inside a turn.
    gaps = [
        (a.end, b.start)
        for a, b in itertools.pairwise(transcript.words)
        if a.speaker == b.speaker and b.start - a.end >= 0.1
    ]
    assert any(
        t.start <= start and end <= t.end for start, end in gaps for t in transcript.speaker_turns
    )


@pytest.mark.slow
def test_rttm_from_the_cli_parses_and_matches_the_json_turns(real_stream, cli_outputs):
    data, rttm = cli_outputs
    rows = parse_rttm(rttm)
    assert rows and {uri for uri, *_ in rows} == {"two_voices"}
    assert all(duration > 0 for _, _, duration, _ in rows)
    assert [start for _, start, _, _ in rows] == sorted(start for _, start, _, _ in rows)
    expected = [
        (t["start"], round(t["end"] - t["start"], 3), f"speaker_{t['speaker'] + 1}")
        for t in data["speaker_turns"]
    ]
    assert [(s, round(d, 3), who) for _, s, d, who in rows] == expected


@pytest.mark.slow
def test_api_exports_rttm_and_keeps_turns_in_step_with_speaker_changes(real_stream, tmp_path):
    _, path = real_stream
    with light_server(tmp_path) as client:
        created = client.post("/v1/transcripts", json={"name": "Two voices"}).json()
        tid = created["id"]
        uploaded = client.post(
            f"/v1/transcripts/{tid}/upload",
            content=path.read_bytes(),
            params={"filename": path.name, "summarize": "false"},
        )
        assert uploaded.status_code == 200, uploaded.text
        assert wait_for_status(client, tid, {"ended", "error"})["status"] == "ended"
        base = f"/v1/transcripts/{tid}/export"
        response = client.get(base, params={"format": "rttm"})
        assert response.status_code == 200
        assert response.headers["content-disposition"].endswith('.rttm"')
        rows = parse_rttm(response.text)
        assert {uri for uri, *_ in rows} == {"Two-voices"}
        assert {who for *_, who in rows} == {"speaker_1", "speaker_2"}
        exported = json.loads(client.get(base, params={"format": "json"}).text)
        assert len(exported["speaker_turns"]) == len(rows)

        # A name shows in the RTTM; a merge makes every turn the remaining speaker's.
        client.post(f"/v1/transcripts/{tid}/participants", json={"name": "Jo Reader", "speaker": 0})
        merged = client.post(
            f"/v1/transcripts/{tid}/speakers/merge", json={"speakers": [1], "into": 0}
        )
        assert merged.status_code == 200, merged.text
        after = parse_rttm(client.get(base, params={"format": "rttm"}).text)
        assert {who for *_, who in after} == {"Jo_Reader"}
        # Turns apart in time stay apart; only whose they are changed.
        assert [row[1:3] for row in after] == [row[1:3] for row in rows]
