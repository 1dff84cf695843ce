"""Meeting intelligence without a model: names, topics, grounding, rules and extractive notes.

Inputs are generated meetings with planted facts (``reflector_testkit.meeting_scripts``) and a
few hand-written transcripts for the cases a generator would not produce.
"""

from __future__ import annotations

import itertools
import re

import pytest

from reflector.domain.transcript import Segment, Transcript
from reflector.intelligence import (
    ExtractiveWriter,
    GroundingSource,
    MeetingSummary,
    SummaryOptions,
    apply_participant_names,
    detect_participants,
    segment_topics,
    summarize_meeting,
    target_topic_seconds,
    ungrounded_claims,
)
from reflector.intelligence.action_rules import find_decisions, find_next_steps
from reflector.intelligence.segmentation import topic_count_bounds
from reflector.intelligence.utterances import render_dialogue, utterances
from reflector.intelligence.writers import title_problems
from reflector.llm.extractive import keyphrases, select_sentences, split_sentences, textrank
from reflector_testkit.meeting_scripts import DISTRACTOR_NAMES, generate_meeting


def turns(*lines: tuple[int, str], gap: float = 0.5) -> Transcript:
    """A transcript from (speaker, text) lines, 0.4 s per word."""
    segments, time = [], 0.0
    for speaker, text in lines:
        end = time + 0.4 * len(text.split())
        segments.append(Segment(start=time, end=end, text=" " + text, speaker=speaker))
        time = end + gap
    return Transcript(language="en", duration=time, segments=segments)


# --- generator -------------------------------------------------------------------------------


def test_generated_meeting_is_deterministic_and_sized():
    first, again = generate_meeting(7, minutes=10), generate_meeting(7, minutes=10)
    assert first.transcript == again.transcript
    assert first.decisions == again.decisions and first.actions == again.actions
    assert generate_meeting(8, minutes=10).transcript != first.transcript
    assert 9 * 60 <= first.transcript.duration <= 11.5 * 60
    words = len(first.transcript.words)
    assert 130 <= words / (first.transcript.duration / 60) <= 170, "a realistic speaking rate"
    for decision in first.decisions:
        assert decision.text in first.transcript.text
    for action in first.actions:
        assert action.task in first.transcript.text and action.deadline in first.transcript.text


# --- participants ----------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(6))
def test_names_from_introductions_and_addresses(seed):
    meeting = generate_meeting(seed, minutes=6, speakers=2 + seed % 4)
    participants = detect_participants(meeting.transcript)
    assert {p.speaker: p.name for p in participants} == meeting.participants
    assert all(p.confidence >= 0.6 for p in participants)
    assert not {p.name for p in participants} & set(DISTRACTOR_NAMES)


def test_names_cues_and_their_direction():
    transcript = turns(
        (0, "Good morning, my name is Elena and I run product."),
        (1, "Morning. Quick question before we start."),
        (0, "Sure, go ahead. Thanks, Jonas."),
        (2, "Hi all, Ravi here."),
        (0, "Jonas, what do you think about the roadmap?"),
        (1, "I think it's fine. Sarah from legal mentioned a review."),
        (2, "What do you think, Elena?"),
        (0, "Looks good to me."),
    )
    found = {p.speaker: p for p in detect_participants(transcript)}
    assert found[0].name == "Elena" and found[0].confidence >= 0.8
    assert found[1].name == "Jonas"
    assert found[2].name == "Ravi"
    assert any("Ravi here" in e for e in found[2].evidence)
    assert "Sarah" not in {p.name for p in found.values()}


def test_weak_evidence_stays_below_threshold_and_overrides_win():
    transcript = turns((0, "Let's begin."), (1, "Okay."), (0, "Thanks, Nora."), (1, "Next point."))
    [chair, other] = detect_participants(transcript)
    assert other.name == "Nora" and other.confidence < 0.6  # one address is not enough
    named = apply_participant_names(transcript, [chair, other])
    assert named.speaker_names == {}
    assert named.label(1) == "Speaker 2"
    overridden = apply_participant_names(transcript, [chair, other], overrides={1: "Nora K."})
    assert overridden.speaker_names == {1: "Nora K."}
    lowered = apply_participant_names(transcript, [chair, other], threshold=0.4)
    assert lowered.speaker_names == {1: "Nora"}


