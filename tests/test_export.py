"""Export formats: what a user opening the files (or a player reading them) would notice."""

from __future__ import annotations

import html
import io
import itertools
from datetime import timedelta
from pathlib import Path

import pytest
import srt
import webvtt

from reflector.domain import (
    ActionItems,
    Decision,
    MeetingSummary,
    NextStep,
    Participant,
    Segment,
    Topic,
    Transcript,
    Word,
)
from reflector.export import FORMATS, build_cues, format_for_path, render

# --- helpers ----------------------------------------------------------------------------------


def timed_words(text: str, start: float, step: float = 0.5) -> list[Word]:
    """Whisper-style words (leading space kept), one every ``step`` seconds."""
    return [
        Word(start=start + i * step, end=start + i * step + step * 0.8, text=f" {word}")
        for i, word in enumerate(text.split())
    ]


def segment(
    start: float, end: float, text: str, speaker: int | None = None, *, words: bool = False
) -> Segment:
    step = (end - start) / max(len(text.split()), 1)
    found = timed_words(text, start, step) if words else []
    return Segment(start=start, end=end, text=text, speaker=speaker, words=found)


def parse_srt(output: str) -> list[srt.Subtitle]:
    return list(srt.parse(output))


def parse_vtt(output: str) -> list[webvtt.Caption]:
    return webvtt.from_buffer(io.StringIO(output), strict=True).captions


def seconds(delta: timedelta) -> float:
    return delta.total_seconds()


def one_line(text: str) -> str:
    """Caption text with its line wrapping undone."""
    return " ".join(text.split())


LONG_TEXT = (
    "We decided to move the launch to next Tuesday because the payment provider still has not "
    "confirmed the new contract and legal wants one more review of the privacy terms."
)


@pytest.fixture
def meeting() -> Transcript:
    return Transcript(
        language="en",
        duration=12.0,
        model="base",
        segments=[
            segment(0.0, 2.5, "Hello everyone.", 0),
            segment(2.5, 4.0, "Let's start.", 0),
            segment(4.2, 6.0, "Thanks, I have two points.", 1),
            segment(62.25, 64.0, "Back to you.", 0),
        ],
    )


@pytest.fixture
def anonymous() -> Transcript:
    return Transcript(
        segments=[
            segment(0.0, 1.0, "First sentence."),
            segment(1.5, 2.5, "Right after."),
            segment(6.0, 7.0, "After a long pause."),
        ]
    )


# --- registry ---------------------------------------------------------------------------------


def test_format_names() -> None:
    assert FORMATS == ("text", "timestamped", "vtt", "srt", "json", "md", "rttm")


# RTTM holds speaker times only, no words (tests/test_speaker_turns.py covers it).
@pytest.mark.parametrize("fmt", [f for f in FORMATS if f != "rttm"])
def test_every_format_renders(meeting: Transcript, fmt: str) -> None:
    assert "Hello everyone." in render(meeting, fmt)


def test_unknown_format_is_rejected_with_the_choices(meeting: Transcript) -> None:
    with pytest.raises(ValueError) as raised:
        render(meeting, "docx")
    assert str(raised.value) == (
        "unknown format 'docx' (choose from text, timestamped, vtt, srt, json, md, rttm)"
    )


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("notes.txt", "text"),
        ("out/captions.vtt", "vtt"),
        (Path("meeting.SRT"), "srt"),
        ("meeting.json", "json"),
        ("meeting.md", "md"),
        ("meeting.markdown", "md"),
        ("call.rttm", "rttm"),
        ("meeting.wav", None),
        ("meeting", None),
    ],
)
def test_format_for_path(path: str | Path, expected: str | None) -> None:
    assert format_for_path(path) == expected


# --- SRT --------------------------------------------------------------------------------------


