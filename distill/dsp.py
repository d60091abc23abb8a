"""Small signal helpers shared by the teachers, the audio edits, the features and the evaluation.

Resampling, WORLD (pyworld) on first use, and the Hz ↔ MIDI note scale (69 = A4 = 440 Hz).
"""

from __future__ import annotations

import math

import numpy as np

A4_HZ = 440.0
"""Frequency of MIDI note 69 (A4), in Hertz."""
A4_MIDI = 69.0
"""MIDI note number of A4."""


def resample(audio: np.ndarray, from_hz: int, to_hz: int, clip: bool = False) -> np.ndarray:
    """float32 [S] → float32 [S · to_hz / from_hz] with a polyphase filter (scipy.signal.resample_poly).

    Identity when the rates match. ``clip`` bounds resampled audio to [-1, 1] (the filter's ringing
    may overshoot), as audio to be written or fed to a judge needs.
    """
    audio = np.asarray(audio, dtype=np.float32).reshape(-1)
    if int(from_hz) == int(to_hz):
        return audio
    from scipy.signal import resample_poly

    divisor = math.gcd(int(from_hz), int(to_hz))
    out = resample_poly(audio.astype(np.float64), int(to_hz) // divisor, int(from_hz) // divisor)
    if clip:
        out = np.clip(out, -1.0, 1.0)
    return out.astype(np.float32)


def pyworld():
    """pyworld, imported on first use (its ``__init__`` needs ``pkg_resources``: the train and eval
    extras pin ``setuptools<81``)."""
    import pyworld as world

    return world


def midi_to_hz(midi: np.ndarray | float) -> np.ndarray:
    """Frequency in Hz of MIDI note numbers (float64, any shape)."""
    return A4_HZ * 2.0 ** ((np.asarray(midi, dtype=np.float64) - A4_MIDI) / 12.0)


def hz_to_midi(hz: np.ndarray | float) -> np.ndarray:
    """MIDI note numbers (float64, any shape) of frequencies in Hz (> 0)."""
    return A4_MIDI + 12.0 * np.log2(np.asarray(hz, dtype=np.float64) / A4_HZ)
