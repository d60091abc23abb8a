"""Closeness of a rendering to a reference: mel-cepstral distortion and F0 error after DTW alignment.

Spectral envelopes come from WORLD's ``cheaptrick`` and F0 from :func:`distill.pitch.f0_contour`, on a
10 ms grid. The mel-cepstrum is computed from the envelope (:func:`mel_cepstrum_from_envelope`) in the
SPTK convention, so MCD figures compare with the literature's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from distill.dsp import pyworld
from distill.measures import trim_silence
from distill.pitch import FRAME_PERIOD_MS, f0_contour

N_MCEP = 25
"""Mel-cepstral coefficients c0..c24; MCD uses c1..c24."""


_MCD_SCALE = 10.0 / math.log(10.0) * math.sqrt(2.0)


def all_pass_alpha(sample_rate_hz: int) -> float:
    """Frequency-warping constant that approximates the mel scale at this rate (SPTK's usual values)."""
    table = {8000: 0.31, 16000: 0.42, 22050: 0.455, 24000: 0.47, 44100: 0.544, 48000: 0.554}
    rates = sorted(table)
    return float(np.interp(sample_rate_hz, rates, [table[r] for r in rates]))


def mel_cepstrum_from_envelope(
    power_envelope: np.ndarray, sample_rate_hz: int, order: int = N_MCEP - 1
) -> np.ndarray:
    """Mel-cepstrum c0..c_order of power envelopes [F, K] (K = fft/2 + 1 bins over 0..π) → [F, order+1].

    The log amplitude is resampled onto a uniform grid of the all-pass-warped frequency and
    expanded as ``log|H| = c0 + 2·Σ c_n cos(n·ω̃)`` (natural log), the convention MCD assumes.
    """
    envelope = np.asarray(power_envelope, dtype=np.float64)
    n_bins = envelope.shape[1]
    alpha = all_pass_alpha(sample_rate_hz)
    omega = np.linspace(0.0, math.pi, n_bins)
    warped = omega + 2.0 * np.arctan(alpha * np.sin(omega) / (1.0 - alpha * np.cos(omega)))
    grid = np.linspace(0.0, math.pi, n_bins)
    # Linear interpolation from the warped positions onto the uniform grid, as one matrix.
    right = np.clip(np.searchsorted(warped, grid), 1, n_bins - 1)
    left = right - 1
    frac = (grid - warped[left]) / (warped[right] - warped[left])
    interp = np.zeros((n_bins, n_bins))
    interp[np.arange(n_bins), left] = 1.0 - frac
    interp[np.arange(n_bins), right] += frac
    log_amplitude = 0.5 * np.log(np.maximum(envelope, 1e-20)) @ interp.T
    weights = np.full(n_bins, 1.0 / (n_bins - 1))
    weights[[0, -1]] *= 0.5  # trapezoid rule; (1/π)∫₀^π dω̃ over a grid spacing of π/(K-1)
    basis = np.cos(np.outer(np.arange(order + 1), grid)) * weights
    return log_amplitude @ basis.T


def world_analysis(audio: np.ndarray, sample_rate_hz: int) -> tuple[np.ndarray, np.ndarray]:
    """F0 (Hz, 0 unvoiced; :func:`f0_contour`) [F] and mel-cepstrum [F, 25] of WORLD cheaptrick
    envelopes, both on the 10 ms grid."""
    signal = np.ascontiguousarray(np.asarray(audio, dtype=np.float64).reshape(-1))
    f0 = f0_contour(signal, sample_rate_hz)
    times_s = np.arange(len(f0)) * FRAME_PERIOD_MS / 1000.0
    envelope = pyworld().cheaptrick(signal, np.ascontiguousarray(f0), times_s, sample_rate_hz)
    return f0, mel_cepstrum_from_envelope(envelope, sample_rate_hz)


def dtw_path(cost: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Minimum-cost monotonic alignment of a cost matrix [N, M] (steps: diagonal, down, right).

    Returns index arrays (rows, cols) of equal length, from (0, 0) to (N-1, M-1). Each row of the
    accumulated cost is one vectorised min-plus scan, so the cost is O(N·M) in numpy.
    """
    cost = np.asarray(cost, dtype=np.float64)
    n, m = cost.shape
    acc = np.empty((n, m))
    acc[0] = np.cumsum(cost[0])
    for i in range(1, n):
        previous = acc[i - 1]
        from_above = np.minimum(previous, np.concatenate(([np.inf], previous[:-1])))
        candidate = cost[i] + from_above
        # acc[i, j] = min over k <= j of candidate[k] + cost[i, k+1..j]: a running minimum.
        running = np.cumsum(cost[i])
        acc[i] = np.minimum.accumulate(candidate - running) + running
    rows, cols = [n - 1], [m - 1]
    i, j = n - 1, m - 1
    while i > 0 or j > 0:
        if i == 0:
            j -= 1
        elif j == 0:
            i -= 1
        else:
            steps = (acc[i - 1, j - 1], acc[i - 1, j], acc[i, j - 1])
            best = int(np.argmin(steps))
            i, j = (i - 1, j - 1) if best == 0 else (i - 1, j) if best == 1 else (i, j - 1)
        rows.append(i)
        cols.append(j)
    return np.array(rows[::-1]), np.array(cols[::-1])


def mcd_frames_db(mcep_a: np.ndarray, mcep_b: np.ndarray) -> np.ndarray:
    """Frame-wise mel-cepstral distortion in dB of aligned frames [F, D] (c0 excluded) → [F]."""
    diff = np.asarray(mcep_a)[:, 1:] - np.asarray(mcep_b)[:, 1:]
    return _MCD_SCALE * np.sqrt(np.sum(diff**2, axis=1))


@dataclass(frozen=True)
class Closeness:
    """How close a rendering is to a reference rendering of the same text."""

    mcd_db: float
    """Mean mel-cepstral distortion (c1..c24, SPTK convention) along the DTW path, in dB."""
    f0_rmse_cents: float
    """RMS F0 difference over aligned frames voiced in both, in cents (NaN if none); gross
    (octave) errors of either track count in full, as is usual for this figure."""
    f0_median_cents: float
    """Median signed F0 difference (rendering minus reference) over the same frames: the bias."""
    f0_gross_error_rate: float
    """Share of those frames whose F0 differs by more than 20 % (gross pitch error)."""
    voiced_frames: int
    """Aligned frame pairs voiced in both."""


def closeness(audio: np.ndarray, reference: np.ndarray, sample_rate_hz: int) -> Closeness:
    """MCD and F0 errors of ``audio`` against ``reference`` (float32 [S], same rate), silence trimmed,
    frames aligned by DTW on c1..c24."""
    f0_a, mcep_a = world_analysis(trim_silence(audio, sample_rate_hz), sample_rate_hz)
    f0_b, mcep_b = world_analysis(trim_silence(reference, sample_rate_hz), sample_rate_hz)
    a, b = mcep_a[:, 1:], mcep_b[:, 1:]
    cost = np.sqrt(np.maximum((a**2).sum(1)[:, None] + (b**2).sum(1)[None, :] - 2.0 * a @ b.T, 0.0))
    rows, cols = dtw_path(cost)
    mcd = float(np.mean(mcd_frames_db(mcep_a[rows], mcep_b[cols])))
    both = (f0_a[rows] > 0) & (f0_b[cols] > 0)
    if not both.any():
        return Closeness(mcd, float("nan"), float("nan"), float("nan"), 0)
    ratio = f0_a[rows][both] / f0_b[cols][both]
    cents = 1200.0 * np.log2(ratio)
    return Closeness(
        mcd,
        float(np.sqrt(np.mean(cents**2))),
        float(np.median(cents)),
        float(np.mean(np.abs(ratio - 1.0) > 0.2)),
        int(both.sum()),
    )
