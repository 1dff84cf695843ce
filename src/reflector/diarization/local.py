"""The in-process diarizer: speech windows → CAM++ embeddings → clusters → smoothed turns.

1. Every voice-detector region is cut into overlapping windows (1.5 s, hop 0.75 s); short
   regions become one window of their own length; regions under ``min_window`` get no window.
2. CAM++ embeds each window (features computed once per region, windows of equal length
   batched across regions).
3. The embeddings are clustered with an automatic count (:mod:`.clustering`).
4. Around places where neighbouring windows disagree (or are unsure), short 0.75 s windows
   are embedded too and scored against the speakers found, to catch quick replies.
5. Resegmentation: every 50 ms frame of speech gets a score per speaker (the similarity of the
   windows that cover it to that speaker's centroid, centre-weighted, short windows counting
   more); a Viterbi pass with a cost per speaker change turns the scores into turns, so one
   odd window cannot chop a turn. A change point inside continuous speech moves to the
   quietest moment nearby, where people actually hand over; turn edges are trimmed to the
   voice (the detector's regions are padded).
6. Speakers are numbered in order of first appearance; each keeps its centroid as voice print.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from reflector.diarization.campplus import (
    EMBEDDING_DIM,
    FRAME_SHIFT,
    SAMPLE_RATE,
    SpeakerEmbedder,
    log_mel_features,
)
from reflector.diarization.clustering import ClusteringOptions, cluster_embeddings
from reflector.diarization.protocol import Diarizer
from reflector.diarization.types import (
    DiarizationOptions,
    DiarizationResult,
    SpeakerTurn,
    first_appearance_order,
)
from reflector.vad import SpeechRegion

STEP = 0.05
"""Resolution of the resegmentation grid, seconds."""


@dataclass(frozen=True)
class LocalDiarizerOptions:
    """Tuning of the local pipeline; defaults were tuned on generated meetings and checked on
    real read speech (see ``bench/diarization.py``)."""

    window: float = 1.5
    hop: float = 0.75
    min_window: float = 0.4
    """Regions shorter than this (seconds) get no embedding of their own."""
    fine_window: float = 0.75
    """Short windows (hop half of it) added where speakers change within a region; 0: none."""
    fine_weight: float = 4.0
    """How much more a short window counts than a long one for the frames it covers."""
    unsure_margin: float = 0.25
    """A long window whose best two speakers score closer than this also gets short ones."""
    change_cost: float = 1.0
    """Viterbi cost of a speaker change inside continuous speech (score units x frames)."""
    pause_change_cost: float = 0.3
    """Cost of a change across a pause between voice-detector regions."""
    snap_radius: float = 0.3
    """How far (seconds) a change point may move to the quietest moment nearby."""
    trim_below_db: float = 40.0
    """Turn edges and inner pauses quieter than the region's loud frames by this much (dB)…"""
    min_pause: float = 0.8
    """…are cut off; inner pauses only when at least this long (seconds)."""
    clustering: ClusteringOptions = field(default_factory=ClusteringOptions)

    def __post_init__(self) -> None:
        if not 0 < self.hop <= self.window:
            raise ValueError("need 0 < hop <= window")
        if self.min_window <= 0 or self.min_window > self.window:
            raise ValueError("need 0 < min_window <= window")
        if self.fine_window < 0 or self.fine_window > self.window:
            raise ValueError("need 0 <= fine_window <= window")


@dataclass(frozen=True)
class TimeWindow(SpeechRegion):
    """A stretch of speech (seconds) that gets one embedding."""


def plan_windows(
    regions: list[SpeechRegion], window: float, hop: float, min_window: float
) -> list[list[TimeWindow]]:
    """Windows for each region (seconds), the last one aligned with the region's end."""
    out: list[list[TimeWindow]] = []
    for region in regions:
        windows: list[TimeWindow] = []
        if region.duration >= min_window:
            if region.duration <= window:
                windows.append(TimeWindow(region.start, region.end))
            else:
                start = region.start
                while start + window < region.end:
                    windows.append(TimeWindow(start, start + window))
                    start += hop
                windows.append(TimeWindow(region.end - window, region.end))
        out.append(windows)
    return out


