"""Measures of sung and rapped renderings: pitch accuracy against a melody, held notes, syllable onsets
and their distance to a beat grid (numpy; used by the tag evaluation and the benches)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from distill.dsp import hz_to_midi
from steptts.music import check_bpm

TOLERANCE_CENTS = 50.0


HOLD_WINDOW_S = 0.150


MAX_ANCHOR_SHIFT_S = 0.2


@dataclass(frozen=True)
class PitchAccuracy:
    """How well sung F0 follows a melody."""

    time_aligned: float
    """Share of voiced frames within the tolerance of the note sounding at that time."""
    nearest_note: float
    """Share of voiced frames within the tolerance of the nearest note of the melody (any time)."""
    anchor_s: float
    """Time (s) where the melody's first note was found to start."""
    voiced_frames: int
    """Voiced frames counted."""


def _rotate_leading_rests(notes: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    # The runtime moves leading rests to the end of the cycle (steptts.music._note_slots).
    notes = list(notes)
    lead = 0
    while lead < len(notes) and notes[lead][0] <= 0:
        lead += 1
    return notes[lead:] + notes[:lead]


def expected_midi(times_s: np.ndarray, notes: Sequence[tuple[float, float]], bpm: float) -> np.ndarray:
    """MIDI note sounding at each time (s from the first note's start), the melody cycled.

    ``notes``: (midi, beats) pairs, midi <= 0 for a rest. Times before 0 get the first note; rests
    give NaN.
    """
    midi = np.array([m for m, _ in notes], dtype=np.float64)
    lengths_s = np.array([b for _, b in notes], dtype=np.float64) * 60.0 / bpm
    edges = np.cumsum(lengths_s)
    position = np.mod(np.maximum(np.asarray(times_s, dtype=np.float64), 0.0), edges[-1])
    index = np.minimum(np.searchsorted(edges, position, side="right"), len(notes) - 1)
    out = midi[index]
    return np.where(out > 0, out, np.nan)


def _cents(f0_hz: np.ndarray, midi: np.ndarray) -> np.ndarray:
    return 100.0 * (hz_to_midi(f0_hz) - midi)


def _first_voiced_run(voiced: np.ndarray, min_frames: int = 3) -> int | None:
    run = np.convolve(voiced.astype(np.int64), np.ones(min_frames, dtype=np.int64), mode="valid")
    starts = np.flatnonzero(run == min_frames)
    return int(starts[0]) if starts.size else None


def pitch_accuracy(
    f0_hz: np.ndarray,
    frame_period_s: float,
    notes: Sequence[tuple[float, float]],
    bpm: float,
    tolerance_cents: float = TOLERANCE_CENTS,
    max_shift_s: float = MAX_ANCHOR_SHIFT_S,
) -> PitchAccuracy:
    """Share of voiced frames within ``tolerance_cents`` of the melody's note at their time.

    Args:
        f0_hz: [F] F0 per frame, 0 = unvoiced.
        frame_period_s: frame hop in seconds.
        notes: the melody as (midi, beats) pairs; midi <= 0 is a rest (frames in rests are not counted).
        bpm: the tempo the melody was sung at.

    The melody starts at the first voiced run (3 frames or more), moved by the shift within
    ±``max_shift_s`` that scores best; the melody repeats when the singing outlasts it.
    """
    f0_hz = np.asarray(f0_hz, dtype=np.float64)
    notes = _rotate_leading_rests(notes)
    voiced = f0_hz > 0
    first = _first_voiced_run(voiced)
    if first is None:
        return PitchAccuracy(float("nan"), float("nan"), float("nan"), 0)
    times = np.arange(len(f0_hz)) * frame_period_s
    frames = np.flatnonzero(voiced)
    melody_midi = np.array(sorted({m for m, _ in notes if m > 0}))
    nearest = np.min(np.abs(_cents(f0_hz[frames, None], melody_midi[None, :])), axis=1)
    nearest_share = float(np.mean(nearest <= tolerance_cents))
    best_share, best_anchor = -1.0, times[first]
    steps = round(max_shift_s / frame_period_s)
    for shift in range(-steps, steps + 1):
        anchor = times[first] + shift * frame_period_s
        target = expected_midi(times[frames] - anchor, notes, bpm)
        counted = np.isfinite(target)
        if not counted.any():
            continue
        hits = np.abs(_cents(f0_hz[frames][counted], target[counted])) <= tolerance_cents
        share = float(hits.sum() / counted.sum())
        if share > best_share:
            best_share, best_anchor = share, anchor
    return PitchAccuracy(best_share, nearest_share, float(best_anchor), int(frames.size))


def note_hold_ratio(
    f0_hz: np.ndarray,
    frame_period_s: float,
    window_s: float = HOLD_WINDOW_S,
    tolerance_cents: float = TOLERANCE_CENTS,
) -> float:
    """Share of voiced frames covered by a window of ``window_s`` (all voiced) whose F0 stays within
    ±``tolerance_cents`` of that window's median: held notes score near 1, speech near 0."""
    f0_hz = np.asarray(f0_hz, dtype=np.float64)
    voiced = f0_hz > 0
    width = max(2, round(window_s / frame_period_s))
    if voiced.sum() == 0:
        return float("nan")
    if len(f0_hz) < width:
        return 0.0
    cents = np.where(voiced, 1200.0 * np.log2(np.where(voiced, f0_hz, 1.0) / 55.0), np.nan)
    windows = np.lib.stride_tricks.sliding_window_view(cents, width)
    complete = np.all(np.isfinite(windows), axis=1)
    median = np.median(np.where(complete[:, None], windows, 0.0), axis=1)
    steady = complete & (
        np.max(np.abs(np.where(complete[:, None], windows, 0.0) - median[:, None]), axis=1) <= tolerance_cents
    )
    held = np.convolve(steady.astype(np.int64), np.ones(width, dtype=np.int64), mode="full")[: len(f0_hz)] > 0
    return float((held & voiced).sum() / voiced.sum())


def _stft_magnitude(audio: np.ndarray, sample_rate_hz: int, hop_s: float) -> tuple[np.ndarray, np.ndarray]:
    """|STFT| [F, bins] with ~23 ms Hann windows centred on ``i * hop_s``, and the bin frequencies."""
    audio = np.asarray(audio, dtype=np.float64).reshape(-1)
    hop = max(1, round(sample_rate_hz * hop_s))
    n_fft = 1 << math.ceil(math.log2(sample_rate_hz * 0.023))
    padded = np.pad(audio, (n_fft // 2, n_fft))
    n_frames = len(audio) // hop + 1
    framed = np.lib.stride_tricks.sliding_window_view(padded, n_fft)[np.arange(n_frames) * hop]
    magnitude = np.abs(np.fft.rfft(framed * np.hanning(n_fft), axis=1))
    return magnitude, np.fft.rfftfreq(n_fft, 1.0 / sample_rate_hz)


def _smooth(values: np.ndarray, width_frames: int) -> np.ndarray:
    kernel = np.hanning(max(3, width_frames) + 2)[1:-1]
    padded = np.pad(values, len(kernel), mode="edge")
    return np.convolve(padded, kernel / kernel.sum(), mode="same")[len(kernel) : -len(kernel)]


def onset_novelty(audio: np.ndarray, sample_rate_hz: int, hop_s: float = 0.005) -> np.ndarray:
    """Spectral-flux novelty [F] (frame ``i`` at ``i * hop_s``): the rise of log magnitude in
    100–4000 Hz against 20 ms earlier, half-wave rectified, summed over bins, smoothed over 30 ms."""
    magnitude, freqs = _stft_magnitude(audio, sample_rate_hz, hop_s)
    band = magnitude[:, (freqs >= 100.0) & (freqs <= 4000.0)]
    compressed = np.log1p(1000.0 * band / (band.max() + 1e-12))
    lag = max(1, round(0.020 / hop_s))
    rise = np.maximum(compressed[lag:] - compressed[:-lag], 0.0).sum(axis=1)
    return _smooth(np.concatenate([np.zeros(lag), rise]), round(0.030 / hop_s))


def nucleus_times_s(
    audio: np.ndarray,
    sample_rate_hz: int,
    hop_s: float = 0.005,
    min_gap_s: float = 0.08,
    min_dip_db: float = 3.0,
    floor_db: float = 25.0,
) -> np.ndarray:
    """Syllable nuclei [N] (s): peaks of the 300–2000 Hz band level (dB, smoothed over 30 ms) that
    are the highest within ±``min_gap_s``, within ``floor_db`` of the loudest frame, and separated
    from the previous nucleus by a dip of at least ``min_dip_db`` (else the louder one is kept)."""
    magnitude, freqs = _stft_magnitude(audio, sample_rate_hz, hop_s)
    power = (magnitude[:, (freqs >= 300.0) & (freqs <= 2000.0)] ** 2).sum(axis=1)
    level = 10.0 * np.log10(power + 1e-12)
    level = _smooth(np.maximum(level, level.max() - 60.0), round(0.030 / hop_s))
    from scipy.ndimage import maximum_filter1d

    reach = max(1, round(min_gap_s / hop_s))
    candidates = np.flatnonzero(
        (level >= maximum_filter1d(level, size=2 * reach + 1, mode="nearest"))
        & (level > level.max() - floor_db)
    )
    kept: list[int] = []
    for peak in candidates:
        if kept and level[kept[-1] : peak + 1].min() > min(level[kept[-1]], level[peak]) - min_dip_db:
            if level[peak] > level[kept[-1]]:
                kept[-1] = int(peak)
            continue
        kept.append(int(peak))
    return np.array(kept, dtype=np.float64) * hop_s


def onset_times_s(
    audio: np.ndarray, sample_rate_hz: int, hop_s: float = 0.005, lookback_s: float = 0.15
) -> np.ndarray:
    """Syllable onsets [N] (s), one per nucleus: the spectral-flux peak (:func:`onset_novelty`)
    within ``lookback_s`` before each nucleus (:func:`nucleus_times_s`), not before the previous one.

    One onset per syllable: plain flux peaks also fire on consonant bursts and frication, which
    stretched (rapped) speech separates from their vowels.
    """
    audio = np.asarray(audio, dtype=np.float64).reshape(-1)
    if audio.size == 0 or not np.any(audio):
        return np.zeros(0)
    novelty = onset_novelty(audio, sample_rate_hz, hop_s)
    nuclei = np.round(nucleus_times_s(audio, sample_rate_hz, hop_s) / hop_s).astype(np.int64)
    onsets, previous = [], 0
    for peak in nuclei:
        low = max(previous, peak - round(lookback_s / hop_s))
        onsets.append(low + int(np.argmax(novelty[low : peak + 1])))
        previous = int(peak) + 1
    return np.array(onsets, dtype=np.float64) * hop_s


def beat_grid_s(bpm: float, subdivision: int, n: int) -> np.ndarray:
    """Times in seconds of the first ``n`` grid points: float64 [n], ``m × 60 / bpm / subdivision``."""
    return np.arange(n) * 60.0 / check_bpm(bpm) / int(subdivision)


def beat_errors_s(onsets_s: np.ndarray, bpm: float, subdivision: int = 2) -> np.ndarray:
    """Distance (s) of each onset after the first to the nearest point of a grid of
    ``60 / bpm / subdivision`` s anchored at the first onset: [N-1]."""
    onsets_s = np.asarray(onsets_s, dtype=np.float64)
    if onsets_s.size < 2:
        return np.zeros(0)
    step = 60.0 / bpm / subdivision
    offset = (onsets_s[1:] - onsets_s[0]) / step
    return np.abs(offset - np.round(offset)) * step


def ioi_cv(onsets_s: np.ndarray) -> float:
    """Coefficient of variation of the inter-onset intervals (NaN with fewer than 3 onsets)."""
    intervals = np.diff(np.asarray(onsets_s, dtype=np.float64))
    if intervals.size < 2:
        return float("nan")
    return float(np.std(intervals) / np.mean(intervals))
