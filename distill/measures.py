"""Levels, speech span and pitch statistics of one rendering (numpy, 10 ms frames).

Used by the evaluation, the tag evaluation and the benches. F0 comes from :func:`distill.pitch.f0_contour`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from distill.dsp import A4_HZ, hz_to_midi
from distill.pitch import FRAME_PERIOD_MS, f0_contour

SILENCE_BELOW_PEAK_DB = 35.0
"""Frames this far below the loudest frame count as silence when trimming."""


def frame_levels_db(
    audio: np.ndarray, sample_rate_hz: int, frame_period_ms: float = FRAME_PERIOD_MS, window_ms: float = 25.0
) -> np.ndarray:
    """RMS level in dBFS of a ``window_ms`` window centred on each frame: [S] → float64 [F].

    F matches :func:`f0_contour`'s frame count for the same audio (``S / hop + 1``).
    """
    audio = np.asarray(audio, dtype=np.float64).reshape(-1)
    hop = sample_rate_hz * frame_period_ms / 1000.0
    n_frames = int(len(audio) / hop) + 1
    window = max(1, round(sample_rate_hz * window_ms / 1000.0))
    padded = np.pad(audio, (window // 2, window))
    starts = np.minimum(np.round(np.arange(n_frames) * hop).astype(np.int64), len(padded) - window)
    framed = np.lib.stride_tricks.sliding_window_view(padded, window)[starts]
    power = np.mean(framed**2, axis=1)
    return 10.0 * np.log10(power + 1e-12)


def speech_span_s(
    audio: np.ndarray, sample_rate_hz: int, below_peak_db: float = SILENCE_BELOW_PEAK_DB
) -> tuple[float, float]:
    """(start_s, end_s) of the speech: leading and trailing frames quieter than the peak by
    ``below_peak_db`` are silence. (0, 0) for silent audio."""
    levels = frame_levels_db(audio, sample_rate_hz)
    if levels.size == 0 or levels.max() < -100.0:
        return 0.0, 0.0
    loud = np.flatnonzero(levels >= levels.max() - below_peak_db)
    hop_s = FRAME_PERIOD_MS / 1000.0
    start_s = max(0.0, loud[0] * hop_s - hop_s / 2)
    end_s = min(len(audio) / sample_rate_hz, loud[-1] * hop_s + hop_s / 2)
    return start_s, max(start_s, end_s)


def speech_duration_s(audio: np.ndarray, sample_rate_hz: int) -> float:
    """Length of the speech in seconds, leading and trailing silence trimmed by energy."""
    start_s, end_s = speech_span_s(audio, sample_rate_hz)
    return end_s - start_s


def trim_silence(audio: np.ndarray, sample_rate_hz: int) -> np.ndarray:
    """The speech span of ``audio`` (float32 [S'])."""
    start_s, end_s = speech_span_s(audio, sample_rate_hz)
    return np.asarray(audio[int(start_s * sample_rate_hz) : math.ceil(end_s * sample_rate_hz)])


def voiced_rms_db(audio: np.ndarray, sample_rate_hz: int, f0_hz: np.ndarray | None = None) -> float:
    """RMS level (dBFS) over voiced frames; NaN when no frame is voiced.

    ``f0_hz``: the :func:`f0_contour` of ``audio`` (computed when None).
    """
    if f0_hz is None:
        f0_hz = f0_contour(audio, sample_rate_hz)
    levels = frame_levels_db(audio, sample_rate_hz)
    n = min(len(levels), len(f0_hz))
    voiced = f0_hz[:n] > 0
    if not voiced.any():
        return float("nan")
    return float(10.0 * np.log10(np.mean(10.0 ** (levels[:n][voiced] / 10.0))))


def hz_to_semitones(f0_hz: np.ndarray, reference_hz: float = A4_HZ) -> np.ndarray:
    """12·log2(f / reference) of positive frequencies."""
    return hz_to_midi(f0_hz) - hz_to_midi(reference_hz)


@dataclass(frozen=True)
class F0Stats:
    """Pitch statistics of one utterance, in semitones re A4 (440 Hz)."""

    median_st: float
    """Median F0 over voiced frames."""
    range_st: float
    """95th minus 5th percentile of F0."""
    voiced_share: float
    """Voiced frames / frames within the speech span."""


def f0_stats(f0_hz: np.ndarray) -> F0Stats:
    """Median and 5–95 % range of voiced F0 (NaN when nothing is voiced)."""
    f0_hz = np.asarray(f0_hz, dtype=np.float64)
    voiced = f0_hz[f0_hz > 0]
    if voiced.size == 0:
        return F0Stats(float("nan"), float("nan"), 0.0)
    semitones = hz_to_semitones(voiced)
    low, high = np.percentile(semitones, [5, 95])
    return F0Stats(float(np.median(semitones)), float(high - low), float(voiced.size / max(1, f0_hz.size)))
