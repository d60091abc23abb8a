"""Melodies and beat grids for the singing (哼唱) and rap (RAP) tags.

The runtime and the data engine share this module, so that the rhythm and pitch a student is
trained on are the ones it is later asked for:

- :func:`singing_overrides` turns predicted durations into one note per syllable: each syllable
  (its vowel nucleus plus the consonants after it) lasts its note, the nucleus carries the note's
  pitch. The runtime feeds the result as the graph's ``duration_override`` / ``pitch_override``;
  :mod:`distill.edits` time-warps the teacher's audio to the same durations.
- :func:`rap_overrides` moves every syllable's onset (where its vowel starts) onto a beat grid.

Durations are frames per token of :func:`steptts.phonemes.tokenize` (hop 256 at 22050 Hz, so
``frame_rate_hz`` is about 86.13). numpy only.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass

import numpy as np

from .errors import MusicError
from .phonemes import VOWELS

MIN_BPM, MAX_BPM = 30.0, 300.0
REST = 0.0
"""MIDI value of a rest (written ``R`` or ``rest`` in a melody spec)."""

# Symbols that lengthen or colour the vowel before them: part of its nucleus, never one on their own.
_LENGTH_MARKS = frozenset("ːˑ")
_TONE_LETTERS = frozenset("˥˦˧˨˩")
_SYLLABIC_MARKS = frozenset("\u0329\u030d")  # combining vertical line: n̩, l̩ are nuclei
_STRESS_MARKS = frozenset("ˈˌ")
_VOICED_CONSONANTS = frozenset("bdgɡvðzʒmnŋlɹrjwɾɫʁɲʎɦʋβɣʝɻɭɳɱʐʑɖɗɓɠʀɺɰɥɮʕɽʙ")
_PAUSES = frozenset(" ,.;:!?…—–-\"'()«»¡¿")
RAP_SUBDIVISION = 4
"""Beat-grid points per beat for rap, shared by the runtime, the data engine and the evaluation.

Sixteenth notes: syllables land on the grid while the speech keeps about its own pace (1.06× on
ARCTIC lines at 85–100 bpm). On eighth notes every syllable takes at least an eighth, the speech
slows 1.7×, and pocketsphinx's WER of the rapped Piper lines rose from 0.25 to 0.44."""


@dataclass(frozen=True)
class Note:
    """One note of a melody."""

    midi: float
    """MIDI note number (69 = A4 = 440 Hz); ``REST`` (0) for a rest."""
    beats: float
    """Length in beats (> 0)."""

    @property
    def is_rest(self) -> bool:
        return self.midi <= 0


@dataclass(frozen=True)
class Melody:
    """Notes and a tempo."""

    notes: tuple[Note, ...]
    """The notes in order (a rest has MIDI 0)."""
    bpm: float
    """Tempo in beats per minute (30–300)."""

    def to_spec(self) -> str:
        """The melody as a spec string that :func:`parse_melody` reads back (MIDI numbers)."""
        return " ".join(f"{'R' if n.is_rest else _num(n.midi)}:{_num(n.beats)}" for n in self.notes)

    @property
    def duration_s(self) -> float:
        return sum(n.beats for n in self.notes) * 60.0 / self.bpm


def _num(value: float) -> str:
    return f"{value:g}"


_NOTE_NAME = re.compile(r"^([A-Ga-g])([#♯b♭]*)(-?\d+)$")
_STEP = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}


def check_bpm(bpm: float) -> float:
    try:
        bpm = float(bpm)
    except (TypeError, ValueError):
        raise MusicError(f"tempo must be a number of beats per minute, got {bpm!r}") from None
    if not MIN_BPM <= bpm <= MAX_BPM:
        raise MusicError(f"tempo {bpm:g} bpm is out of range; use {MIN_BPM:g}–{MAX_BPM:g} bpm")
    return bpm


def _parse_pitch(text: str, token: str) -> float:
    if text.casefold() in ("r", "rest"):
        return REST
    match = _NOTE_NAME.match(text)
    if match:
        letter, accidentals, octave = match.groups()
        shift = sum(1 if a in "#♯" else -1 for a in accidentals)
        midi = 12 * (int(octave) + 1) + _STEP[letter.upper()] + shift
    else:
        try:
            midi = float(text)
        except ValueError:
            raise MusicError(
                f"bad note '{token}': write a name with octave (C4, F#3, Bb2), a MIDI number (60) or R"
            ) from None
    if not 0 < midi <= 127:
        raise MusicError(f"note '{token}' is outside the MIDI range 1–127")
    return float(midi)