def test_srt_parses_with_numbers_times_and_speakers(meeting: Transcript) -> None:
    subtitles = parse_srt(render(meeting, "srt"))
    assert [s.index for s in subtitles] == [1, 2, 3, 4]
    assert [(seconds(s.start), seconds(s.end)) for s in subtitles] == [
        (0.0, 2.5),
        (2.5, 4.0),
        (4.2, 6.0),
        (62.25, 64.0),
    ]
    assert subtitles[0].content == "Speaker 1: Hello everyone."
    assert subtitles[2].content == "Speaker 2: Thanks, I have two points."


def test_srt_time_format(meeting: Transcript) -> None:
    assert "00:01:02,250 --> 00:01:04,000" in render(meeting, "srt")


def test_srt_uses_speaker_names(meeting: Transcript) -> None:
    named = meeting.model_copy(update={"speaker_names": {1: "Alice"}})
    contents = [s.content for s in parse_srt(render(named, "srt"))]
    assert contents[1] == "Speaker 1: Let's start."
    assert contents[2] == "Alice: Thanks, I have two points."


def test_srt_without_speakers_has_no_prefix(anonymous: Transcript) -> None:
    contents = [s.content for s in parse_srt(render(anonymous, "srt"))]
    assert contents == ["First sentence.", "Right after.", "After a long pause."]


# --- WebVTT -----------------------------------------------------------------------------------


def test_vtt_header_times_and_voices(meeting: Transcript) -> None:
    output = render(meeting, "vtt")
    assert output.startswith("WEBVTT\n\n")
    assert "00:01:02.250 --> 00:01:04.000" in output
    captions = parse_vtt(output)
    assert [(c.start_in_seconds, c.voice, c.text) for c in captions] == [
        (0, "Speaker 1", "Hello everyone."),
        (2, "Speaker 1", "Let's start."),
        (4, "Speaker 2", "Thanks, I have two points."),
        (62, "Speaker 1", "Back to you."),
    ]


def test_vtt_voice_uses_names(meeting: Transcript) -> None:
    named = meeting.model_copy(update={"speaker_names": {0: "Bob Smith"}})
    voices = [c.voice for c in parse_vtt(render(named, "vtt"))]
    assert voices == ["Bob Smith", "Bob Smith", "Speaker 2", "Bob Smith"]


def test_vtt_without_speakers_has_no_voice(anonymous: Transcript) -> None:
    captions = parse_vtt(render(anonymous, "vtt"))
    assert [c.voice for c in captions] == [None, None, None]
    assert "<v" not in render(anonymous, "vtt")


def test_vtt_escapes_markup_characters() -> None:
    transcript = Transcript(segments=[segment(0, 2, "if a < b && c > d then <b>", 0)])
    output = render(transcript, "vtt")
    assert "&lt;b&gt;" in output and "&amp;&amp;" in output
    (caption,) = parse_vtt(output)
    assert caption.voice == "Speaker 1"
    assert html.unescape(caption.text) == "if a < b && c > d then <b>"


def test_srt_keeps_markup_characters_as_typed() -> None:
    transcript = Transcript(segments=[segment(0, 2, "a < b & c", None)])
    assert parse_srt(render(transcript, "srt"))[0].content == "a < b & c"


def test_newlines_in_text_do_not_break_cues() -> None:
    transcript = Transcript(segments=[segment(0, 2, "one\n\ntwo", 0), segment(3, 4, "three", 0)])
    assert [s.content for s in parse_srt(render(transcript, "srt"))] == [
        "Speaker 1: one two",
        "Speaker 1: three",
    ]
    assert [c.text for c in parse_vtt(render(transcript, "vtt"))] == ["one two", "three"]


# --- cue splitting ----------------------------------------------------------------------------


def cue_spans(fmt: str, transcript: Transcript) -> list[tuple[float, float, str]]:
    """(start, end, text) of every cue as a player would read them."""
    output = render(transcript, fmt)
    if fmt == "srt":
        return [(seconds(s.start), seconds(s.end), one_line(s.content)) for s in parse_srt(output)]
    return [
        (
            c.start_time.in_milliseconds() / 1000,
            c.end_time.in_milliseconds() / 1000,
            one_line(c.text),
        )
        for c in parse_vtt(output)
    ]


