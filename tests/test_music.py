"""steptts.music: melody parsing, the default melody, syllable nuclei, singing and rap overrides."""

import subprocess
import sys

import numpy as np
import pytest

from distill.music_measures import beat_grid_s
from steptts import music
from steptts.errors import MusicError, StepTTSError
from steptts.phonemes import tokenize

FRAME_RATE_HZ = 22050 / 256
# espeak-ng's IPA for "the quick brown fox, jumps over" (fixed here so the test does not depend on
# the espeak-ng version).
PHONEMES = "ðə kwˈɪk bɹˈaʊn fˈɑːks, dʒˈʌmps ˌoʊvɚ"


def durations_for(tokens, frames=5):
    return np.full(len(tokens), frames, dtype=np.float32)


# ------------------------------------------------------------------------------------------------
# Parsing


def test_parse_note_names_with_lengths():
    melody = music.parse_melody("C4:1 C4:1 G4:1 G4:1 A4:1 A4:1 G4:2", bpm=120)
    assert [n.midi for n in melody.notes] == [60, 60, 67, 67, 69, 69, 67]
    assert [n.beats for n in melody.notes] == [1, 1, 1, 1, 1, 1, 2]
    assert melody.bpm == 120
    assert melody.duration_s == pytest.approx(8 * 0.5)


def test_parse_midi_numbers_sharps_flats_and_default_length():
    melody = music.parse_melody("60:1 62:0.5 C#4 Db4:2 Bb3 e4, R:1 A4")
    assert [n.midi for n in melody.notes] == [60, 62, 61, 61, 58, 64, 0, 69]
    assert [n.beats for n in melody.notes] == [1, 0.5, 1, 2, 1, 1, 1, 1]
    assert melody.notes[6].is_rest and not melody.notes[0].is_rest
    assert melody.bpm == 100.0


def test_spec_round_trips():
    melody = music.parse_melody("C4:1 R:0.5 62.5:1.5 G3", bpm=90)
    assert music.parse_melody(melody.to_spec(), bpm=90) == melody


@pytest.mark.parametrize(
    ("spec", "bpm", "names"),
    [
        ("H4:1", 100, "H4"),
        ("C4:x", 100, "C4:x"),
        ("C4:0", 100, "C4:0"),
        ("C4:-1", 100, "C4:-1"),
        ("C4:nan", 100, "C4:nan"),
        ("200:1", 100, "200"),
        ("C4 D4", 20, "20"),
        ("C4 D4", 400, "400"),
        ("   ", 100, "empty"),
        ("R:1 R:2", 100, "rests"),
    ],
)
def test_bad_melodies_raise_one_clear_line(spec, bpm, names):
    with pytest.raises(MusicError) as error:
        music.parse_melody(spec, bpm=bpm)
    assert isinstance(error.value, StepTTSError)
    message = str(error.value)
    assert names in message and "\n" not in message


# ------------------------------------------------------------------------------------------------
# The default melody


def test_default_melody_is_deterministic_per_text_and_sounds_like_a_tune():
    first = music.default_melody("Twinkle twinkle little star", 24)
    assert first == music.default_melody("Twinkle twinkle little star", 24)
    others = {music.default_melody(f"line {i}", 24).to_spec() for i in range(8)}
    assert len(others) > 4  # different texts get different tunes
    for text in ("Twinkle twinkle little star", "line 1", "line 2", "a", "b"):
        melody = music.default_melody(text, 24)
        midi = np.array([n.midi for n in melody.notes])
        assert len(melody.notes) == 24
        assert 80 <= melody.bpm <= 110
        assert midi.min() >= 48 and midi.max() <= 64  # a male singing range
        tonic = midi[-1]
        # Every note on the tonic's major scale (pentatonic is a subset).
        assert set(np.mod(midi - tonic, 12).astype(int)) <= {0, 2, 4, 5, 7, 9, 11}
        steps = np.abs(np.diff(midi))
        assert np.mean(steps <= 4) >= 0.6  # mostly stepwise
        assert np.any(steps >= 5) or len(set(midi)) >= 4  # and not a drone
        assert melody.notes[-1].beats >= max(n.beats for n in melody.notes[:-1]) / 1.5


