"""Quality of the local LLM backend on generated meetings with planted facts.

Each meeting (``generate_meeting``) plants per subject one decision carrying a date or a number
and one next step with an owner and a weekday deadline, reveals every speaker's name by an
introduction or by being addressed, and mentions people who never speak. The bundled model
summarises them with the phrasing rules switched off, so what is measured is the model's own
extraction; the guard and the fallbacks stay on, as in the product.

Bounds:

* invented names and dates: exactly zero. That is not a statistical hope but what the grounding
  guard guarantees: every generated title, summary and item is checked against the transcript,
  regenerated, then dropped or replaced by transcript text, so anything else is a bug.
* names: all speakers named correctly (rule-based detection is deterministic on these cues).
* fact recall: the model alone (rules off) found 14 of 24 planted facts on seeds 21-26
  (0.58; per meeting 0.25 to 1.0) and 6 of 8 on the two seeds used here, with Qwen2.5-Coder
  0.5B on 2 cores. The bound, 4 of 8, leaves room for two facts lost to the small numeric
  differences between CPUs (greedy decoding is deterministic on one machine, not across
  instruction sets) and still fails when extraction breaks: a broken prompt, grammar or
  evidence check drops it to 0-2 of 8 (SmolLM2-135M, for comparison, found 2 of 24).
"""

from __future__ import annotations

import pytest

from reflector.intelligence import LlmWriter, SummaryOptions, summarize_meeting
from reflector.intelligence.writers import title_problems
from reflector.llm import DEFAULT_LLM, LlamaCppChat, LlamaCppOptions, resolve_gguf
from reflector_testkit.meeting_scripts import generate_meeting, score_meeting_summary

pytestmark = pytest.mark.slow

SEEDS = (21, 22)
MINUTES = 5.0
MIN_FACT_RECALL = 0.5


@pytest.fixture(scope="module")
def writer(data_dir) -> LlmWriter:
    path = resolve_gguf(DEFAULT_LLM, data_dir).path
    return LlmWriter(LlamaCppChat(path, LlamaCppOptions(), name=DEFAULT_LLM), backend="local")


@pytest.fixture(scope="module")
def results(writer):
    out = []
    for seed in SEEDS:
        meeting = generate_meeting(seed, minutes=MINUTES, speakers=3 + seed % 2)
        summary = summarize_meeting(meeting.transcript, writer, SummaryOptions(rule_items=False))
        out.append((meeting, summary, score_meeting_summary(meeting, summary)))
    return out


def test_nothing_is_invented(results):
    for _, summary, score in results:
        assert score.invented_names == [], (summary.model_dump_json(indent=1), score)
        assert score.invented_dates == [], (summary.model_dump_json(indent=1), score)


def test_planted_facts_are_recalled(results):
    found = sum(s.decisions_found + s.actions_found for _, _, s in results)
    total = sum(s.decisions_total + s.actions_total for _, _, s in results)
    assert found / total >= MIN_FACT_RECALL, [s.as_dict() for _, _, s in results]
    for meeting, summary, score in results:
        assert score.names_found == score.names_total
        assert summary.speaker_names == meeting.participants


def test_titles_and_summaries_are_usable(results):
    for meeting, summary, _ in results:
        assert summary.backend == f"local:{DEFAULT_LLM}"
        assert not title_problems(summary.title), summary.title
        assert len(summary.short_summary.split()) >= 8
        assert summary.long_summary.startswith("## Quick recap")
        assert 1 <= len(summary.topics) <= 3
        assert all(len(t.title.split()) <= 10 and t.summary for t in summary.topics)
        assert summary.usage.calls >= len(summary.topics) + 1
        assert summary.topics[-1].end <= meeting.transcript.duration + 1
