"""Tone contours in Chao levels (distill/tone_contours.py) on a voice-like signal whose F0 is known."""

from __future__ import annotations

import numpy as np

from distill.tone_contours import contours, summarize, target_points
from distill.tone_edit import Syllable

RATE = 22050
HOP = 256


def gliding_tone(f0_hz: np.ndarray) -> np.ndarray:
    """Five harmonics following ``f0_hz`` (per sample), float32 [S]."""
    phase = 2 * np.pi * np.cumsum(f0_hz) / RATE
    wave = sum(np.sin(k * phase) / k for k in range(1, 6))
    return (0.3 * wave / np.max(np.abs(wave))).astype(np.float32)


def test_level_rising_and_falling_syllables_read_as_their_chao_contours():
    syllable_s, low, high = 0.4, 120.0, 240.0
    n = int(syllable_s * RATE)
    glide = np.geomspace(low, high, n)
    f0 = np.concatenate([np.full(n, high), glide, glide[::-1]])  # tone 1, tone 2, tone 4
    gap = np.zeros(int(0.2 * RATE), np.float32)
    audio = np.concatenate([gap, gliding_tone(f0), gap])
    first = len(gap) // HOP
    frames = [(first + i * n // HOP + 2, first + (i + 1) * n // HOP - 2) for i in range(3)]
    sylls = [Syllable(tone, start, end, tone == "4") for tone, (start, end) in zip("124", frames)]
    tones = summarize(contours(audio, sylls, RATE))
    assert set(tones) == {"1", "2", "4"} and all(row["count"] == 1 for row in tones.values())
    level, rising, falling = (np.array(tones[key]["mean"]) for key in "124")
    # The speaker's range is the 5th–95th percentile of the voiced F0: about 125–240 Hz here.
    assert np.all(level > 4.5) and tones["1"]["mad"] < 0.3  # 55
    assert rising[-1] - rising[0] > 2.0 and falling[0] - falling[-1] > 2.0
    assert tones["4"]["mad"] < 0.5  # 51
    assert tones["2"]["mad"] > tones["4"]["mad"]  # 35, and this one rose from the bottom
    assert target_points("5") is None and target_points("3 final").tolist() == [2.0, 1.5, 1.0, 2.5, 4.0]
