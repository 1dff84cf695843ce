"""Operations on speaker turns: joining touching ones, renumbering, giving a span to a speaker."""

from __future__ import annotations

from collections.abc import Iterable

from reflector.domain.transcript import Turn

TOUCH = 1e-3
"""Turns of one speaker closer than this (seconds) are one turn."""


def join_turns(turns: Iterable[Turn], gap: float = TOUCH) -> list[Turn]:
    """Turns in time order, with turns of one speaker that touch or overlap joined.

    Turns of different speakers may overlap (people talk at once); they are kept apart.
    """
    joined: list[Turn] = []
    last_of: dict[int, int] = {}
    """Index in ``joined`` of each speaker's latest turn."""
    for turn in sorted(turns, key=lambda t: (t.start, t.end, t.speaker)):
        index = last_of.get(turn.speaker)
        if index is not None and turn.start - joined[index].end <= gap:
            previous = joined[index]
            joined[index] = previous.model_copy(update={"end": max(previous.end, turn.end)})
            continue
        last_of[turn.speaker] = len(joined)
        joined.append(turn)
    return joined


def relabel_turns(turns: Iterable[Turn], mapping: dict[int, int]) -> list[Turn]:
    """Speaker ``s`` becomes ``mapping[s]`` (others keep their number); touching turns of a
    speaker who now owns both are joined."""
    return join_turns(
        t.model_copy(update={"speaker": mapping.get(t.speaker, t.speaker)}) for t in turns
    )


def assign_span(turns: Iterable[Turn], start: float, end: float, speaker: int) -> list[Turn]:
    """What was said between ``start`` and ``end`` is ``speaker``'s: turns are cut at the span's
    edges and the parts inside it change speaker."""
    pieces: list[Turn] = []
    for turn in turns:
        inside_start, inside_end = max(turn.start, start), min(turn.end, end)
        if inside_end <= inside_start:
            pieces.append(turn)
            continue
        if turn.start < inside_start:
            pieces.append(Turn(start=turn.start, end=inside_start, speaker=turn.speaker))
        pieces.append(Turn(start=inside_start, end=inside_end, speaker=speaker))
        if inside_end < turn.end:
            pieces.append(Turn(start=inside_end, end=turn.end, speaker=turn.speaker))
    return join_turns(pieces)
