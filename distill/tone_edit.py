"""The tone edit: each Mandarin syllable's F0 pulled toward its lexical tone's contour, in the speaker's range.

Kokoro's Mandarin, read with Japanese voices, bends the tones (晚 heard as 玩, 九点 as 酒店). The data
engine knows every syllable's tone (the runtime's G2P, after tone sandhi) and, from a white-box
teacher, its frames. So, through WORLD as the other audio edits (:mod:`distill.edits`):

1. syllables: :func:`steptts.languages.mandarin.words` gives each word's ``TONE3`` syllables and
   :func:`~steptts.languages.mandarin.syllable_ipa` their symbols, found in order in the phonemes;
   the durations give each syllable's frames;
2. the speaker's range: the 5th and 95th percentiles of the utterance's voiced F0 are Chao levels 1
   and 5 (log-frequency in between);
3. targets on the syllable's voiced frames, Chao's values: tone 1 ``55``, tone 2 ``35``, tone 3
   ``214`` before a pause and ``211`` elsewhere (the half third), tone 4 ``51``; the neutral tone
   keeps its pitch. A dialect has its own syllables and targets (:data:`TONE_TARGETS`): 四川话's
   rules (:mod:`steptts.languages.sichuanese`) aim at 55, 21, 53 and 213;
4. log-F0 moves ``strength`` of the way to the target; the change is smoothed over 5 frames (no
   steps at syllable joins); spectral envelope, aperiodicity and durations stay as they are.
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass

import numpy as np

from steptts.languages import mandarin
from steptts.phonemes import tokenize

from .edits import HOP, EditError, EditResult, _analyze, _finish

MANDARIN = "中文"
"""Tag key of standard Mandarin, the dialect of untagged Han text."""
TONE_TARGETS: dict[str, dict[str, tuple[float, ...]]] = {
    MANDARIN: {"1": (5, 5), "2": (3, 5), "3": (2, 1, 1), "4": (5, 1)},
    "四川话": {"1": (5, 5), "2": (2, 1), "3": (5, 3), "4": (2, 1, 3)},
    "粤语": {"1": (5, 5), "2": (2, 5), "3": (3, 3), "4": (2, 1), "5": (2, 3), "6": (2, 2)},
}
"""The one table of tone targets: dialect tag key → tone category → Chao tone letters (1 low … 5
high), spread evenly over a syllable's voiced frames. Sichuanese: Chengdu's 55, 21, 53, 213
(:mod:`steptts.languages.sichuanese`); Cantonese: the six tones of Hong Kong Cantonese, 55, 25, 33,
21, 23, 22 (:mod:`steptts.languages.cantonese`, an experiment)."""
FRONTENDS = {"四川话": "steptts.languages.sichuanese", "粤语": "steptts.languages.cantonese"}
"""Dialect tag key → the frontend whose ``syllables(run)`` gives its (tone, IPA) per word."""
BEFORE_PAUSE_TARGETS: dict[str, dict[str, tuple[float, ...]]] = {MANDARIN: {"3": (2, 1, 4)}}
"""Targets that replace :data:`TONE_TARGETS`' before a pause (punctuation or the end): Mandarin's
third tone takes its full dipping contour there."""
TONE_CONTOURS = TONE_TARGETS[MANDARIN]
"""Mandarin's targets (the edit's first table, kept under its name for the benches)."""
FINAL_THIRD_TONE = BEFORE_PAUSE_TARGETS[MANDARIN]["3"]
"""Mandarin's tone 3 before a pause: the full dipping contour."""
RANGE_PERCENTILES = (5.0, 95.0)
"""Voiced F0 percentiles of the utterance taken as Chao levels 1 and 5."""
SMOOTH_FRAMES = 5
"""Width of the moving average applied to the F0 change (frames of 256 samples)."""
VERSION = 1
"""Version of this edit, recorded with it (a change re-renders what it made)."""


@dataclass(frozen=True)
class Syllable:
    """One syllable of an utterance."""

    tone: str
    """``1``–``4``, ``5`` for the neutral tone."""
    start_frame: int
    """First frame (hop 256) of its tokens."""
    end_frame: int
    """One past its last frame."""
    before_pause: bool
    """True when punctuation or the end of the utterance follows it."""


def readings(run: str, dialect: str = MANDARIN) -> list[tuple[str, str]]:
    """(tone category, IPA) of each syllable of a run of Han characters, as ``dialect`` says it."""
    if dialect == MANDARIN:
        return [(pinyin[-1], mandarin.syllable_ipa(pinyin))
                for word in mandarin.words(run) for pinyin in word.pinyin]
    if dialect in FRONTENDS:
        frontend = importlib.import_module(FRONTENDS[dialect])
        return [syllable for word in frontend.syllables(run) for syllable in word]
    raise EditError(f"no tone targets for '{dialect}'; known: {', '.join(TONE_TARGETS)}")


