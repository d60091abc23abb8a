"""Mandarin tone contours of a rendering: each syllable's F0 as Chao levels, averaged per tone class,
against the tone's target contour (not an edit: a measurement, for the benches).

A syllable's frames come from white-box durations (:func:`distill.tone_edit.syllables`); its F0
(:func:`distill.edits.analysis_f0`, hop 256) is read at :data:`POINTS` evenly spaced voiced frames and
placed in the speaker's range as the tone edit places it: the 5th and 95th percentiles of the
utterance's voiced F0 are Chao levels 1 and 5, log-frequency in between. The targets are the tone
edit's (:data:`distill.tone_edit.TONE_CONTOURS`; tone 3 before a pause dips fully,
:data:`~distill.tone_edit.FINAL_THIRD_TONE`); the neutral tone has none.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from distill.tone_edit import FINAL_THIRD_TONE, RANGE_PERCENTILES, TONE_CONTOURS, Syllable

POINTS = 5
"""Points read per syllable, evenly spaced over its voiced frames."""
MIN_VOICED_FRAMES = 3
"""A syllable with fewer voiced frames (hop 256) is not measured."""
TONE_CLASSES = ("1", "2", "3", "3 final", "4", "5")
"""Tone classes in report order: tone 3 before a pause apart (it dips fully); ``5`` is the neutral tone."""
TONE_CLASS_NAMES = {
    "1": "tone 1",
    "2": "tone 2",
    "3": "tone 3",
    "3 final": "tone 3, final",
    "4": "tone 4",
    "5": "neutral",
}
"""How a plot or table names each tone class."""


def tone_class(syllable: Syllable) -> str:
    """The syllable's key in :data:`TONE_CLASSES`."""
    return syllable.tone + (" final" if syllable.tone == "3" and syllable.before_pause else "")


def voiced_range_hz(f0: np.ndarray) -> tuple[float, float]:
    """(Chao 1, Chao 5) of an utterance: the :data:`~distill.tone_edit.RANGE_PERCENTILES` of its voiced F0, Hz."""
    low, high = np.percentile(f0[f0 > 0], RANGE_PERCENTILES)
    return float(low), float(high)


def chao_points(f0: np.ndarray, syllable: Syllable, low_hz: float, high_hz: float) -> np.ndarray | None:
    """F0 [POINTS] at evenly spaced voiced frames of ``syllable``, as Chao levels in the range
    ``low_hz``–``high_hz``; None with under :data:`MIN_VOICED_FRAMES` voiced frames.

    ``f0``: Hz per frame of hop 256, 0 where unvoiced."""
    frames = np.arange(syllable.start_frame, min(syllable.end_frame, len(f0)))
    frames = frames[f0[frames] > 0]
    if len(frames) < MIN_VOICED_FRAMES:
        return None
    picks = frames[np.round(np.linspace(0, len(frames) - 1, POINTS)).astype(int)]
    return 1.0 + 4.0 * (np.log(f0[picks]) - np.log(low_hz)) / (np.log(high_hz) - np.log(low_hz))


def target_points(key: str) -> np.ndarray | None:
    """The target contour [POINTS] in Chao levels of a tone class; None for the neutral tone."""
    letters = FINAL_THIRD_TONE if key == "3 final" else TONE_CONTOURS.get(key)
    if letters is None:
        return None
    return np.interp(np.linspace(0, 1, POINTS), np.linspace(0, 1, len(letters)), letters)


def contours(
    audio: np.ndarray,
    sylls: Sequence[Syllable],
    sample_rate_hz: int = 22050,
    range_hz: tuple[float, float] | None = None,
) -> dict[str, list[np.ndarray]]:
    """Per tone class: the Chao-level points [POINTS] of each measured syllable of ``audio`` (float [S]).

    ``range_hz``: the (Chao 1, Chao 5) frequencies; None: the audio's own (:func:`voiced_range_hz`).
    """
    from distill.edits import analysis_f0

    f0, _ = analysis_f0(np.asarray(audio, dtype=np.float64), sample_rate_hz)
    if (f0 > 0).sum() < 2 * MIN_VOICED_FRAMES:
        return {}
    low_hz, high_hz = range_hz or voiced_range_hz(f0)
    out: dict[str, list[np.ndarray]] = {}
    for syllable in sylls:
        points = chao_points(f0, syllable, low_hz, high_hz)
        if points is not None and syllable.tone in "12345":
            out.setdefault(tone_class(syllable), []).append(points)
    return out


def summarize(per_class: dict[str, list[np.ndarray]]) -> dict[str, dict[str, Any]]:
    """Per tone class present: ``count`` syllables, ``mean`` contour [POINTS], ``target`` [POINTS] (None
    for the neutral tone) and ``mad``, the mean absolute deviation from the target in Chao levels over
    every point of every syllable (NaN without a target)."""
    out = {}
    for key in TONE_CLASSES:
        points = np.asarray(per_class.get(key, []))
        if not len(points):
            continue
        target = target_points(key)
        out[key] = {
            "count": len(points),
            "mean": points.mean(axis=0).round(3).tolist(),
            "target": None if target is None else target.tolist(),
            "mad": float(np.mean(np.abs(points - target))) if target is not None else float("nan"),
        }
    return out


def merge(into: dict[str, list[np.ndarray]], more: dict[str, list[np.ndarray]]) -> None:
    """Add ``more``'s syllables to ``into``, class by class."""
    for key, points in more.items():
        into.setdefault(key, []).extend(points)