@pytest.mark.parametrize("fmt", ["srt", "vtt"])
@pytest.mark.parametrize("with_words", [True, False], ids=["words", "no-words"])
def test_long_segment_is_split_into_readable_cues(fmt: str, with_words: bool) -> None:
    long = segment(10.0, 30.0, LONG_TEXT, None, words=with_words)
    transcript = Transcript(segments=[segment(0.0, 9.0, "Intro."), long])
    spans = cue_spans(fmt, transcript)[1:]

    assert len(spans) >= 3
    assert spans[0][0] == 10.0 and spans[-1][1] == 30.0
    for start, end, text in spans:
        assert 10.0 <= start <= end <= 30.0
        assert end - start <= 7.0
        assert len(text) <= 84
    starts = [start for start, _, _ in spans]
    assert starts == sorted(starts)
    assert all(prev[1] <= nxt[0] for prev, nxt in itertools.pairwise(spans))
    # Split at word boundaries: nothing lost, nothing cut mid-word.
    assert " ".join(text for _, _, text in spans) == LONG_TEXT


def test_split_follows_word_timestamps() -> None:
    words = timed_words(LONG_TEXT, 100.0, 0.6)
    long = Segment(start=100.0, end=words[-1].end, text=LONG_TEXT, words=words)
    cues = build_cues(Transcript(segments=[long]))
    assert len(cues) > 1
    word_ends = {round(w.end * 1000) for w in words}
    word_starts = {round(w.start * 1000) for w in words}
    assert all(cue.end in word_ends for cue in cues[:-1])
    assert all(cue.start in word_starts for cue in cues[1:])


def test_split_cues_keep_the_speaker() -> None:
    transcript = Transcript(segments=[segment(0.0, 20.0, LONG_TEXT, 2, words=True)])
    subtitles = parse_srt(render(transcript, "srt"))
    assert len(subtitles) > 1
    assert all(s.content.startswith("Speaker 3: ") for s in subtitles)
    captions = parse_vtt(render(transcript, "vtt"))
    assert {c.voice for c in captions} == {"Speaker 3"}


def test_long_lines_wrap_onto_two_lines() -> None:
    text = "This caption is long enough that it needs two lines."
    (subtitle,) = parse_srt(render(Transcript(segments=[segment(0, 3, text)]), "srt"))
    lines = subtitle.content.split("\n")
    assert len(lines) == 2 and all(len(line) <= 42 for line in lines)
    assert " ".join(lines) == text


# --- times ------------------------------------------------------------------------------------


def test_negative_times_are_clamped_to_zero() -> None:
    broken = Segment.model_construct(start=-1.5, end=-0.2, text="Oops.", speaker=None, words=[])
    transcript = Transcript.model_construct(segments=[broken], speaker_names={}, notes=[])
    (subtitle,) = parse_srt(render(transcript, "srt"))
    assert (seconds(subtitle.start), seconds(subtitle.end)) == (0.0, 0.0)
    assert "[00:00:00] Oops." in render(transcript, "timestamped")


def test_rounding_never_reverses_cues() -> None:
    transcript = Transcript(
        segments=[
            segment(1.0004, 1.0004, "zero length"),
            segment(5.0, 6.0, "later"),
            segment(4.9996, 5.5, "starts a hair earlier"),
            segment(3.0, 3.5, "out of order"),
        ]
    )
    for fmt in ("srt", "vtt"):
        spans = cue_spans(fmt, transcript)
        assert all(start <= end for start, end, _ in spans)
        starts = [start for start, _, _ in spans]
        assert starts == sorted(starts)
        assert (3.0, 3.5, "out of order") in spans


# --- JSON -------------------------------------------------------------------------------------


def test_json_round_trips(meeting: Transcript) -> None:
    rich = meeting.model_copy(
        update={
            "speaker_names": {0: "Ann"},
            "notes": ["Speaker count was guessed."],
            "segments": [*meeting.segments, segment(70.0, 90.0, LONG_TEXT, 1, words=True)],
        }
    )
    output = render(rich, "json")
    assert output == rich.model_dump_json(indent=2)
    assert Transcript.model_validate_json(output) == rich