def test_existing_names_on_the_transcript_are_kept():
    meeting = generate_meeting(1, minutes=4, speakers=3)
    edited = meeting.transcript.model_copy(update={"speaker_names": {0: "The Chair"}})
    named = apply_participant_names(edited, detect_participants(edited))
    assert named.speaker_names[0] == "The Chair"
    assert named.speaker_names[1] == meeting.participants[1]


# --- topics ------------------------------------------------------------------------------------


def test_topic_length_and_count_grow_with_duration():
    lengths = [target_topic_seconds(m * 60) for m in (5, 10, 30, 60, 120)]
    assert lengths == sorted(lengths) and lengths[0] < lengths[-1]
    counts = [topic_count_bounds(m * 60)[1] for m in (5, 10, 30, 60)]
    assert counts == sorted(counts) and counts[0] < counts[-1]


@pytest.mark.parametrize("minutes", [10, 30, 60])
def test_topics_follow_the_subjects(minutes):
    meeting = generate_meeting(4, minutes=minutes)
    items = utterances(meeting.transcript)
    spans = segment_topics(items, meeting.transcript.duration)
    assert spans[0].first == 0 and spans[-1].last == len(items) - 1
    assert all(a.last + 1 == b.first for a, b in itertools.pairwise(spans))
    starts = [s.start for s in spans]
    found = sum(any(abs(s.start - start) < 30 for start in starts) for s in meeting.subjects[1:])
    assert found >= len(meeting.subjects) - 2, "most subject changes become topic boundaries"
    low, high = topic_count_bounds(meeting.transcript.duration)
    assert low <= len(spans) <= high


def test_short_talk_is_one_topic():
    transcript = turns((0, "Quick one: the build is green again."), (1, "Great, thanks."))
    assert len(segment_topics(utterances(transcript), transcript.duration)) == 1


# --- grounding ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def source() -> GroundingSource:
    return GroundingSource.from_texts(
        ["Tom, can you draft the press release by Thursday? We cap the beta at 200 testers on "
         "March 14. Ahmed from legal will check it."],
        names=["Maria", "Tom"],
    )  # fmt: skip


@pytest.mark.parametrize(
    ("text", "claims"),
    [
        ("Tom will draft the press release by Thursday.", []),
        ("Maria capped the beta at two hundred testers.", []),
        ("The beta is capped at 200 testers from March 14.", []),
        ("Speaker 3 will review it.", []),
        ("Discussed the beta. Agreed to cap it.", []),
        ("John will draft it by Friday.", ["John", "Friday"]),
        ("The beta grows to 250 testers on March 15th.", ["250", "15th"]),
        ("Launch with Sarah in April.", ["Sarah", "April"]),
        ("John's plan was accepted.", ["John's"]),
        ("We may launch later.", []),
    ],
)
def test_grounding_finds_invented_names_numbers_and_dates(source, text, claims):
    assert ungrounded_claims(text, source) == claims


def test_grounding_in_title_case(source):
    assert ungrounded_claims("Press Release Planning for the Beta", source, title=True) == []
    assert ungrounded_claims("Beta Cap on March 15", source, title=True) == ["15"]
    assert ungrounded_claims("John's Beta Review", source, title=True) == ["John's"]
    assert source.allows_name("Tom") and source.allows_name("Speaker 2")
    assert not source.allows_name("John")


def test_generic_titles_are_rejected():
    assert title_problems("Team Meeting")
    assert title_problems("Weekly Sync Update")
    assert title_problems("Topics of the Meeting")
    assert title_problems(" ".join(["word"] * 11))
    assert not title_problems("Billing Migration and Beta Cap")


# --- extractive ranking and rules --------------------------------------------------------------


def test_textrank_prefers_central_sentences():
    sentences = [
        "The billing migration moved the invoice export to the new payment provider.",
        "The payment provider confirmed the invoice export works after the billing migration.",
        "I had pasta for lunch.",
        "The billing migration finishes when the payment provider signs off the invoice export.",
    ]
    scores = textrank(sentences)
    assert scores[2] == min(scores)
    assert 2 not in select_sentences(sentences, 2)
    assert split_sentences("One. Two? Three!") == ["One.", "Two?", "Three!"]


