"""PNG figures of the evaluation: mel spectrograms with F0, and F0 contours of tagged speech.

matplotlib (the ``eval`` extra) draws through its Agg canvas directly, without pyplot's global
state, so plotting is safe off the main thread and never opens a window.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from distill.measures import hz_to_semitones

Track = tuple[str, np.ndarray, int]
"""(label, audio float32 [S], sample_rate_hz)."""


def _figure(width_in: float, height_in: float):
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        from steptts.errors import StepTTSError

        raise StepTTSError('plots need matplotlib: pip install -e ".[eval]"') from None
    figure = Figure(figsize=(width_in, height_in), dpi=100)
    FigureCanvasAgg(figure)
    return figure


def _save(figure, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.tight_layout()
    figure.savefig(str(path))
    return path


def _log_mel(audio: np.ndarray, sample_rate_hz: int) -> np.ndarray:
    """The training log-mel of ``audio`` (resampled to 22050 Hz): float32 [frames, 80]."""
    import torch

    from distill.dsp import resample
    from distill.features import SAMPLE_RATE_HZ, log_mel

    audio = resample(audio, sample_rate_hz, SAMPLE_RATE_HZ)
    with torch.no_grad():
        return log_mel(torch.from_numpy(np.ascontiguousarray(audio))[None])[0].numpy()


def plot_line_pair(path: Path, tracks: Sequence[Track], title: str = "") -> Path:
    """One panel per track, top to bottom: log-mel spectrogram with its F0 contour over it.

    The F0 (:func:`distill.pitch.f0_contour`, right axis, Hz) is drawn where voiced. Returns ``path``.
    """
    from distill.features import HOP, MEL_FMAX_HZ, SAMPLE_RATE_HZ
    from distill.pitch import FRAME_PERIOD_MS, f0_contour

    figure = _figure(10.0, 3.0 * len(tracks))
    longest_s = max(len(audio) / rate for _, audio, rate in tracks)
    for row, (label, audio, rate) in enumerate(tracks, start=1):
        axes = figure.add_subplot(len(tracks), 1, row)
        mel = _log_mel(audio, rate)
        frames_s = mel.shape[0] * HOP / SAMPLE_RATE_HZ
        axes.imshow(
            mel.T,
            origin="lower",
            aspect="auto",
            cmap="magma",
            extent=(0, frames_s, 0, mel.shape[1]),
            vmin=np.log(1e-5),
            vmax=max(float(mel.max()), np.log(1e-5) + 1),
        )
        axes.set_xlim(0, longest_s)
        axes.set_ylabel("mel band")
        axes.set_title(label if not title or row > 1 else f"{label}: {title[:90]}", fontsize=9)
        f0 = f0_contour(audio, rate)
        times = np.arange(len(f0)) * FRAME_PERIOD_MS / 1000.0
        pitch_axes = axes.twinx()
        pitch_axes.plot(times, np.where(f0 > 0, f0, np.nan), color="cyan", linewidth=1.2)
        pitch_axes.set_ylim(
            0, min(MEL_FMAX_HZ, max(400.0, float(np.nanmax(np.where(f0 > 0, f0, np.nan), initial=0)) * 1.2))
        )
        pitch_axes.set_ylabel("F0 (Hz)")
        if row == len(tracks):
            axes.set_xlabel("time (s)")
    return _save(figure, path)


def plot_f0_contours(
    path: Path, contours: Sequence[tuple[str, np.ndarray]], frame_period_ms: float, title: str = ""
) -> Path:
    """F0 contours (Hz per frame, 0 = unvoiced) on one axis, in semitones re A4. Returns ``path``."""
    figure = _figure(10.0, 4.0)
    axes = figure.add_subplot(1, 1, 1)
    for label, f0 in contours:
        f0 = np.asarray(f0, dtype=np.float64)
        times = np.arange(len(f0)) * frame_period_ms / 1000.0
        semitones = np.where(f0 > 0, hz_to_semitones(np.where(f0 > 0, f0, 1.0)), np.nan)
        axes.plot(times, semitones, label=label, linewidth=1.3)
    axes.set_xlabel("time (s)")
    axes.set_ylabel("F0 (semitones re A4)")
    axes.grid(alpha=0.3)
    axes.legend(loc="upper right", fontsize=8)
    if title:
        axes.set_title(title[:100], fontsize=9)
    return _save(figure, path)
