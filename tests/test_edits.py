"""distill.edits on real teacher speech: every effect is measured on the edited audio.

Speech comes from the Piper teacher (en_US-joe-medium, deterministic) once per module. F0 is
measured with the evaluation's tracker (:func:`distill.pitch.f0_contour`): on this low voice
WORLD's dio and harvest jump octaves, which would make the measurements noise.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest

from distill import edits
from distill.dsp import midi_to_hz
from distill.pitch import f0_contour
from steptts import music
from steptts.errors import StepTTSError
from steptts.phonemes import tokenize

HOP = 256
TEXTS = (
    "I would like a cup of tea, please, with milk.",
    "We are planning a picnic by the lake on Sunday.",
)


@pytest.fixture(scope="module")
def speech():
    """Neutral renderings: list of (audio float32 [S], sample_rate_hz, durations, tokens, text)."""
    from distill.teachers import PiperTeacher

    teacher = PiperTeacher()
    out = []
    for text in TEXTS:
        rendering = teacher.render(text, [], None)
        out.append(
            (
                rendering.audio,
                rendering.sample_rate_hz,
                rendering.durations,
                tokenize(rendering.phonemes),
                text,
            )
        )
    return out


@pytest.fixture(scope="module")
def edit(speech):
    """edit(key, index, seed=1, with_durations=True) -> EditResult, computed once per arguments."""

    @functools.cache
    def run(key: str, index: int, seed: int = 1, with_durations: bool = True) -> edits.EditResult:
        audio, rate, durations, tokens, text = speech[index]
        return edits.apply_tag_edit(
            audio, rate, durations if with_durations else None, tokens, key, seed, text
        )

    return run


# ------------------------------------------------------------------------------------------------
# Measurements


def f0_hz(audio: np.ndarray, rate: int) -> np.ndarray:
    """F0 per hop-spaced frame (0 = unvoiced): [S] → [S // 256 + 1]."""
    track = f0_contour(np.asarray(audio, np.float64), rate, 1000.0 * HOP / rate)
    n = len(audio) // HOP + 1
    return np.pad(track[:n], (0, max(0, n - len(track))))


def semitones(f0: np.ndarray) -> np.ndarray:
    return 12.0 * np.log2(f0[f0 > 0] / 440.0)


def median_st(audio, rate) -> float:
    return float(np.median(semitones(f0_hz(audio, rate))))


def range_st(audio, rate) -> float:
    values = semitones(f0_hz(audio, rate))
    return float(np.percentile(values, 95) - np.percentile(values, 5))


def voiced_rms_db(audio, rate) -> float:
    """Level of the 25 ms windows centred on the voiced frames (power mean)."""
    voiced = f0_hz(audio, rate) > 0
    window = round(0.025 * rate)
    padded = np.pad(np.asarray(audio, np.float64), (window // 2, window))
    frames = np.lib.stride_tricks.sliding_window_view(padded, window)[np.arange(len(voiced)) * HOP]
    return float(10 * np.log10(np.mean(np.mean(frames**2, axis=1)[voiced])))


def brightness_db(audio, rate) -> float:
    """Energy in 2–5 kHz over energy in 0.1–1 kHz: rises with a tenser, brighter voice."""
    power = np.abs(np.fft.rfft(np.asarray(audio, np.float64))) ** 2
    freqs = np.fft.rfftfreq(len(audio), 1 / rate)
    return float(
        10
        * np.log10(power[(freqs > 2000) & (freqs < 5000)].sum() / power[(freqs > 100) & (freqs < 1000)].sum())
    )


def speech_span_s(audio, rate) -> float:
    """Duration between the first and last frame within 30 dB of the loudest (a final plosive's
    faint release, which resynthesis softens by a few dB, stays out of it)."""
    n = len(audio) // HOP
    level = 10 * np.log10(
        np.mean(np.asarray(audio[: n * HOP], np.float64).reshape(n, HOP) ** 2, axis=1) + 1e-12
    )
    loud = np.flatnonzero(level > level.max() - 30)
    return (loud[-1] - loud[0] + 1) * HOP / rate


def check_consistent(result: edits.EditResult, tokens) -> None:
    assert result.audio.dtype == np.float32 and result.audio.ndim == 1
    assert np.all(np.isfinite(result.audio)) and np.abs(result.audio).max() <= 1.0
    assert len(result.durations) == len(tokens) and min(result.durations) >= 0
    assert sum(result.durations) * HOP == len(result.audio)
    assert all(isinstance(op, dict) and "op" in op for op in result.ops)


# ------------------------------------------------------------------------------------------------
# Emotions


def test_can_edit_names_the_editable_tags():
    for key in (
        "高兴1",
        "高兴2",
        "生气1",
        "生气2",
        "悲伤1",
        "悲伤2",
        "撒娇1",
        "撒娇2",
        "慢速1",
        "慢速2",
        "快速1",
        "快速2",
        "哼唱",
        "RAP",
    ):
        assert edits.can_edit(key), key
    for key in ("英文", "粤语", "British", "happy", ""):
        assert not edits.can_edit(key), key


@pytest.mark.parametrize("index", range(len(TEXTS)))
def test_happy_raises_pitch_more_at_intensity_2(speech, edit, index):
    audio, rate, _, tokens, _ = speech[index]
    neutral = median_st(audio, rate)
    mild, strong = edit("高兴1", index), edit("高兴2", index)
    check_consistent(mild, tokens)
    mild_st, strong_st = median_st(mild.audio, rate) - neutral, median_st(strong.audio, rate) - neutral
    assert mild_st >= 1.0 and strong_st >= 2.0
    assert strong_st >= mild_st + 0.8
    assert {"op": "f0_shift", "semitones": edits.EMOTION_EDITS["高兴2"].f0_shift_semitones} in strong.ops


@pytest.mark.parametrize("index", range(len(TEXTS)))
def test_sad_lowers_pitch_and_slows_down(speech, edit, index):
    audio, rate, durations, _, _ = speech[index]
    neutral = median_st(audio, rate)
    for key in ("悲伤1", "悲伤2"):
        result = edit(key, index)
        assert median_st(result.audio, rate) - neutral <= -1.3, key
        assert sum(result.durations) >= 1.08 * sum(durations), key
        assert speech_span_s(result.audio, rate) >= 1.08 * speech_span_s(audio, rate), key
    assert median_st(edit("悲伤2", index).audio, rate) < median_st(edit("悲伤1", index).audio, rate) - 0.8


@pytest.mark.parametrize("index", range(len(TEXTS)))
def test_angry_is_louder_and_tenser(speech, edit, index):
    audio, rate, _, _, _ = speech[index]
    gains = []
    for key in ("生气1", "生气2"):
        result = edit(key, index)
        gains.append(voiced_rms_db(result.audio, rate) - voiced_rms_db(audio, rate))
        assert gains[-1] >= 2.0, key
        assert brightness_db(result.audio, rate) >= brightness_db(audio, rate) + 2.0, key
    assert gains[1] >= gains[0] + 1.5
    assert range_st(edit("生气2", index).audio, rate) > range_st(audio, rate)


@pytest.mark.parametrize("index", range(len(TEXTS)))
def test_coquettish_is_higher_and_sing_song(speech, edit, index):
    audio, rate, _, _, _ = speech[index]
    result = edit("撒娇2", index)
    assert median_st(result.audio, rate) - median_st(audio, rate) >= 2.0
    assert range_st(result.audio, rate) >= 1.3 * range_st(audio, rate)


# ------------------------------------------------------------------------------------------------
# Speed, and every tag's invariants


@pytest.mark.parametrize(("key", "ratio"), [("快速2", 0.75), ("慢速2", 1.35), ("快速1", 0.87)])
def test_speed_scales_the_duration_by_the_planned_ratio(speech, edit, key, ratio):
    audio, rate, durations, tokens, _ = speech[0]
    result = edit(key, 0)
    check_consistent(result, tokens)
    assert sum(result.durations) / sum(durations) == pytest.approx(ratio, rel=0.01)
    assert speech_span_s(result.audio, rate) / speech_span_s(audio, rate) == pytest.approx(ratio, rel=0.03)
    # Per token, not globally: each token's frames scale by the ratio (±1 frame of rounding).
    assert np.all(np.abs(np.array(result.durations) - np.array(durations) * ratio) <= 1)
    # Pitch is left alone.
    assert abs(median_st(result.audio, rate) - median_st(audio, rate)) <= 1.0


def test_every_edit_keeps_durations_consistent_and_is_deterministic(speech, edit):
    _, _, _, tokens, _ = speech[1]
    for key in ("高兴1", "生气2", "悲伤1", "撒娇1", "慢速1", "快速1", "哼唱", "RAP"):
        check_consistent(edit(key, 1), tokens)
    audio, rate, durations, tokens, text = speech[1]
    again = edits.apply_tag_edit(audio, rate, durations, tokens, "哼唱", 1, text)
    assert np.array_equal(again.audio, edit("哼唱", 1).audio) and again.ops == edit("哼唱", 1).ops
    other = edit("哼唱", 1, seed=2)
    assert not np.array_equal(other.audio[: len(again.audio)], again.audio[: len(other.audio)])


# ------------------------------------------------------------------------------------------------
# Singing and rap


def note_hold_ratio(f0: np.ndarray, frame_s: float, window_s: float = 0.15) -> float:
    """Share of voiced frames inside windows of ``window_s`` whose F0 stays within ±50 cents."""
    width = max(2, round(window_s / frame_s))
    held = np.zeros(len(f0), bool)
    for start in range(len(f0) - width + 1):
        window = f0[start : start + width]
        if np.all(window > 0):
            cents = 1200 * np.log2(window / np.median(window))
            if np.all(np.abs(cents) <= 50):
                held[start : start + width] = True
    return float(held[f0 > 0].mean())


@pytest.mark.parametrize("index", range(len(TEXTS)))
def test_singing_follows_its_melody_and_holds_notes(speech, edit, index):
    audio, rate, durations, tokens, _ = speech[index]
    result = edit("哼唱", index)
    check_consistent(result, tokens)
    (sing,) = [op for op in result.ops if op["op"] == "sing"]
    melody = music.parse_melody(sing["melody"], sing["bpm"])
    assert 80 <= melody.bpm <= 110 and len(melody.notes) == len(music.syllable_nuclei(tokens))
    # The trainer recovers the overrides from the op: they are exactly the durations sung.
    duration_override, pitch_override = music.singing_overrides(
        tokens, np.array(durations), melody, rate / HOP
    )
    assert result.durations == duration_override.astype(int).tolist()
    # Pitch accuracy: voiced frames of the sung tokens within 50 cents of their note.
    expected = np.repeat(pitch_override, result.durations)
    f0 = f0_hz(result.audio, rate)[: len(expected)]
    counted = (f0 > 0) & (expected > 0)
    cents = 1200 * np.log2(f0[counted] / midi_to_hz(expected[counted]))
    assert counted.sum() >= 0.5 * (expected > 0).sum()
    assert np.mean(np.abs(cents) <= 50) >= 0.7
    # Notes are held: sustained vowels, steady pitch.
    assert note_hold_ratio(f0, HOP / rate) >= 0.6
    assert note_hold_ratio(f0, HOP / rate) > note_hold_ratio(f0_hz(audio, rate), HOP / rate) + 0.4
    assert len(result.audio) > 1.3 * len(audio)


def test_rap_lands_syllables_on_the_beat(speech, edit):
    from distill.music_measures import onset_times_s

    audio_errors, speech_errors = [], []
    for index, (audio, rate, durations, tokens, _) in enumerate(speech):
        result = edit("RAP", index)
        check_consistent(result, tokens)
        (rap,) = [op for op in result.ops if op["op"] == "rap"]
        assert 85 <= rap["bpm"] <= 100
        assert (
            result.durations
            == music.rap_overrides(tokens, np.array(durations), rap["bpm"], rate / HOP, rap["subdivision"])
            .astype(int)
            .tolist()
        )
        step_s = 60 / rap["bpm"] / rap["subdivision"]

        def grid_error_s(onsets_s, step_s=step_s):
            return np.abs(onsets_s / step_s - np.round(onsets_s / step_s)) * step_s

        # From the durations: every syllable onset on the grid that starts with the audio.
        starts_s = np.concatenate([[0], np.cumsum(result.durations)]) * HOP / rate
        assert np.median(grid_error_s(starts_s[music.syllable_attacks(tokens)])) <= 0.050
        # In the audio: the syllable onsets the evaluation's detector finds sit on that grid too.
        audio_errors.append(grid_error_s(onset_times_s(result.audio, rate)))
        speech_errors.append(grid_error_s(onset_times_s(audio, rate)))
        assert np.median(audio_errors[-1]) <= 0.050
        assert voiced_rms_db(result.audio, rate) >= voiced_rms_db(audio, rate) + 1.0
    assert np.median(np.concatenate(audio_errors)) < np.median(np.concatenate(speech_errors))


# ------------------------------------------------------------------------------------------------
# Black-box teachers and mistakes


def test_without_durations_emotions_use_a_global_tempo(speech, edit):
    audio, rate, _, _, _ = speech[0]
    result = edit("悲伤2", 0, with_durations=False)
    assert result.durations is None
    assert len(result.audio) / len(audio) == pytest.approx(1.28, rel=0.01)
    assert median_st(result.audio, rate) - median_st(audio, rate) <= -1.3
    for key in ("哼唱", "RAP"):
        with pytest.raises(edits.EditError, match="durations"):
            edit(key, 0, with_durations=False)


def test_bad_inputs_raise_edit_errors(speech):
    audio, rate, durations, tokens, text = speech[0]
    with pytest.raises(edits.EditError, match="英文"):
        edits.apply_tag_edit(audio, rate, durations, tokens, "英文", 0, text)
    with pytest.raises(edits.EditError, match="samples"):
        edits.apply_tag_edit(audio[:-HOP], rate, durations, tokens, "高兴1", 0, text)
    with pytest.raises(edits.EditError, match="tokens"):
        edits.apply_tag_edit(audio, rate, durations[:-1], tokens, "高兴1", 0, text)
    assert issubclass(edits.EditError, StepTTSError)
