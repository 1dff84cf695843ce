"""Changing the speed of speech without changing its pitch (FFmpeg's ``atempo`` filter)."""

from __future__ import annotations

import itertools

import av
import numpy as np


def _atempo_chain(factor: float) -> list[float]:
    # One atempo stage accepts 0.5 to 100; slower factors are reached by chaining stages.
    stages: list[float] = []
    while factor < 0.5:
        stages.append(0.5)
        factor /= 0.5
    stages.append(factor)
    return stages


def change_tempo(samples: np.ndarray, sample_rate: int, factor: float) -> np.ndarray:
    """Mono float32 ``samples`` played ``factor`` times as fast (2.0: half the duration)."""
    if factor <= 0:
        raise ValueError(f"tempo factor must be positive, got {factor}")
    pcm = np.ascontiguousarray(samples, dtype=np.float32)
    if abs(factor - 1.0) < 1e-6 or len(pcm) == 0:
        return pcm.copy()
    graph = av.filter.Graph()
    source = graph.add_abuffer(
        format="flt", sample_rate=sample_rate, layout="mono", time_base=f"1/{sample_rate}"
    )
    chain = [source]
    for stage in _atempo_chain(factor):
        chain.append(graph.add("atempo", f"{stage:.6f}"))
    sink = graph.add("abuffersink")
    chain.append(sink)
    for upstream, downstream in itertools.pairwise(chain):
        upstream.link_to(downstream)
    graph.configure()
    frame = av.AudioFrame.from_ndarray(pcm.reshape(1, -1), format="flt", layout="mono")
    frame.sample_rate = sample_rate
    frame.pts = 0
    graph.push(frame)
    graph.push(None)
    parts: list[np.ndarray] = []
    while True:
        try:
            out = graph.pull()
        except (av.error.BlockingIOError, av.error.EOFError):
            break
        parts.append(out.to_ndarray().reshape(-1).astype(np.float32))
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)
