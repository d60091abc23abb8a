"""Scoring a transcript against its text: English WER and Mandarin CER, each after the
normalization that makes a written reference and an ASR's spelling comparable.

- English: Whisper's own ``EnglishTextNormalizer`` (package ``whisper-normalizer``) on both sides, so
  "20" and "twenty", "Mr." and "mister", "colour" and "color" count as the same words; then word
  error rate with jiwer.
- Mandarin: both sides converted to Simplified characters (OpenCC ``t2s``: Whisper often writes
  Traditional), Arabic numerals read back as characters (cn2an: 2024年 → 二零二四年, 50% → 百分之五十),
  then only the Han characters kept (punctuation, Latin words and spaces dropped); then character
  error rate with jiwer.

The language of a text line is read from its script (:func:`script_language`): a line with any Han
character is Mandarin, any other line English.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Literal

import regex

from steptts.errors import StepTTSError
from steptts.languages.mandarin import has_han

Language = Literal["en", "zh"]
"""A judged language, as Whisper's language code."""
LANGUAGES: tuple[Language, ...] = ("en", "zh")
"""The languages these scores cover."""
METRIC: dict[str, str] = {"en": "wer", "zh": "cer"}
"""The error rate that judges each language: words for English, Han characters for Mandarin."""

_HAN = regex.compile(r"\p{Script=Han}")
_EXTRA = 'pip install -e ".[eval]"'


def script_language(text: str) -> Language:
    """The language of ``text`` by script: "zh" when it holds any Han character, else "en"."""
    return "zh" if has_han(text) else "en"


@functools.lru_cache(maxsize=1)
def _english_normalizer():
    try:
        from whisper_normalizer.english import EnglishTextNormalizer
    except ImportError:
        raise StepTTSError(f"English WER needs whisper-normalizer: {_EXTRA}") from None
    return EnglishTextNormalizer()


@functools.lru_cache(maxsize=1)
def _to_simplified():
    try:
        import opencc
    except ImportError:
        raise StepTTSError(f"Mandarin CER needs opencc: {_EXTRA}") from None
    return opencc.OpenCC("t2s").convert


@functools.lru_cache(maxsize=1)
def _numerals_to_characters():
    try:
        import cn2an
    except ImportError:
        raise StepTTSError(f"Mandarin CER needs cn2an: {_EXTRA}") from None
    return functools.partial(cn2an.transform, method="an2cn")


def english_words(text: str) -> str:
    """``text`` through Whisper's English normalizer: lowercase words separated by single spaces,
    punctuation removed, numbers as digits, British spellings American."""
    return " ".join(_english_normalizer()(text).split())


def mandarin_characters(text: str) -> str:
    """The Han characters of ``text`` in Simplified script, digits read as characters, nothing else.

    "會議在2024年5月3日，9:30開始！" → "会议在二零二四年五月三日九三十开始".
    """
    simplified = _to_simplified()(text)
    # Whisper writes years with 〇 as often as with 零, and cn2an writes 零.
    spoken = _numerals_to_characters()(simplified).replace("〇", "零")
    return "".join(_HAN.findall(spoken))


def normalize_for_scoring(text: str, language: Language) -> str:
    """The form of ``text`` that is compared in ``language``'s error rate (see the module's doc)."""
    if language == "en":
        return english_words(text)
    if language == "zh":
        return mandarin_characters(text)
    raise StepTTSError(f"no ASR score for language {language!r}; known: {', '.join(LANGUAGES)}")


def _jiwer():
    try:
        import jiwer
    except ImportError:
        raise StepTTSError(f"error rates need jiwer: {_EXTRA}") from None
    return jiwer


def english_wer(references: Sequence[str], hypotheses: Sequence[str]) -> float:
    """Corpus word error rate (errors / reference words) after :func:`english_words` on both sides.

    Lines whose reference normalizes to nothing are skipped; NaN when none is left.
    """
    pairs = [(english_words(r), english_words(h)) for r, h in zip(references, hypotheses, strict=True)]
    pairs = [(r, h) for r, h in pairs if r]
    if not pairs:
        return float("nan")
    return float(_jiwer().wer([r for r, _ in pairs], [h for _, h in pairs]))


def mandarin_cer(references: Sequence[str], hypotheses: Sequence[str]) -> float:
    """Corpus character error rate (errors / reference Han characters) after
    :func:`mandarin_characters` on both sides.

    Lines whose reference holds no Han character are skipped; NaN when none is left.
    """
    pairs = [
        (mandarin_characters(r), mandarin_characters(h)) for r, h in zip(references, hypotheses, strict=True)
    ]
    pairs = [(r, h) for r, h in pairs if r]
    if not pairs:
        return float("nan")
    return float(_jiwer().cer([r for r, _ in pairs], [h for _, h in pairs]))


def error_rate(language: Language, references: Sequence[str], hypotheses: Sequence[str]) -> float:
    """``language``'s error rate (:data:`METRIC`): English WER or Mandarin CER."""
    if language == "en":
        return english_wer(references, hypotheses)
    if language == "zh":
        return mandarin_cer(references, hypotheses)
    raise StepTTSError(f"no ASR score for language {language!r}; known: {', '.join(LANGUAGES)}")