def parse_melody(spec: str, bpm: float = 100.0) -> Melody:
    """Parse ``"C4:1 C4:1 G4:1 G4:1 A4:1 A4:1 G4:2"`` (or ``"60:1 62:0.5"``) into a :class:`Melody`.

    Tokens are separated by spaces or commas; each is a note (name with octave, ``C#4``/``Db4``, or a
    MIDI number) or a rest (``R``), with an optional ``:beats`` length (default 1 beat). Raises
    :class:`MusicError` on a bad token, a length that is not a positive number, a melody without a
    note, or a tempo outside 30–300 bpm.
    """
    bpm = check_bpm(bpm)
    tokens = [t for t in re.split(r"[\s,]+", spec.strip()) if t]
    if not tokens:
        raise MusicError("empty melody: give notes like 'C4:1 E4:1 G4:2'")
    notes = []
    for token in tokens:
        pitch_text, sep, length_text = token.partition(":")
        midi = _parse_pitch(pitch_text, token)
        beats = 1.0
        if sep:
            try:
                beats = float(length_text)
            except ValueError:
                raise MusicError(f"bad length in '{token}': write beats as a number, e.g. C4:0.5") from None
            if not (beats > 0 and np.isfinite(beats)):
                raise MusicError(f"bad length in '{token}': beats must be a positive number")
        notes.append(Note(midi, beats))
    if all(n.is_rest for n in notes):
        raise MusicError("the melody has only rests: give at least one note")
    return Melody(tuple(notes), bpm)


# --------------------------------------------------------------------------------------------------
# A melody of its own


_PENTATONIC = (0, 2, 4, 7, 9)
_MAJOR = (0, 2, 4, 5, 7, 9, 11)


def default_melody(
    text: str,
    n_notes: int,
    bpm: float | None = None,
    *,
    low_midi: float = 48.0,
    high_midi: float = 64.0,
) -> Melody:
    """A pleasant melody of ``n_notes`` notes, the same for the same text.

    A major-pentatonic (sometimes major) scale on a tonic in the lower half of
    ``[low_midi, high_midi]`` (48–64 suits a male voice), moving mostly by step with a few leaps,
    each phrase (4–8 notes) ending on the tonic with a longer note. Note lengths are half a beat, one
    beat now and then and 1.5 at phrase ends; ``bpm`` None picks a tempo of 80–110 from the text.
    """
    if n_notes < 1:
        raise MusicError(f"a melody needs at least one note, got n_notes={n_notes}")
    if high_midi - low_midi < 7:
        raise MusicError(f"melody range {low_midi:g}–{high_midi:g} is too narrow; give at least 7 semitones")
    # hashlib, not hash(): Python salts str hashes per process, and the data must be reproducible.
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    rng = np.random.default_rng(int.from_bytes(digest[:8], "little"))
    if bpm is None:
        bpm = float(rng.integers(80, 111))
    bpm = check_bpm(bpm)
    degrees = _PENTATONIC if rng.random() < 0.75 else _MAJOR
    tonic = round(low_midi) + int(rng.integers(0, 5))
    # Scale pitches from a fifth-ish below the tonic to an octave above, inside the range.
    pitches = sorted(
        tonic + 12 * octave + degree
        for octave in (-1, 0, 1)
        for degree in degrees
        if low_midi <= tonic + 12 * octave + degree <= high_midi
    )
    tonic_index = pitches.index(tonic)
    top = len(pitches) - 1

    notes: list[Note] = []
    index = tonic_index + int(rng.choice([0, 1, 2]))
    remaining = n_notes
    while remaining > 0:
        phrase_len = min(remaining, int(rng.integers(4, 9)))
        if remaining - phrase_len < 3:  # no stub phrase at the end
            phrase_len = remaining
        for position in range(phrase_len):
            last = position == phrase_len - 1
            if last:
                index = tonic_index
            elif position == phrase_len - 2:
                # Lead into the tonic by step, from above or below.
                index = tonic_index + (int(rng.choice([-1, 1, 1])) if tonic_index > 0 else 1)
            elif position > 0:
                roll = rng.random()
                if roll < 0.7:
                    step = int(rng.choice([-1, 1]))
                elif roll < 0.88:
                    step = int(rng.choice([-2, 2]))
                elif roll < 0.94:
                    step = int(rng.choice([-3, 3]))
                else:
                    step = 0
                index += step
                if index < 0 or index > top:
                    index -= 2 * step  # bounce off the range's edge
            index = int(np.clip(index, 0, top))
            # Mostly eighth notes (about three syllables a second), longer at phrase ends, so a
            # sung sentence lasts about twice its spoken length rather than four times.
            beats = 1.5 if last else (1.0 if position > 0 and rng.random() < 0.2 else 0.5)
            notes.append(Note(float(pitches[index]), beats))
        remaining -= phrase_len
        index = tonic_index + int(rng.choice([0, 1, 2, 3]))
    return Melody(tuple(notes), bpm)


