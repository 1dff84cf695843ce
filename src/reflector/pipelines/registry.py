"""Which stages each pipeline runs, in order, and the function of every stage.

A job's ``pipeline`` (``JobRow.pipeline``) names its list: ``file`` for one recording,
``multitrack`` for one recording per participant. Both end with the same ``summarize`` and
``finish`` stages.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from reflector.errors import BadInputError
from reflector.pipelines.multitrack_stages import MULTITRACK_STAGE_FUNCTIONS, MULTITRACK_STAGES
from reflector.pipelines.stages import FILE_STAGES, StageContext
from reflector.pipelines.stages import STAGE_FUNCTIONS as FILE_STAGE_FUNCTIONS

PIPELINES: dict[str, tuple[str, ...]] = {"file": FILE_STAGES, "multitrack": MULTITRACK_STAGES}

STAGE_FUNCTIONS: dict[str, Callable[[StageContext], Awaitable[None]]] = {
    **FILE_STAGE_FUNCTIONS,
    **MULTITRACK_STAGE_FUNCTIONS,
}
"""Every stage of every pipeline, by name (names are unique across pipelines)."""


class UnknownPipeline(BadInputError):
    problem_type = "unknown-pipeline"


def pipeline_stages(pipeline: str) -> tuple[str, ...]:
    """The stages of ``pipeline`` in order; :class:`UnknownPipeline` for a name none has."""
    try:
        return PIPELINES[pipeline]
    except KeyError:
        known = ", ".join(PIPELINES)
        raise UnknownPipeline(f"unknown pipeline {pipeline!r} (known: {known})") from None