# --- text and timestamped ---------------------------------------------------------------------


def test_text_has_one_paragraph_per_speaker_turn(meeting: Transcript) -> None:
    assert render(meeting, "text") == (
        "Speaker 1: Hello everyone. Let's start.\n\n"
        "Speaker 2: Thanks, I have two points.\n\n"
        "Speaker 1: Back to you.\n"
    )


def test_text_uses_names(meeting: Transcript) -> None:
    named = meeting.model_copy(update={"speaker_names": {1: "Alice"}})
    assert "\n\nAlice: Thanks, I have two points.\n\n" in render(named, "text")


def test_text_without_speakers_breaks_at_long_pauses(anonymous: Transcript) -> None:
    assert render(anonymous, "text") == "First sentence. Right after.\n\nAfter a long pause.\n"


def test_timestamped_lines(meeting: Transcript) -> None:
    lines = render(meeting, "timestamped").splitlines()
    assert lines[0] == "[00:00:00] Speaker 1: Hello everyone."
    assert lines[-1] == "[00:01:02] Speaker 1: Back to you."
    assert len(lines) == 4


def test_timestamped_shows_hours_and_omits_unknown_speakers() -> None:
    transcript = Transcript(segments=[segment(3725.9, 3727.0, "Late remark.")])
    assert render(transcript, "timestamped") == "[01:02:05] Late remark.\n"


# --- Markdown ---------------------------------------------------------------------------------


def test_markdown_document(meeting: Transcript) -> None:
    named = meeting.model_copy(
        update={"duration": 3661.4, "speaker_names": {1: "Alice"}, "notes": ["Two speakers."]}
    )
    output = render(named, "md")
    assert output.startswith("# Transcript\n\n")
    assert "- Duration: 1:01:01\n" in output
    assert "- Language: en\n" in output
    assert "- Model: base\n" in output
    assert "\n> Two speakers.\n" in output
    assert "**Speaker 1** [00:00:00] Hello everyone. Let's start." in output
    assert "**Alice** [00:00:04] Thanks, I have two points." in output
    assert "**Speaker 1** [00:01:02] Back to you." in output


def test_markdown_escapes_markup() -> None:
    transcript = Transcript(segments=[segment(0, 1, "<script>alert(1)</script> *wow*", 0)])
    output = render(transcript, "md")
    assert "<script>" not in output
    assert r"\*wow\*" in output


# --- empty transcripts ------------------------------------------------------------------------


def test_empty_transcript_is_valid_everywhere() -> None:
    empty = Transcript()
    assert render(empty, "vtt") == "WEBVTT\n"
    assert parse_vtt(render(empty, "vtt")) == []
    assert render(empty, "srt") == ""
    assert parse_srt(render(empty, "srt")) == []
    assert render(empty, "text") == ""
    assert render(empty, "timestamped") == ""
    assert Transcript.model_validate_json(render(empty, "json")) == empty
    assert render(empty, "md") == "# Transcript\n\n- Duration: 0:00:00\n"


def test_blank_segments_make_no_cues() -> None:
    transcript = Transcript(segments=[segment(0, 1, "   "), segment(1, 2, "")])
    assert render(transcript, "srt") == ""
    assert render(transcript, "vtt") == "WEBVTT\n"


def test_empty_transcript_shows_its_notes() -> None:
    silent = Transcript(duration=30.0, notes=["No speech was found."])
    assert render(silent, "text") == "No speech was found.\n"
    md = render(silent, "md")
    assert "- Duration: 0:00:30" in md
    assert "> No speech was found.\n" in md
    assert Transcript.model_validate_json(render(silent, "json")) == silent


# --- the summary section ---------------------------------------------------------------------


