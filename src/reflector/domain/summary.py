"""What meeting intelligence produces: topics, title, summaries, action items and participants.

Plain frozen pydantic models, part of a :class:`~reflector.domain.transcript.Transcript`.
Times are seconds from the start of the recording.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


class Topic(_Frozen):
    """One subject of the meeting and the run of segments that discuss it."""

    title: str
    summary: str
    """One or two sentences."""
    start: float = Field(ge=0)
    duration: float = Field(ge=0)
    first_segment: int = Field(ge=0)
    last_segment: int = Field(ge=0)
    """Indices into ``Transcript.segments``, inclusive."""
    keyphrases: list[str] = Field(default_factory=list)

    @property
    def end(self) -> float:
        return self.start + self.duration

    @property
    def segment_indices(self) -> range:
        return range(self.first_segment, self.last_segment + 1)


class Decision(_Frozen):
    text: str
    decided_by: str | None = None
    """A participant's name or ``Speaker N``; ``None`` when the transcript does not say."""
    time: float | None = None
    """Start of the topic it was made in."""


class NextStep(_Frozen):
    task: str
    owner: str | None = None
    deadline: str | None = None
    """As said in the meeting ("Friday", "June 12"); never a computed calendar date."""
    context: str | None = None
    time: float | None = None


class ActionItems(_Frozen):
    decisions: list[Decision] = Field(default_factory=list)
    next_steps: list[NextStep] = Field(default_factory=list)


class Participant(_Frozen):
    """A speaker number and the name the talk reveals for it."""

    speaker: int = Field(ge=0)
    name: str | None = None
    confidence: float = Field(default=0.0, ge=0, le=1)
    evidence: list[str] = Field(default_factory=list)
    """The sentences that revealed the name, e.g. ``"Hi, I'm Tom"``."""
    source: str = "detected"
    """``detected`` from the talk, or ``override`` when a person set it."""


class SummaryUsage(_Frozen):
    """What the LLM was asked: for cost tracking and benchmarks."""

    calls: int = 0
    retries: int = 0
    failures: int = 0
    """Answers that never validated; the extractive writer filled in."""
    prompt_tokens: int = 0
    cached_tokens: int = 0
    """Prompt tokens the local model did not have to read again (a shared prefix)."""
    completion_tokens: int = 0
    llm_seconds: float = 0.0


class MeetingSummary(_Frozen):
    """Everything meeting intelligence found in one transcript."""

    title: str
    short_summary: str
    """One paragraph."""
    long_summary: str
    """Markdown: a quick recap, then one section per subject."""
    topics: list[Topic] = Field(default_factory=list)
    action_items: ActionItems = Field(default_factory=ActionItems)
    participants: list[Participant] = Field(default_factory=list)
    speaker_names: dict[int, str] = Field(default_factory=dict)
    """Names applied to speaker numbers (confident detections plus overrides)."""
    language: str = "en"
    backend: str = "extractive"
    """Which engine wrote it, e.g. ``local:qwen2.5-coder-0.5b``, ``openai:gpt-4o-mini``."""
    notes: list[str] = Field(default_factory=list)
    """Fallbacks taken and claims dropped by the grounding guard, for people to judge."""
    seconds: float = Field(default=0.0, ge=0)
    """Processing time."""
    usage: SummaryUsage = Field(default_factory=SummaryUsage)