def test_default_melody_takes_a_tempo_and_rejects_nonsense():
    assert music.default_melody("x", 3, bpm=95).bpm == 95
    assert len(music.default_melody("x", 1).notes) == 1
    with pytest.raises(MusicError):
        music.default_melody("x", 0)
    with pytest.raises(MusicError):
        music.default_melody("x", 4, bpm=500)


# ------------------------------------------------------------------------------------------------
# Syllables


def test_syllable_nuclei_count_diphthongs_and_long_vowels_once():
    tokens = tokenize(PHONEMES)
    spans = music.nucleus_spans(tokens)
    assert ["".join(tokens[a:b]) for a, b in spans] == ["ə", "ɪ", "aʊ", "ɑː", "ʌ", "oʊ", "ɚ"]
    assert music.syllable_nuclei(tokens) == [a for a, _ in spans]
    attacks = music.syllable_attacks(tokens)
    assert [tokens[i] for i in attacks] == ["ə", "ˈ", "ˈ", "ˈ", "ˈ", "ˌ", "ɚ"]


def test_syllabic_consonants_and_no_vowels():
    tokens = tokenize("bˈʌtn̩")
    assert ["".join(tokens[a:b]) for a, b in music.nucleus_spans(tokens)] == ["ʌ", "n̩"]
    assert music.syllable_nuclei(tokenize("pst")) == []


# ------------------------------------------------------------------------------------------------
# Singing


def attack_frames(tokens, durations):
    starts = np.concatenate([[0], np.cumsum(durations)])
    return starts[music.syllable_attacks(tokens)]


def test_singing_overrides_hold_each_note_and_keep_consonants():
    tokens = tokenize(PHONEMES)
    predicted = durations_for(tokens)
    melody = music.parse_melody("C3:1 D3:1 E3:2 G3:1 E3:1 D3:1 C3:2", bpm=100)
    duration_override, pitch_override = music.singing_overrides(tokens, predicted, melody, FRAME_RATE_HZ)
    assert duration_override.shape == pitch_override.shape == (len(tokens),)
    assert duration_override.dtype == pitch_override.dtype == np.float32
    assert np.all(duration_override >= 0) and np.all(duration_override == np.round(duration_override))
    # Consonants, marks and pauses keep their predicted frames; only nuclei change.
    spans = music.nucleus_spans(tokens)
    in_nucleus = np.zeros(len(tokens), bool)
    for a, b in spans:
        in_nucleus[a:b] = True
    assert np.array_equal(duration_override[~in_nucleus], predicted[~in_nucleus])
    # Syllable i lasts note i: attack-to-attack gaps are the notes' lengths in frames (±1 rounding).
    frames_per_beat = 60 / 100 * FRAME_RATE_HZ
    gaps = np.diff(attack_frames(tokens, duration_override))
    assert np.all(np.abs(gaps - np.array([1, 1, 2, 1, 1, 1]) * frames_per_beat) <= 1)
    # Pitch: each nucleus sings its note; unvoiced consonants and pauses are left to the model.
    notes = [n.midi for n in melody.notes]
    assert [pitch_override[a] for a, _ in spans] == notes
    for index, token in enumerate(tokens):
        if token in ("k", "s", "p", "f", " ", ",", "^", "$"):
            assert pitch_override[index] <= 0, token
        if token in ("ð", "n", "m", "v", "b", "ɹ"):
            assert pitch_override[index] in notes, token


def test_singing_cycles_a_short_melody_and_ignores_extra_notes():
    tokens = tokenize(PHONEMES)
    predicted = durations_for(tokens)
    spans = music.nucleus_spans(tokens)
    _, short = music.singing_overrides(tokens, predicted, music.parse_melody("C3 G3"), FRAME_RATE_HZ)
    assert [short[a] for a, _ in spans] == [48, 55, 48, 55, 48, 55, 48]
    long_melody = music.parse_melody(" ".join(["E3"] * 7 + ["C5"] * 5))
    _, long = music.singing_overrides(tokens, predicted, long_melody, FRAME_RATE_HZ)
    assert [long[a] for a, _ in spans] == [52] * 7


