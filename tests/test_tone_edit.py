"""The tone edit: syllables found with their tones and frames, F0 pulled toward each tone's contour."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from distill.edits import EditError, analysis_f0
from distill.tone_edit import Syllable, apply_tone_edit, retune, syllables
from steptts.languages.mandarin import phonemize
from steptts.phonemes import tokenize

RATE = 22050
HOP = 256


def test_syllables_carry_tones_frames_and_pauses():
    text = "你好，老师。"
    phonemes = phonemize(text)  # ni↗xau↓, lau↓ʂɨ→.  (3-3 sandhi: ni2)
    durations = [10] + [2] * (len(tokenize(phonemes)) - 2) + [3]
    found = syllables(text, phonemes, durations)
    assert [s.tone for s in found] == ["2", "3", "3", "1"]
    assert [s.before_pause for s in found] == [False, True, False, True]
    assert found[0].start_frame == 10  # after ^
    assert all(a.end_frame <= b.start_frame for a, b in itertools.pairwise(found))
    with pytest.raises(EditError, match="durations"):
        syllables(text, phonemes, durations[:-1])


def test_retune_moves_each_syllable_toward_its_contour():
    f0 = np.full(60, 200.0)
    f0[:5] = 150.0  # the utterance's range: 150–250 Hz
    f0[-5:] = 250.0
    f0[28:32] = 0.0  # unvoiced frames stay unvoiced
    sylls = [Syllable("2", 5, 25, False), Syllable("4", 32, 52, False), Syllable("5", 52, 55, True)]
    out, (low_hz, high_hz) = retune(f0, sylls, strength=1.0)
    assert low_hz == pytest.approx(150.0) and high_hz == pytest.approx(250.0)
    assert (out[28:32] == 0).all() and (out > 0).sum() == (f0 > 0).sum()
    assert out[22] > out[8] * 1.15  # tone 2 rises
    assert out[35] > out[49] * 1.3  # tone 4 falls
    unchanged, _ = retune(f0, sylls, strength=0.0)
    assert np.allclose(unchanged, f0)


def test_tone_edit_keeps_length_and_records_itself():
    text = "你好。"
    phonemes = phonemize(text)
    durations = [8] + [6] * (len(tokenize(phonemes)) - 2) + [4]
    n = sum(durations) * HOP
    t = np.arange(n) / RATE
    f0 = 150.0 + 100.0 * t / t[-1]  # a sweep: the speaker's range
    phase = 2 * np.pi * np.cumsum(f0) / RATE
    audio = (0.3 * sum(np.sin(k * phase) / k for k in range(1, 12))).astype(np.float32)
    edited = apply_tone_edit(audio, RATE, durations, phonemes, text, strength=0.8)
    assert edited.audio.size == audio.size and edited.durations == durations
    assert edited.ops[0]["op"] == "tone" and edited.ops[0]["strength"] == 0.8
    before, _ = analysis_f0(audio.astype(np.float64), RATE)
    after, _ = analysis_f0(edited.audio.astype(np.float64), RATE)
    first = syllables(text, phonemes, durations)[0]  # ni2, rising; the sweep rises less
    inner = np.arange(first.start_frame, first.end_frame)[3:-3]  # clear of the smoothing at the joins
    inner = inner[(before[inner] > 0) & (after[inner] > 0)]
    slope_before = np.polyfit(inner, np.log(before[inner]), 1)[0]
    slope_after = np.polyfit(inner, np.log(after[inner]), 1)[0]
    assert slope_after > 1.2 * slope_before
    with pytest.raises(EditError, match="strength"):
        apply_tone_edit(audio, RATE, durations, phonemes, text, strength=1.5)