def syllables(text: str, phonemes: str, durations: list[int], dialect: str = MANDARIN) -> list[Syllable]:
    """The syllables of Mandarin ``text`` located in its ``phonemes`` and their frames.

    Args:
        text: normalized Mandarin text (what :func:`steptts.languages.mandarin.phonemize` read, or the
            dialect's frontend).
        phonemes: its phonemes.
        durations: frames (hop 256) per token of ``tokenize(phonemes)``.
        dialect: tag key of the rules the phonemes follow (``中文``, ``四川话``).
    """
    if len(durations) != len(tokenize(phonemes)):
        raise EditError(f"{len(durations)} durations for {len(tokenize(phonemes))} tokens")
    edges = np.concatenate([[0], np.cumsum(durations)])  # token k spans edges[k]:edges[k+1]
    found: list[tuple[str, int, int]] = []
    position = 0
    for run in re.findall(f"[{mandarin.HAN}]+", text):
        for index, (tone, ipa) in enumerate(readings(run, dialect)):
            start = phonemes.find(ipa, position)
            # within a run only punctuation may come between syllables; between runs, an English word may
            if start < 0 or (index and set(phonemes[position:start]) - mandarin.PUNCTUATION):
                raise EditError(f"syllable {ipa} (tone {tone}) not found in order in {phonemes!r}")
            found.append((tone, start, start + len(ipa)))
            position = start + len(ipa)
    out = []
    for tone, start, end in found:
        following = phonemes[end : end + 2].strip()
        pause = not following or following[0] in ",.!?;:—…"
        out.append(Syllable(tone, int(edges[start + 1]), int(edges[end + 1]), pause))
    return out


def target_letters(tone: str, before_pause: bool, dialect: str = MANDARIN) -> tuple[float, ...] | None:
    """Chao tone letters a syllable of ``tone`` aims at in ``dialect``; None for the neutral tone."""
    if before_pause and tone in BEFORE_PAUSE_TARGETS.get(dialect, {}):
        return BEFORE_PAUSE_TARGETS[dialect][tone]
    return TONE_TARGETS[dialect].get(tone)


def target_log_f0(syllable: Syllable, n_voiced: int, low_hz: float, high_hz: float,
                  dialect: str = MANDARIN) -> np.ndarray | None:
    """Target log-F0 [n_voiced] of a syllable's voiced frames; None for the neutral tone."""
    letters = target_letters(syllable.tone, syllable.before_pause, dialect)
    if letters is None or n_voiced == 0:
        return None
    points = np.linspace(0.0, 1.0, len(letters))
    where = np.linspace(0.0, 1.0, n_voiced) if n_voiced > 1 else np.array([0.5])
    levels = np.interp(where, points, np.asarray(letters, dtype=np.float64))
    low, high = np.log(low_hz), np.log(high_hz)
    return low + (levels - 1.0) / 4.0 * (high - low)


def retune(f0: np.ndarray, sylls: list[Syllable], strength: float,
           dialect: str = MANDARIN) -> tuple[np.ndarray, tuple[float, float]]:
    """F0 [F] in Hz (0 unvoiced) with each syllable pulled toward its tone; and the range used (Hz)."""
    voiced = f0 > 0
    if voiced.sum() < 5:
        return f0.copy(), (0.0, 0.0)
    low_hz, high_hz = np.percentile(f0[voiced], RANGE_PERCENTILES)
    log_f0 = np.log(np.where(voiced, f0, 1.0))
    change = np.zeros_like(log_f0)
    for syllable in sylls:
        frames = np.arange(syllable.start_frame, min(syllable.end_frame, len(f0)))
        frames = frames[voiced[frames]]
        target = target_log_f0(syllable, len(frames), low_hz, high_hz, dialect)
        if target is not None:
            change[frames] = strength * (target - log_f0[frames])
    kernel = np.ones(SMOOTH_FRAMES) / SMOOTH_FRAMES
    weight = np.convolve((change != 0).astype(np.float64), kernel, mode="same")
    smoothed = np.convolve(change, kernel, mode="same") / np.maximum(weight, 1e-9)
    out = np.where(voiced, np.exp(log_f0 + np.where(weight > 0, smoothed, 0.0)), 0.0)
    return out, (float(low_hz), float(high_hz))


def apply_tone_edit(
    audio: np.ndarray,
    sample_rate_hz: int,
    durations: list[int],
    phonemes: str,
    text: str,
    strength: float = 0.7,
    dialect: str = MANDARIN,
) -> EditResult:
    """Mandarin speech float32 [S] with its syllables' F0 pulled toward their tones (same length).

    ``durations`` are frames (hop 256) per token of ``tokenize(phonemes)`` summing to ``S / 256``;
    ``strength`` in [0, 1] is how far log-F0 moves toward the target (1: onto it); ``dialect`` is the
    tag key whose rules made ``phonemes`` and whose tone targets apply (:data:`TONE_TARGETS`).
    """
    if not 0.0 <= strength <= 1.0:
        raise EditError(f"tone edit strength must be in [0, 1], got {strength}")
    audio = np.asarray(audio, dtype=np.float32).reshape(-1)
    if abs(sum(durations) * HOP - audio.size) > HOP:
        raise EditError(f"durations sum to {sum(durations)} frames, the audio has {audio.size / HOP:.1f}")
    if dialect not in TONE_TARGETS:
        raise EditError(f"no tone targets for '{dialect}'; known: {', '.join(TONE_TARGETS)}")
    sylls = syllables(text, phonemes, durations, dialect)
    world = _analyze(audio, sample_rate_hz)
    world.f0, (low_hz, high_hz) = retune(world.f0, sylls, strength, dialect)
    op = {
        "op": "tone",
        "strength": strength,
        **({"dialect": dialect} if dialect != MANDARIN else {}),
        "range_hz": [round(low_hz, 1), round(high_hz, 1)],
        "version": VERSION,
    }
    return _finish(audio, world.measured_voiced, world, np.asarray(durations), audio.size, 0.0, [op])