def test_singing_shrinks_nuclei_to_one_frame_when_consonants_fill_the_note():
    tokens = tokenize(PHONEMES)
    predicted = durations_for(tokens, frames=9)
    fast = music.parse_melody("C3:0.25", bpm=300)  # 4 frames a note, consonants alone take more
    duration_override, _ = music.singing_overrides(tokens, predicted, fast, FRAME_RATE_HZ)
    for a, b in music.nucleus_spans(tokens):
        assert duration_override[a] == 1 and np.all(duration_override[a:b] >= 0)


def test_singing_rest_goes_to_the_pause_after_the_syllable():
    tokens = tokenize("lˈɑː, lˈɑː")
    predicted = durations_for(tokens)
    melody = music.parse_melody("C3:1 R:1 D3:1", bpm=60)
    duration_override, pitch_override = music.singing_overrides(tokens, predicted, melody, FRAME_RATE_HZ)
    pause = [tokens.index(","), tokens.index(" ")]
    assert duration_override[pause].sum() > predicted[pause].sum() + 0.8 * FRAME_RATE_HZ  # the rest: 1 s
    assert np.all(pitch_override[pause] <= 0)
    gap = np.diff(attack_frames(tokens, duration_override))[0]
    assert abs(gap - 2 * FRAME_RATE_HZ) <= 1  # note + rest


def test_singing_without_vowels_leaves_durations_alone():
    tokens = tokenize("pst")
    predicted = durations_for(tokens, 3)
    duration_override, pitch_override = music.singing_overrides(
        tokens, predicted, music.parse_melody("C3"), FRAME_RATE_HZ
    )
    assert np.array_equal(duration_override, predicted) and np.all(pitch_override <= 0)


# ------------------------------------------------------------------------------------------------
# Rap


@pytest.mark.parametrize(("bpm", "subdivision"), [(90, 2), (100, 4), (60, 1)])
def test_rap_puts_every_attack_on_the_beat_grid(bpm, subdivision):
    tokens = tokenize(PHONEMES)
    rng = np.random.default_rng(bpm)
    predicted = rng.integers(1, 12, len(tokens)).astype(np.float32)
    override = music.rap_overrides(tokens, predicted, bpm, FRAME_RATE_HZ, subdivision)
    assert override.shape == (len(tokens),) and override.dtype == np.float32
    assert np.all(override >= 1)  # every token kept at least 1 frame
    step = 60 / bpm / subdivision * FRAME_RATE_HZ
    points = attack_frames(tokens, override) / step
    assert np.all(np.abs(points - np.round(points)) * step <= 0.5 + 1e-9)  # on a grid frame
    assert np.all(np.diff(np.round(points)) >= 1)  # one syllable per grid point at most
    # The structure is kept: tokens after the last attack are untouched.
    last = music.syllable_attacks(tokens)[-1]
    assert np.array_equal(override[last:], predicted[last:])
    grid_s = beat_grid_s(bpm, subdivision, 4)
    assert grid_s[1] == pytest.approx(60 / bpm / subdivision)


def test_rap_keeps_the_natural_rhythm_close():
    tokens = tokenize(PHONEMES)
    predicted = durations_for(tokens, 4)
    override = music.rap_overrides(tokens, predicted, 90, FRAME_RATE_HZ, 4)
    # Snapped to the nearest grid point, so the length changes by less than a grid step a syllable.
    step = 60 / 90 / 4 * FRAME_RATE_HZ
    before = attack_frames(tokens, predicted)
    after = attack_frames(tokens, override)
    assert np.all(np.abs(after - before) <= step * np.arange(1, len(before) + 1))


def test_rap_rejects_bad_tempo():
    tokens = tokenize(PHONEMES)
    with pytest.raises(MusicError):
        music.rap_overrides(tokens, durations_for(tokens), 10, FRAME_RATE_HZ)
    with pytest.raises(MusicError):
        music.rap_overrides(tokens, durations_for(tokens), 90, FRAME_RATE_HZ, 0)


def test_music_is_torch_free():
    code = "import sys, steptts.music; assert 'torch' not in sys.modules and 'scipy' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
