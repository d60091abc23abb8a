"""粤语 (Cantonese): Han text → Jyutping (``ToJyutping``) → IPA with six tones, in Kokoro-82M's symbols.

An experiment of the Cantonese tag (issue 14): whether Kokoro-82M, trained on Mandarin and not on
Cantonese, can say Cantonese from these phonemes, helped by the tone edit's six contours
(:data:`distill.tone_edit.TONE_TARGETS`). ``bench/bench_dialect_tones.py --dialect 四川话 粤语 --cer``
measures it. On 12 HSK lines (jm_kumo), Whisper base (language zh: base has no Cantonese token) heard
the Cantonese renderings with CER 0.800, 0.647 after the tone edit, against 0.247 for the Mandarin
renderings of the same lines: far beyond the bar (Mandarin + 0.15), although after the tone edit the
six tones' mean levels fall in the targets' order. So it is not measurably Cantonese, no voice is
trained on ``粤语`` and the runtime keeps refusing ``(粤语)`` (a voice without the tag says so in one
line); this module serves the measurement only.

- readings: ToJyutping (a maintained Cantonese G2P, BSD-2-Clause) gives each character's Jyutping
  (its tone number) and IPA in context;
- symbols: its IPA made Kokoro's: affricates as one symbol (``t͡s`` → ``ʦ``), ``ɵ`` (not in Kokoro's
  vocabulary) → ``ø``, labialized ``kʷ`` → ``kw``; diacritics (non-syllabic, unreleased, syllabic)
  dropped, length ``ː`` kept;
- tones: Kokoro has four arrows for Mandarin's contours; the six tones take the arrow of their shape
  (:data:`TONE_ARROWS`): level 1 (55), 3 (33), 6 (22) ``→``; rising 2 (25), 5 (23) ``↗``; falling 4
  (21) ``↓``. The arrow goes after the syllable's vowels, before a consonant coda, as misaki writes it.
  The heights are left to the tone edit.
"""

from __future__ import annotations

import functools
import re
import unicodedata

from . import mandarin
from .mandarin import load, normalize, split

__all__ = ["TONE_ARROWS", "load", "normalize", "phonemize", "split", "syllables"]

TONE_ARROWS = {"1": "→", "2": "↗", "3": "→", "4": "↓", "5": "↗", "6": "→"}
"""Jyutping tone → Kokoro's arrow of the same shape (module docstring)."""
KOKORO_SYMBOLS = {"t͡sʰ": "ʦʰ", "t͡s": "ʦ", "ɵ": "ø", "ʷ": "w"}
"""ToJyutping's IPA → Kokoro's symbols where they differ."""
_TONE_LETTERS = re.compile("[˥˦˧˨˩]+")
_CODA = re.compile("[mnŋptk]$")


@functools.lru_cache(maxsize=1)
def _tojyutping():
    import ToJyutping

    return ToJyutping


def syllable_ipa(ipa: str, tone: str) -> str:
    """Kokoro symbols of one syllable from ToJyutping's IPA and its Jyutping tone: ``hœːŋ˥``, 1 → ``hœː→ŋ``."""
    for source, target in KOKORO_SYMBOLS.items():
        ipa = ipa.replace(source, target)
    ipa = _TONE_LETTERS.sub("", ipa)
    ipa = "".join(char for char in unicodedata.normalize("NFD", ipa) if not unicodedata.combining(char))
    coda = _CODA.search(ipa[1:])  # a lone nasal (唔 m, 五 ng) is the syllable's nucleus, not a coda
    arrow = TONE_ARROWS[tone]
    return ipa[: coda.start() + 1] + arrow + ipa[coda.start() + 1 :] if coda else ipa + arrow


def syllables(run: str) -> list[list[tuple[str, str]]]:
    """Per word (jieba's cut, as for Mandarin) of a run of Han characters: (tone, IPA) of its syllables.
    A character with no Cantonese reading is dropped."""
    tools = _tojyutping()
    readings = list(zip(tools.get_jyutping_list(run), tools.get_ipa_list(run)))
    words = [word.text for word in mandarin.words(run, sandhi=False)]
    if sum(map(len, words)) != len(run):
        words = list(run)
    out, start = [], 0
    for word in words:
        said = []
        for (_, jyutping), (_, ipa) in readings[start:start + len(word)]:
            if jyutping and ipa:
                tone = jyutping[-1]
                said.append((tone, syllable_ipa(ipa, tone)))
        start += len(word)
        if said:
            out.append(said)
    return out


def _word_phonemes(run: str) -> list[str]:
    return ["".join(ipa for _, ipa in word) for word in syllables(run)]


def phonemize(text: str, variant: str | None = None) -> str:
    """Phonemes of normalized Han text said in Cantonese: ``香港`` → ``hœː→ŋ kɔː↗ŋ``."""
    return mandarin.han_phonemize(text, _word_phonemes)
