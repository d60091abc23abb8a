"""The English frontend: today's English normalizer, sentence splitter and espeak-ng G2P behind the
language interface (:mod:`steptts.languages.base`).

Phonemes are espeak-ng IPA (``docs/CONTRACTS.md``); ``variant`` is the espeak-ng voice of an accent
(``en-us``, ``en-gb``, ``en-gb-scotland``…).
"""

from __future__ import annotations

from .. import g2p
from ..sentences import split_sentences
from ..textnorm import normalize_text

CJK_PUNCTUATION = str.maketrans({"，": ", ", "。": ". ", "！": "! ", "？": "? ", "：": ": ", "；": "; ", "、": ", ",
                                 "（": " (", "）": ") ", "“": '"', "”": '"', "‘": "'", "’": "'"})
"""Full-width punctuation that ends an English run inside Chinese text, as English writes it."""


def normalize(text: str) -> str:
    """Written English → words (numbers, money, dates, abbreviations…), punctuation kept."""
    return normalize_text(" ".join(text.translate(CJK_PUNCTUATION).split()))


def split(text: str) -> list[str]:
    """Sentences of English text (abbreviations, initials and decimals kept whole)."""
    return split_sentences(text)


def phonemize(text: str, variant: str | None = None) -> str:
    """espeak-ng IPA of normalized English, in the accent ``variant`` (default ``en-us``)."""
    return g2p.phonemize(text, variant or "en-us")
