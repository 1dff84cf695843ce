"""Progress reporting shared by pipelines: named stages with weights, one overall fraction."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Progress:
    stage: str
    fraction: float
    """Overall completion of the whole pipeline, 0..1."""


ProgressCallback = Callable[[Progress], None]


class StagedProgress:
    """Turns per-stage fractions into an overall fraction using the stages' relative costs."""

    def __init__(self, stages: Sequence[tuple[str, float]], callback: ProgressCallback | None):
        total = sum(weight for _, weight in stages)
        self._spans: dict[str, tuple[float, float]] = {}
        offset = 0.0
        for name, weight in stages:
            self._spans[name] = (offset / total, weight / total)
            offset += weight
        self._callback = callback

    def report(self, stage: str, fraction: float) -> None:
        if self._callback is None:
            return
        start, span = self._spans[stage]
        self._callback(Progress(stage, start + span * min(max(fraction, 0.0), 1.0)))
