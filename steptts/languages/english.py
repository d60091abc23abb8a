"""The English frontend: today's English normalizer, sentence splitter and espeak-ng G2P behind the
language interface (:mod:`steptts.languages.base`).

Phonemes are espeak-ng IPA (``docs/CONTRACTS.md``); ``variant`` is the espeak-ng voice of an accent
(``en-us``, ``en-gb``, ``en-gb-scotland``…).
"""

from __future__ import annotations

import logging

from .. import g2p
from ..phonemes import PUNCTUATION
from ..sentences import split_sentences
from ..textnorm import normalize_text

log = logging.getLogger(__name__)

CJK_PUNCTUATION = str.maketrans({"，": ", ", "。": ". ", "！": "! ", "？": "? ", "：": ": ", "；": "; ", "、": ", ",
                                 "（": " (", "）": ") ", "“": '"', "”": '"', "‘": "'", "’": "'"})
"""Full-width punctuation that ends an English run inside Chinese text, as English writes it."""


def normalize(text: str) -> str:
    """Written English → words (numbers, money, dates, abbreviations…), punctuation kept.

    A mark left that English does not say (``※``, ``†``) is dropped with a warning: the policy of
    :mod:`steptts.languages.runs`.
    """
    said = normalize_text(" ".join(text.translate(CJK_PUNCTUATION).split()))
    dropped = [c for c in said if not (c.isalnum() or c.isspace() or c in PUNCTUATION or c in "—…")]
    if not dropped:
        return said
    log.warning("English cannot say %s: dropped", " ".join(dict.fromkeys(dropped)))
    return " ".join("".join(" " if c in dropped else c for c in said).split())


def split(text: str) -> list[str]:
    """Sentences of English text (abbreviations, initials and decimals kept whole)."""
    return split_sentences(text)


def phonemize(text: str, variant: str | None = None) -> str:
    """espeak-ng IPA of normalized English, in the accent ``variant`` (default ``en-us``)."""
    return g2p.phonemize(text, variant or "en-us")