# --------------------------------------------------------------------------------------------------
# Syllables


def _is_continuation(token: str) -> bool:
    return (
        token in _LENGTH_MARKS
        or token in _TONE_LETTERS
        or (len(token) == 1 and unicodedata.combining(token) != 0)
    )


def nucleus_spans(tokens: list[str]) -> list[tuple[int, int]]:
    """``(start, end)`` token ranges (end exclusive) of the syllable nuclei, in order.

    A nucleus is a run of vowel letters (diphthongs count once) with the length marks, tone letters
    and combining diacritics that follow; a consonant marked syllabic (``n̩``) is a nucleus too.
    """
    spans: list[tuple[int, int]] = []
    i, count = 0, len(tokens)
    while i < count:
        token = tokens[i]
        starts = token in VOWELS or (i + 1 < count and tokens[i + 1] in _SYLLABIC_MARKS)
        if not starts:
            i += 1
            continue
        end = i + 1
        while end < count and (tokens[end] in VOWELS or _is_continuation(tokens[end])):
            end += 1
        spans.append((i, end))
        i = end
    return spans


def syllable_nuclei(tokens: list[str]) -> list[int]:
    """Index of the first token of each syllable nucleus in ``tokens`` (:func:`tokenize` output)."""
    return [start for start, _ in nucleus_spans(tokens)]


def syllable_attacks(tokens: list[str]) -> list[int]:
    """Index of the token where each syllable's vowel sound starts, one per nucleus.

    That is the nucleus itself, or the stress mark espeak-ng writes right before it: a Piper-style
    voice gives the mark frames of its own, and they sound as the vowel's attack. Beats and notes
    start here (a rapper's or singer's syllable lands on its vowel; measured on real audio, onsets
    fall closer to the grid than with the nucleus token itself).
    """
    attacks = []
    for start, _ in nucleus_spans(tokens):
        while start > 0 and tokens[start - 1] in _STRESS_MARKS:
            start -= 1
        attacks.append(start)
    return attacks


def _syllable_ends(tokens: list[str], attacks: list[int], spans: list[tuple[int, int]]) -> list[int]:
    """End (exclusive) of each syllable: the next attack, or the end marker ``$`` for the last."""
    last_end = len(tokens) - 1 if tokens and tokens[-1] == "$" else len(tokens)
    return attacks[1:] + [max(last_end, spans[-1][1])]