def test_keyphrases_name_the_subject():
    meeting = generate_meeting(3, minutes=10, subjects=2)
    texts = [
        " ".join(s.text for s in meeting.transcript.segments if span.start <= s.start < span.end)
        for span in meeting.subjects
    ]
    for span, text in zip(meeting.subjects, texts, strict=True):
        phrases = keyphrases(text, 3, background=texts)
        assert phrases and all(p.lower() in {n.lower() for n in span.nouns} for p in phrases)


def test_rules_find_planted_decisions_and_next_steps():
    meeting = generate_meeting(2, minutes=30)
    items = utterances(meeting.transcript)
    decisions = find_decisions(items, meeting.participants)
    steps = find_next_steps(items, meeting.participants)
    assert [d.text for d in decisions] == [d.text for d in meeting.decisions]
    assert [d.decided_by for d in decisions] == [d.decided_by for d in meeting.decisions]
    assert [(s.task, s.owner, s.deadline) for s in steps] == [
        (a.task, a.owner, a.deadline) for a in meeting.actions
    ]


def test_rules_on_free_phrasing():
    transcript = turns(
        (0, "After a long debate we decided to drop the legacy importer."),
        (1, "Fine. I'll write the migration guide before next Monday."),
        (0, "Priya will update the pricing page by the end of the month."),
        (1, "Yes, agreed."),
        (0, "We should probably think about it."),
    )
    items = utterances(transcript)
    [decision] = find_decisions(items, {0: "Lena"})
    assert decision.text == "drop the legacy importer" and decision.decided_by == "Lena"
    steps = find_next_steps(items, {0: "Lena"})
    assert [(s.task, s.owner, s.deadline) for s in steps] == [
        ("write the migration guide", "Speaker 2", "next Monday"),
        ("update the pricing page", "Priya", "the end of the month"),
    ]


# --- the whole extractive summary --------------------------------------------------------------


def test_extractive_summary_of_a_meeting():
    meeting = generate_meeting(5, minutes=20)
    summary = summarize_meeting(meeting.transcript, ExtractiveWriter())
    assert isinstance(summary, MeetingSummary) and summary.backend == "extractive"
    assert not title_problems(summary.title)
    assert 2 <= len(summary.topics) <= 8
    covered = [i for t in summary.topics for i in t.segment_indices]
    assert covered == list(range(len(meeting.transcript.segments)))
    assert summary.speaker_names == meeting.participants
    decided = " ".join(d.text for d in summary.action_items.decisions)
    assert all(d.detail in decided for d in meeting.decisions)
    owners = {(s.owner, s.deadline) for s in summary.action_items.next_steps}
    assert {(a.owner, a.deadline) for a in meeting.actions} <= owners
    assert summary.long_summary.startswith("## Quick recap\n\n")
    assert summary.long_summary.count("\n## ") == len(summary.topics)
    for step in summary.action_items.next_steps:
        assert step.context and step.context in meeting.transcript.text
    headings_without_times = re.sub(r"\(\d+:\d\d(?::\d\d)?\)", "", summary.long_summary)
    text = " ".join([summary.title, summary.short_summary, headings_without_times])
    source = GroundingSource.from_texts([meeting.transcript.text])
    assert ungrounded_claims(text, source) == []


def test_summary_language_and_overrides_are_passed_through():
    meeting = generate_meeting(5, minutes=5, speakers=2)
    options = SummaryOptions(language="de", speaker_names={1: "Dr. Weber"})
    summary = summarize_meeting(meeting.transcript, options=options)
    assert summary.language == "de"
    assert summary.speaker_names[1] == "Dr. Weber"
    assert [p.source for p in summary.participants] == ["detected", "override"]
    with pytest.raises(ValueError):
        SummaryOptions(name_threshold=1.5)


def test_empty_transcript_gives_a_clear_summary():
    summary = summarize_meeting(Transcript(language="en"))
    assert summary.topics == [] and summary.notes == ["no speech to summarise"]


def test_dialogue_rendering_uses_names():
    transcript = turns((0, "Hello there."), (0, "Second sentence."), (1, "Hi."))
    text = render_dialogue(utterances(transcript), {0: "Ana"})
    assert text == "Ana: Hello there. Second sentence.\nSpeaker 2: Hi."
    assert re.fullmatch(r"[^\n]+\n[^\n]+", text)