class LocalDiarizer(Diarizer):
    """Diarization on this machine's CPU (or GPU via torch) with the bundled CAM++ model.

    Construct once and reuse: the model is loaded on construction and cached per process.
    """

    def __init__(
        self,
        options: LocalDiarizerOptions | None = None,
        weights: Path | None = None,
        threads: int | None = None,
    ) -> None:
        if threads is not None:
            import torch

            torch.set_num_threads(threads)
        self.options = options or LocalDiarizerOptions()
        self._embedder = SpeakerEmbedder(weights)

    # -- stages, public so benchmarks and tests can run them separately --------------------

    def embed_regions(
        self,
        samples: np.ndarray,
        regions: list[SpeechRegion],
        window: float | None = None,
        hop: float | None = None,
    ) -> tuple[list[TimeWindow], np.ndarray]:
        """All windows of all regions and their L2-normalised embeddings."""
        o = self.options
        planned = plan_windows(regions, window or o.window, hop or o.hop, o.min_window)
        all_windows: list[TimeWindow] = []
        slices: list[np.ndarray] = []
        for region, windows in zip(regions, planned, strict=True):
            if not windows:
                continue
            first = round(region.start * SAMPLE_RATE)
            features = log_mel_features(samples[first : round(region.end * SAMPLE_RATE)])
            if len(features) == 0:
                continue
            for window in windows:
                length = max(1, round(window.duration / FRAME_SHIFT) - 2)  # 25 ms frames
                begin = round((window.start - region.start) / FRAME_SHIFT)
                begin = int(np.clip(begin, 0, max(0, len(features) - length)))
                slices.append(features[begin : begin + length])
                all_windows.append(window)
        if not slices:
            return [], np.zeros((0, EMBEDDING_DIM), dtype=np.float32)
        return all_windows, self._embedder.embed(slices)

    def _diarize(
        self, samples: np.ndarray, speech: list[SpeechRegion], options: DiarizationOptions
    ) -> DiarizationResult:
        duration = len(samples) / SAMPLE_RATE
        regions = [
            SpeechRegion(max(0.0, r.start), min(duration, r.end))
            for r in sorted(speech, key=lambda r: r.start)
            if min(duration, r.end) > max(0.0, r.start)
        ]
        if not regions:
            return DiarizationResult()
        windows, embeddings = self.embed_regions(samples, regions)
        if not windows:
            # Only fragments too short to embed: one speaker, no voice print.
            return DiarizationResult(tuple(SpeakerTurn(r.start, r.end, 0) for r in regions))

        low, high = options.bounds(self.options.clustering.default_max_speakers)
        weights = np.array([w.duration for w in windows])
        clusters = cluster_embeddings(embeddings, weights, low, high, self.options.clustering)
        centroids = clusters.centroids
        scores = embeddings @ centroids.T
        if self.options.fine_window > 0 and len(centroids) > 1:
            windows, scores = self._add_fine_windows(samples, regions, windows, scores, centroids)
        turns = self._resegment(samples, regions, windows, scores)
        order = first_appearance_order(turns)
        turns = [SpeakerTurn(t.start, t.end, order[t.speaker]) for t in turns]
        voice_prints = {
            order[s]: centroids[s].astype(np.float32) for s in range(len(centroids)) if s in order
        }
        return DiarizationResult(tuple(turns), voice_prints)

    def _add_fine_windows(
        self,
        samples: np.ndarray,
        regions: list[SpeechRegion],
        windows: list[TimeWindow],
        scores: np.ndarray,
        centroids: np.ndarray,
    ) -> tuple[list[TimeWindow], np.ndarray]:
        """Short windows where the speaker changes inside continuous speech.

        1.5 s windows blur a one-second reply between two turns of someone else; short
        windows are too noisy to cluster, but good enough to tell which of the known voices
        (centroids) is talking. They are added only around places where neighbouring long
        windows disagree or are unsure, which keeps their cost to a fraction of the first pass.
        """
        labels = scores.argmax(1)
        top2 = np.sort(scores, axis=1)[:, -2:]
        unsure = top2[:, 1] - top2[:, 0] < self.options.unsure_margin
        centres = np.array([(w.start + w.end) / 2 for w in windows])
        order = np.argsort(centres)
        sorted_centres = centres[order]
        margin = self.options.window
        zones: list[SpeechRegion] = []
        for region in regions:
            lo, hi = np.searchsorted(sorted_centres, [region.start - 1e-6, region.end + 1e-6])
            for a, b in itertools.pairwise(order[lo:hi]):
                if labels[a] == labels[b] and not (unsure[a] or unsure[b]):
                    continue
                # Around a change of the long windows' verdict (or a doubtful one).
                start = max(region.start, centres[a] - margin)
                end = min(region.end, centres[b] + margin)
                if zones and start <= zones[-1].end:
                    zones[-1] = SpeechRegion(zones[-1].start, max(end, zones[-1].end))
                else:
                    zones.append(SpeechRegion(start, end))
        if not zones:
            return windows, scores
        o = self.options
        fine, vectors = self.embed_regions(samples, zones, o.fine_window, o.fine_window / 2)
        if not fine:
            return windows, scores
        return windows + fine, np.concatenate([scores, vectors @ centroids.T])

    # -- resegmentation --------------------------------------------------------------------

    def _resegment(
        self,
        samples: np.ndarray,
        regions: list[SpeechRegion],
        windows: list[TimeWindow],
        window_scores: np.ndarray,
    ) -> list[SpeakerTurn]:
        k = window_scores.shape[1]
        # Frames of speech only, region by region.
        frame_times: list[np.ndarray] = []
        region_of: list[np.ndarray] = []
        for index, region in enumerate(regions):
            n = max(1, round(region.duration / STEP))
            frame_times.append(region.start + (np.arange(n) + 0.5) * region.duration / n)
            region_of.append(np.full(n, index))
        times = np.concatenate(frame_times)
        frame_region = np.concatenate(region_of)

        # Centre-weighted average of the scores of the windows covering each frame.
        starts = np.array([w.start for w in windows])
        ends = np.array([w.end for w in windows])
        scores = np.zeros((len(times), k))
        mass = np.zeros(len(times))
        order = np.argsort(starts)
        starts, ends, window_scores = starts[order], ends[order], window_scores[order]
        for i in range(len(starts)):
            lo, hi = np.searchsorted(times, [starts[i], ends[i]])
            if hi <= lo:
                continue
            half = max((ends[i] - starts[i]) / 2, 1e-3)
            centre = (starts[i] + ends[i]) / 2
            weight = 1.0 - 0.8 * np.abs(times[lo:hi] - centre) / half
            if ends[i] - starts[i] <= self.options.fine_window + 1e-6:
                # Short windows localise a change far better than the long ones around them.
                weight = weight * self.options.fine_weight
            scores[lo:hi] += weight[:, None] * window_scores[i]
            mass[lo:hi] += weight
        covered = mass > 0
        scores[covered] /= mass[covered, None]
        if not covered.all():
            # Frames of regions too short to embed take the scores of the nearest window.
            centres = (starts + ends) / 2
            nearest = np.abs(times[~covered, None] - centres[None, :]).argmin(1)
            scores[~covered] = window_scores[nearest]

        # Viterbi: maximise total score minus a cost per change of speaker.
        n = len(times)
        change = np.where(
            np.diff(frame_region) != 0, self.options.pause_change_cost, self.options.change_cost
        )
        back = np.zeros((n, k), dtype=np.int32)
        total = scores[0].copy()
        for t in range(1, n):
            best_prev = int(total.argmax())
            stay = total
            switch = total[best_prev] - change[t - 1]
            use_switch = switch > stay
            back[t] = np.where(use_switch, best_prev, np.arange(k))
            total = np.where(use_switch, switch, stay) + scores[t]
        path = np.zeros(n, dtype=np.int32)
        path[-1] = int(total.argmax())
        for t in range(n - 1, 0, -1):
            path[t - 1] = back[t, path[t]]

        # Turns: runs of one speaker within one region, boundaries snapped to pauses.
        turns: list[SpeakerTurn] = []
        for index, region in enumerate(regions):
            in_region = np.flatnonzero(frame_region == index)
            labels = path[in_region]
            cuts = [region.start]
            speakers = [int(labels[0])]
            for j in np.flatnonzero(np.diff(labels) != 0):
                boundary = (times[in_region[j]] + times[in_region[j + 1]]) / 2
                cuts.append(self._snap_to_pause(samples, boundary, cuts[-1], region.end))
                speakers.append(int(labels[j + 1]))
            cuts.append(region.end)
            for speaker, begin, end in zip(speakers, cuts[:-1], cuts[1:], strict=True):
                for a, b in self._voiced_spans(samples, begin, end, region):
                    turns.append(SpeakerTurn(round(float(a), 3), round(float(b), 3), speaker))
        return _merge_adjacent(turns)

    def _voiced_spans(
        self, samples: np.ndarray, begin: float, end: float, region: SpeechRegion
    ) -> list[tuple[float, float]]:
        """``[begin, end)`` without quiet edges and long quiet pauses.

        The voice detector pads its regions and bridges short pauses (good for ASR); turns
        should cover the voice only. "Quiet" is relative to the region's own loud frames, so
        it adapts to each speaker's level and to the room's noise.
        """
        hop = SAMPLE_RATE // 100
        first, last = round(region.start * SAMPLE_RATE), round(region.end * SAMPLE_RATE)
        n = (last - first) // hop
        if end - begin <= 0 or n < 10:
            return [(begin, end)] if end > begin else []
        frames = samples[first : first + n * hop].reshape(n, hop).astype(np.float64)
        level = 10 * np.log10((frames**2).mean(1) + 1e-12)
        level = np.convolve(np.pad(level, 1, mode="edge"), np.ones(3) / 3, mode="valid")
        voiced = level > np.percentile(level, 95) - self.options.trim_below_db
        lo = int(np.clip((begin - region.start) * 100, 0, n))
        hi = int(np.clip(np.ceil((end - region.start) * 100), lo, n))
        inside = voiced[lo:hi]
        if not inside.any():
            return [(begin, end)]
        spans: list[tuple[float, float]] = []
        on = np.flatnonzero(inside)
        # Split where the quiet stretch between voiced frames is long enough.
        breaks = np.flatnonzero(np.diff(on) > round(self.options.min_pause * 100))
        starts = np.concatenate([[on[0]], on[breaks + 1]])
        stops = np.concatenate([on[breaks], [on[-1]]]) + 1
        for a, b in zip(starts, stops, strict=True):
            spans.append(
                (max(begin, region.start + (lo + a) / 100), min(end, region.start + (lo + b) / 100))
            )
        return [(a, b) for a, b in spans if b > a]

    def _snap_to_pause(self, samples: np.ndarray, at: float, low: float, high: float) -> float:
        """The quietest 50 ms within ``snap_radius`` of ``at`` (kept inside ``(low, high)``)."""
        radius = self.options.snap_radius
        begin = max(low + STEP, at - radius)
        end = min(high - STEP, at + radius)
        if end - begin < 2 * STEP:
            return at
        first, last = round(begin * SAMPLE_RATE), round(end * SAMPLE_RATE)
        hop = SAMPLE_RATE // 100
        segment = samples[first:last]
        n = len(segment) // hop
        if n < 5:
            return at
        energy = (segment[: n * hop].reshape(n, hop) ** 2).mean(1)
        smoothed = np.convolve(np.pad(energy, 2, mode="edge"), np.ones(5) / 5, mode="valid")
        quietest = int(smoothed.argmin())
        return begin + (quietest + 0.5) * hop / SAMPLE_RATE


def _merge_adjacent(turns: list[SpeakerTurn], max_gap: float = 0.0) -> list[SpeakerTurn]:
    merged: list[SpeakerTurn] = []
    for turn in turns:
        if merged and merged[-1].speaker == turn.speaker and turn.start - merged[-1].end <= max_gap:
            merged[-1] = SpeakerTurn(merged[-1].start, max(merged[-1].end, turn.end), turn.speaker)
        else:
            merged.append(turn)
    return merged