def _distribute(durations: np.ndarray, target: int, floors: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Integer durations summing to ``target``: change each token in proportion to ``weights``.

    Tokens below their floor are first lifted to it. Growth is then shared by weight; shrinking
    takes from the slack above each floor. ``target`` must be at least ``floors.sum()``.
    Cumulative rounding keeps the total exact.
    """
    base = np.maximum(durations.astype(np.int64), floors.astype(np.int64))
    delta = int(target) - int(base.sum())
    if delta == 0 or len(base) == 0:
        return base
    share = weights.astype(np.float64) if delta > 0 else (base - floors).astype(np.float64)
    if share.sum() <= 0:
        share = np.ones(len(base))
    bounds = np.rint(np.cumsum(share) / share.sum() * abs(delta)).astype(np.int64)
    step = np.diff(np.concatenate([[0], bounds]))
    return base + np.sign(delta) * step


def _note_slots(melody: Melody) -> list[tuple[float, float, float]]:
    """(midi, beats, rest_beats_after) per sounding note; a rest joins the note before it."""
    notes = list(melody.notes)
    if not any(not n.is_rest for n in notes):
        raise MusicError("the melody has no note to sing (only rests, or nothing)")
    lead = 0
    while notes[lead].is_rest:  # leading rests close the cycle: they follow the last note
        lead += 1
    notes = notes[lead:] + notes[:lead]
    slots: list[list[float]] = []
    for note in notes:
        if note.is_rest:
            slots[-1][2] += note.beats
        else:
            slots.append([note.midi, note.beats, 0.0])
    return [tuple(slot) for slot in slots]  # type: ignore[misc]


def singing_overrides(
    tokens: list[str], durations_frames: np.ndarray, melody: Melody, frame_rate_hz: float
) -> tuple[np.ndarray, np.ndarray]:
    """Durations and pitches that sing ``tokens`` to ``melody``, one note per syllable.

    Args:
        tokens: T tokens of :func:`steptts.phonemes.tokenize`.
        durations_frames: [T] predicted frames per token.
        melody: cycled when it has fewer notes than there are syllables; extra notes are unused.
        frame_rate_hz: duration frames per second (sample rate / hop).

    Returns:
        ``duration_override`` float32 [T], frames for every token (>= 0), and ``pitch_override``
        float32 [T], the note's MIDI number on each nucleus and on the voiced consonants (and stress
        marks) of its syllable, 0 ("predict") elsewhere. For pitch, the onset consonants right
        before a nucleus (after the last pause, or the last consonant inside a word) belong to the
        syllable they open, so the note changes as the next syllable starts.

    A syllable runs from its attack (:func:`syllable_attacks`: the nucleus, or the stress mark
    right before it) through the nucleus and the consonants after it, up to the next attack (the
    last one stops before ``$``). Its consonants and marks keep their predicted frames and the
    nucleus absorbs the rest of the note (its first vowel holds; off-glides and length marks keep
    theirs), at least 1 frame. Note boundaries sit on the cumulative beat grid from the first
    attack, so a syllable that overruns its note is caught up by the next. A rest adds its time to
    the pauses (spaces, punctuation) of the syllable before it, or holds the nucleus when there are
    none. Tokens before the first attack and the end marker keep their predicted frames.
    """
    durations = np.rint(np.asarray(durations_frames, dtype=np.float64)).astype(np.int64)
    if durations.shape != (len(tokens),):
        raise ValueError(f"durations_frames has shape {durations.shape}, expected ({len(tokens)},)")
    durations = np.maximum(durations, 0)
    pitch = np.zeros(len(tokens), dtype=np.float32)
    spans = nucleus_spans(tokens)
    if not spans:
        return durations.astype(np.float32), pitch
    frames_per_beat = 60.0 / check_bpm(melody.bpm) * frame_rate_hz
    slots = _note_slots(melody)
    attacks = syllable_attacks(tokens)
    ends = _syllable_ends(tokens, attacks, spans)
    out = durations.copy()
    start_frame = int(durations[: attacks[0]].sum())
    cursor = start_frame
    beat = 0.0
    for k, ((n_start, n_end), attack, s_end) in enumerate(zip(spans, attacks, ends)):
        midi, beats, rest_beats = slots[k % len(slots)]
        note_end = start_frame + round((beat + beats) * frames_per_beat)
        rest_end = start_frame + round((beat + beats + rest_beats) * frames_per_beat)
        beat += beats + rest_beats
        coda = range(n_end, s_end)
        pauses = [i for i in coda if tokens[i] in _PAUSES]
        coda_frames = int(durations[n_end:s_end].sum())
        if rest_beats > 0 and pauses:
            rest_frames = max(0, rest_end - max(note_end, cursor + 1 + coda_frames))
            out[pauses] += _distribute(
                np.zeros(len(pauses)), rest_frames, np.zeros(len(pauses)), np.ones(len(pauses))
            )
            syllable_end = note_end
        else:
            syllable_end = rest_end
        lead_frames = int(durations[attack:n_start].sum())
        nucleus_target = max(1, syllable_end - cursor - lead_frames - coda_frames)
        out[n_start:n_end] = _fit_nucleus(durations[n_start:n_end], nucleus_target)
        cursor += int(out[attack:s_end].sum())
        # The note sounds on the nucleus, on the voiced coda before it and on the voiced onset
        # consonants that lead into it (the onset keeps its time before the beat, as a singer's does).
        onset_lo = _onset_start(tokens, spans[k - 1][1] if k else 0, n_start)
        next_onset = _onset_start(tokens, n_end, s_end) if k + 1 < len(spans) else s_end
        for i in [*range(onset_lo, n_start), *range(n_start, n_end), *range(n_end, next_onset)]:
            if n_start <= i < n_end or _is_pitched(tokens[i]):
                pitch[i] = midi
    return out.astype(np.float32), pitch


def _is_pitched(token: str) -> bool:
    return token in _VOICED_CONSONANTS or token in _STRESS_MARKS or _is_continuation(token)


def _onset_start(tokens: list[str], lo: int, hi: int) -> int:
    """First token of the onset of the syllable whose nucleus starts at ``hi``; gap is ``[lo, hi)``.

    After a pause (space, punctuation) everything up to the nucleus is onset; inside a word the
    last consonant is (with the stress mark espeak-ng writes right before the vowel).
    """
    pauses = [i for i in range(lo, hi) if tokens[i] in _PAUSES or tokens[i] in ("^", "$")]
    if pauses:
        return pauses[-1] + 1
    i = hi
    while i > lo and tokens[i - 1] in _STRESS_MARKS:
        i -= 1
    return max(lo, i - 1)


def _fit_nucleus(durations: np.ndarray, target: int) -> np.ndarray:
    """Nucleus frames summing to ``target`` (>= 1).

    A singer holds the first vowel of a diphthong: it takes all the growth, while off-glides and
    length marks keep their frames; shrinking takes from every token, leaving the first at 1 frame.
    """
    hold = np.zeros(len(durations), dtype=np.float64)
    hold[0] = 1.0
    floors = np.zeros(len(durations), dtype=np.int64)
    floors[0] = 1
    return _distribute(durations, target, floors, hold)


def rap_overrides(
    tokens: list[str],
    durations_frames: np.ndarray,
    bpm: float,
    frame_rate_hz: float,
    subdivision: int = RAP_SUBDIVISION,
) -> np.ndarray:
    """Durations that put every syllable's onset (its attack, :func:`syllable_attacks`) on a beat grid.

    Args:
        tokens: T tokens of :func:`steptts.phonemes.tokenize`.
        durations_frames: [T] predicted frames per token.
        bpm: tempo in beats per minute (30–300).
        frame_rate_hz: duration frames per second (sample rate / hop).
        subdivision: grid points per beat (2: eighth notes, 4: sixteenths).

    Returns:
        ``duration_override`` float32 [T], frames for every token (>= 0).

    Grid point ``m`` sits at frame ``round(m × 60 / bpm / subdivision × frame_rate_hz)`` from the
    start of the audio. Each onset goes to the grid point nearest its natural time that comes after
    the previous onset and leaves every token before it at least 1 frame; the tokens between the
    previous onset and this one (the previous syllable's vowel and consonants, or the lead-in
    before the first) stretch or compress in proportion to their predicted frames. Tokens after
    the last onset keep their predicted frames.
    """
    durations = np.rint(np.asarray(durations_frames, dtype=np.float64)).astype(np.int64)
    if durations.shape != (len(tokens),):
        raise ValueError(f"durations_frames has shape {durations.shape}, expected ({len(tokens)},)")
    durations = np.maximum(durations, 0)
    bpm = check_bpm(bpm)
    if int(subdivision) < 1:
        raise MusicError(
            f"subdivision must be a positive whole number of grid points per beat, got {subdivision}"
        )
    step = 60.0 / bpm / int(subdivision) * frame_rate_hz
    out = durations.copy()
    previous_onset, previous_start, previous_point = 0, 0, -1
    for start in syllable_attacks(tokens):
        if start == 0:  # no lead-in: the first onset is grid point 0
            previous_point = 0
            continue
        segment = slice(previous_start, start)
        natural = previous_onset + int(durations[segment].sum())
        floors = np.minimum(durations[segment], 1)
        earliest = previous_onset + max(int(floors.sum()), 1)
        point = max(int(np.floor(natural / step + 0.5)), previous_point + 1)
        while round(point * step) < earliest:
            point += 1
        onset = round(point * step)
        out[segment] = _distribute(durations[segment], onset - previous_onset, floors, durations[segment])
        previous_onset, previous_start, previous_point = onset, start, point
    return out.astype(np.float32)
