"""The phoneme vocabulary: IPA strings to the integer ids a voice graph takes.

A phoneme string (from :func:`steptts.g2p.phonemize`) becomes the token sequence
``["^", *symbols, "$"]``: one token per code point, with begin and end markers. Durations in a
dataset and the graph's ``durations`` output are per token of this sequence, so the data engine,
the trainer and the runtime all tokenize with :func:`tokenize`.
"""

from __future__ import annotations

import functools
import logging
import re
from dataclasses import dataclass

PAD, BOS, EOS = "_", "^", "$"
SPECIALS = (PAD, BOS, EOS)
PUNCTUATION = " !\"'(),-.:;?"
"""Symbols espeak-ng keeps from the text; every vocabulary has them, seen in training or not."""
VOWELS = frozenset("aeiouyɑɐɒæɔəɘɚɛɜɝɞɤɨɪɯɵøœɶʉʊʌʏᵻ")
"""IPA vowel letters: the nucleus of a syllable, used by singing and rap to place notes and beats."""

log = logging.getLogger(__name__)


def substitute(phonemes: str, table: dict[str, str]) -> str:
    """``phonemes`` with the strings of ``table`` replaced, the longest key first at each position.

    Keys and values have the same number of code points, so token counts stay. A key mapped to
    itself (``"aɪ": "aɪ"``) keeps a context that a shorter key (``"a"``) would otherwise change.
    """
    if not table:
        return phonemes
    return _pattern(tuple(table)).sub(lambda match: table[match.group()], phonemes)


@functools.lru_cache(maxsize=32)
def _pattern(keys: tuple[str, ...]) -> re.Pattern:
    return re.compile("|".join(re.escape(key) for key in sorted(keys, key=len, reverse=True)))


def tokenize(phonemes: str) -> list[str]:
    """Token sequence of a phoneme string: ``["^", *code points, "$"]``."""
    return [BOS, *phonemes, EOS]


@dataclass(frozen=True)
class PhonemeVocab:
    """Symbol → id map of one voice. Id 0 is the pad symbol."""

    symbol_to_id: dict[str, int]
    """Phoneme symbol (one code point) → graph token id; 0 is the pad."""

    def encode(self, phonemes: str) -> tuple[list[int], list[str]]:
        """Ids of the tokens of ``phonemes`` and the tokens kept.

        A symbol the voice never saw in training is dropped (with one log warning per symbol): it is
        almost always a rare diacritic, and dropping it keeps the rest of the sentence speakable.
        """
        ids: list[int] = []
        kept: list[str] = []
        for token in tokenize(phonemes):
            token_id = self.symbol_to_id.get(token)
            if token_id is None:
                log.warning("phoneme %r is not in the voice's vocabulary; dropped", token)
                continue
            ids.append(token_id)
            kept.append(token)
        return ids, kept

    def to_json(self) -> dict[str, int]:
        return dict(self.symbol_to_id)

    @classmethod
    def build(cls, symbols: list[str] | set[str]) -> PhonemeVocab:
        """A vocabulary holding the specials then ``symbols`` and the punctuation, sorted."""
        ordered = list(SPECIALS) + sorted((set(symbols) | set(PUNCTUATION)) - set(SPECIALS))
        return cls({symbol: index for index, symbol in enumerate(ordered)})