@pytest.fixture
def summarised(meeting: Transcript) -> Transcript:
    summary = MeetingSummary(
        title="Launch Date and Payment Provider",
        short_summary="Maria and Tom moved the launch; Tom will call the provider.",
        long_summary="## Quick recap\n\nMaria and Tom moved the launch.\n",
        topics=[
            Topic(
                title="Launch date",
                summary="The launch moves to Tuesday.",
                start=0.0,
                duration=62.0,
                first_segment=0,
                last_segment=2,
            ),
            Topic(
                title="Wrap-up --> <b>next</b>",
                summary="Back to Maria.",
                start=62.25,
                duration=1.75,
                first_segment=3,
                last_segment=3,
            ),
        ],
        action_items=ActionItems(
            decisions=[Decision(text="Launch on Tuesday", decided_by="Maria", time=0.0)],
            next_steps=[NextStep(task="Call the provider", owner="Tom", deadline="Friday")],
        ),
        participants=[
            Participant(speaker=0, name="Maria", confidence=0.85, evidence=["I'm Maria"]),
            Participant(speaker=1, name="Tom", confidence=1.0, source="override"),
        ],
        speaker_names={0: "Maria", 1: "Tom"},
    )
    return meeting.model_copy(update={"summary": summary, "speaker_names": {0: "Maria", 1: "Tom"}})


def test_text_starts_with_the_summary_then_the_named_transcript(summarised: Transcript) -> None:
    text = render(summarised, "text")
    head, _, body = text.partition("\nTranscript\n\n")
    assert head.startswith("Launch Date and Payment Provider\n\nMaria and Tom moved the launch")
    assert "[00:00:00] Launch date: The launch moves to Tuesday." in head
    assert "- Launch on Tuesday (Maria)" in head
    assert "- Tom: Call the provider (by Friday)" in head
    assert "Speaker 1: Maria (detected, confidence 0.85)" in head
    assert body.startswith("Maria: Hello everyone. Let's start.\n\nTom: Thanks")


def test_timestamped_keeps_one_line_per_segment_after_the_summary(summarised: Transcript) -> None:
    _, _, body = render(summarised, "timestamped").partition("\nTranscript\n\n")
    assert body.splitlines()[0] == "[00:00:00] Maria: Hello everyone."
    assert len(body.splitlines()) == len(summarised.segments)


def test_vtt_carries_the_summary_in_a_note_players_ignore(summarised: Transcript) -> None:
    output = render(summarised, "vtt")
    note = output.split("\n\n")[1]
    assert note.startswith("NOTE\nLaunch Date and Payment Provider")
    assert "-->" not in note and "\n\n" not in note
    captions = parse_vtt(output)  # strict parsing: the note must not break the file
    assert [c.voice for c in captions][:2] == ["Maria", "Maria"]
    assert "Launch Date" not in " ".join(c.text for c in captions)


def test_srt_stays_captions_only(summarised: Transcript) -> None:
    subtitles = parse_srt(render(summarised, "srt"))
    assert len(subtitles) == len(build_cues(summarised))
    assert subtitles[0].content.startswith("Maria: ")
    assert "Launch Date" not in render(summarised, "srt")


def test_markdown_has_title_summary_action_items_and_escapes(summarised: Transcript) -> None:
    output = render(summarised, "md")
    assert output.startswith("# Launch Date and Payment Provider\n")
    for heading in ("## Summary", "## Topics", "## Action items", "## Participants"):
        assert f"\n{heading}\n" in output
    assert "### Launch date (00:00:00)" in output
    assert "- [ ] Tom: Call the provider (by Friday)" in output
    assert "<b>" not in output and "\\<b\\>" in output  # generated text cannot inject HTML
    assert output.index("## Transcript") < output.index("**Maria** [00:00:00] Hello everyone.")


def test_json_round_trips_the_summary(summarised: Transcript) -> None:
    again = Transcript.model_validate_json(render(summarised, "json"))
    assert again.summary == summarised.summary
    assert again.speaker_names == {0: "Maria", 1: "Tom"}


def test_without_a_summary_nothing_changes(meeting: Transcript) -> None:
    assert render(meeting, "text").startswith("Speaker 1: Hello everyone.")
    assert render(meeting, "md").startswith("# Transcript\n")
    assert "NOTE" not in render(meeting, "vtt")
