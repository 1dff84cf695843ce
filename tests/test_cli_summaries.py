"""`reflector transcribe` with summaries: a spoken meeting in, titles, action items and names out.

The meeting is two synthetic voices reading a short script in which the speakers introduce
themselves, take a decision and agree on next steps with deadlines. It runs through the whole
pipeline (tiny.en, diarization, summary) as a user runs it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reflector.audio import write_wav
from reflector.domain import Transcript
from reflector_testkit.meetings import VOICES, Clip, VoiceBank, compose_meeting
from tests.test_cli import isolated_settings, run

pytestmark = pytest.mark.slow
__all__ = ["isolated_settings"]  # the CLI tests' settings (tiny.en, a private data dir)

SCRIPT = (
    (0, "Good morning everyone. I'm Daniel, and I will keep this meeting short today."),
    (1, "Thanks, Daniel. Hi, I'm Maria from the billing team."),
    (0, "The first item is the billing migration. We moved eleven customers last week."),
    (1, "That matches what I saw. The other customers still use the old invoice format."),
    (0, "Then let's decide. We agreed to finish the billing migration before the end of March."),
    (1, "Sounds good. I will write the invoice converter by Friday."),
    (0, "Great, thanks Maria. The second item is the support rota for the holidays."),
    (1, "I can cover the first week of the holidays, but we need someone for the second week."),
    (0, "I will ask the support team for a volunteer by Wednesday."),
    (1, "Good. One more thing about the holidays: the office will be closed for two days."),
    (0, "Right, so customers should get a notice about the closed office in advance."),
    (1, "The notice can go out with the next newsletter, which leaves on the fifteenth."),
    (0, "That works for me. The newsletter is the simplest way to reach every customer."),
    (1, "Perfect. That is everything from my side."),
    (0, "Thanks everyone, see you next week."),
)


@pytest.fixture(scope="module")
def meeting_wav(audio_dir) -> Path:
    bank = VoiceBank()
    voices = (VOICES[0], VOICES[2])  # Piper's joe and eSpeak's rp-f2: clearly two people
    clips = [Clip(speaker, bank.speak(voices[speaker], text), text) for speaker, text in SCRIPT]
    meeting = compose_meeting(clips, seed=3)
    assert meeting.duration > 60, "the script must be long enough to be summarised by default"
    return write_wav(meeting.samples, audio_dir / "summary_meeting.wav")


def test_long_recording_is_summarised_by_default_with_names(capsys, meeting_wav):
    code, out, err = run(
        capsys, "transcribe", str(meeting_wav), "-f", "json", "--llm", "extractive"
    )
    assert code == 0, err
    transcript = Transcript.model_validate_json(out)
    summary = transcript.summary
    assert summary is not None and summary.backend == "extractive"
    # Names said in the meeting are put on the speakers, in the transcript itself.
    assert transcript.speaker_names == {0: "Daniel", 1: "Maria"}
    assert summary.participants[0].evidence and summary.participants[0].confidence >= 0.6
    assert summary.title and len(summary.title.split()) <= 10
    assert summary.title.lower() not in {"team meeting", "meeting notes"}
    assert summary.topics and summary.topics[0].start < 5
    decisions = " ".join(d.text.lower() for d in summary.action_items.decisions)
    assert "march" in decisions
    steps = summary.action_items.next_steps
    assert any(s.owner == "Maria" and "converter" in s.task for s in steps)
    assert any(s.owner == "Daniel" and s.deadline == "Wednesday" for s in steps)
    assert json.loads(out)["summary"]["long_summary"].startswith("## Quick recap")


def test_markdown_names_and_override_and_unloadable_model_note(capsys, meeting_wav, monkeypatch):
    # A local model that cannot be loaded: the summary is still written, and a note says why.
    monkeypatch.setenv("REFLECTOR_LLM_MODEL", str(meeting_wav.with_suffix(".missing.gguf")))
    code, out, err = run(
        capsys, "transcribe", str(meeting_wav), "-f", "md", "--llm", "local",
        "--speaker-name", "2=Maria Lopez",
    )  # fmt: skip
    assert code == 0, err
    assert out.startswith("# ") and not out.startswith("# Transcript")
    assert "\n## Action items\n" in out and "- [ ] Maria Lopez: " in out
    assert "**Daniel**" in out and "**Maria Lopez**" in out  # the override wins
    assert "written without an LLM" in err and "missing.gguf" in err


def test_short_clip_is_not_summarised_unless_asked(capsys, piper_clip):
    code, out, _ = run(capsys, "transcribe", str(piper_clip.path), "-f", "json", "-q")
    assert code == 0 and Transcript.model_validate_json(out).summary is None
    code, out, _ = run(
        capsys, "transcribe", str(piper_clip.path), "-f", "json", "-q", "--summarize",
        "--llm", "extractive",
    )  # fmt: skip
    assert code == 0 and Transcript.model_validate_json(out).summary is not None
    code, out, _ = run(capsys, "transcribe", str(piper_clip.path), "--no-summarize", "-q")
    assert code == 0 and not out.startswith("Summary")


@pytest.mark.parametrize("value", ["Maria", "0=Maria", "x=Maria", "2="])
def test_bad_speaker_name_is_a_usage_error(capsys, piper_clip, value):
    code, _, err = run(capsys, "transcribe", str(piper_clip.path), "--speaker-name", value)
    assert code == 2 and "NUMBER=NAME" in err
