"""Cutting a sentence into language runs by script, and the policy for characters no language can say.

Script decides: Han → Mandarin (or the Han language a tag or ``<lang>`` names: Cantonese, Japanese),
Latin → English, kana → Japanese, Hangul → Korean. Digits, punctuation, spaces and signs have no
language of their own: they join the run they are written against (``在2024年`` → the Mandarin run,
``iPhone 15`` → the English run), or the run before them when both or neither are. A number with a
Latin unit written against it (``120km/h``, ``5 kg``) stays one piece, so Mandarin text reads it in
Mandarin. Text with no letters at all is in the default language.

Unspeakable characters, the one policy: a character no language module can say (emoji and other
pictographs, stray symbols such as ``※`` or ``♪``, letters of a script without a language such as
Cyrillic or Arabic) is dropped, with one log warning naming it, and the rest of the sentence is
spoken. Joiners and variation selectors inside an emoji go with it silently. A sentence left with
nothing to say is skipped; a text left with nothing at all raises
:class:`~steptts.errors.TextError` ("nothing to say").
"""

from __future__ import annotations

import logging
import re
import unicodedata
from dataclasses import dataclass

log = logging.getLogger(__name__)

NEUTRAL = ""
"""The script class of digits, punctuation, spaces and signs."""
UNSPEAKABLE = "?"
"""The script class of characters no language can say."""
SPOKEN_SYMBOLS = frozenset("℃℉°%‰&@#§№+=×÷<>~^|/\\$¥€£")
"""Symbols outside letters, digits and punctuation that a normalizer reads (units, signs, currencies)."""
_UNIT_AFTER_NUMBER = re.compile(
    r"(?<=\d)\s?(?:km/h|m/s|kWh|km²|m²|m³|km|kg|cm|mm|ml|mL|mg|GB|MB|KB|kW|mph|min|°C|°F|m|g|L|t|h|s)(?![A-Za-z])")


@dataclass(frozen=True)
class Run:
    """A stretch of one sentence in one language."""

    language: str
    """Language code (``en``, ``zh``…; see :data:`steptts.languages.base.LANGUAGES`)."""
    text: str
    """The run's text as written, stripped."""
    space_before: bool = False
    """Whether whitespace separated it from the run before (so normalized runs rejoin as written)."""
    phonemes: str | None = None
    """Phonemes given for it (SSML ``<phoneme>``): said as they are, no normalization or G2P."""
    variant: str | None = None
    """espeak-ng voice of an English run's accent (SSML ``<lang xml:lang="en-GB">``); None: the request's."""


def script_of(char: str, han: str = "zh") -> str:
    """Language code a character's script implies, :data:`NEUTRAL` or :data:`UNSPEAKABLE`."""
    code = ord(char)
    if 0x3400 <= code <= 0x4DBF or 0x4E00 <= code <= 0x9FFF or 0xF900 <= code <= 0xFAFF or 0x20000 <= code <= 0x2FA1F:
        return han
    if 0x3040 <= code <= 0x30FF or 0x31F0 <= code <= 0x31FF or 0xFF66 <= code <= 0xFF9D:
        return "ja"
    if 0xAC00 <= code <= 0xD7AF or 0x1100 <= code <= 0x11FF or 0x3130 <= code <= 0x318F:
        return "ko"
    category = unicodedata.category(char)
    if category[0] == "L":
        if "LATIN" in unicodedata.name(char, ""):
            return "en"
        return UNSPEAKABLE if code > 0x24F else "en"
    if category[0] == "M":
        return NEUTRAL  # a combining mark takes the run of its letter
    if category[0] in "NPZ" or category == "Sc" or char in SPOKEN_SYMBOLS or char in "\n\t":
        return NEUTRAL
    return UNSPEAKABLE


def _classes(text: str, han: str) -> list[str]:
    classes = [script_of(char, han) for char in text]
    for match in _UNIT_AFTER_NUMBER.finditer(text):
        classes[match.start():match.end()] = [NEUTRAL] * (match.end() - match.start())
    return classes


def drop_unspeakable(text: str, han: str = "zh") -> str:
    """``text`` without the characters no language can say (each dropped, with one warning)."""
    kept, dropped = [], []
    for char, script in zip(text, _classes(text, han)):
        if script != UNSPEAKABLE:
            kept.append(char)
        elif unicodedata.category(char) == "Cf" or "\ufe00" <= char <= "\ufe0f" or char in "\u200d\u20e3":
            continue
        else:
            dropped.append(char)
            kept.append(" ")
    if dropped:
        log.warning("no language can say %s: dropped", " ".join(dict.fromkeys(dropped)))
    return "".join(kept)


def _pieces(text: str, han: str) -> list[tuple[str, str]]:
    """(script class, text) for each maximal stretch of one class."""
    pieces: list[tuple[str, str]] = []
    for char, script in zip(text, _classes(text, han)):
        if pieces and pieces[-1][0] == script:
            pieces[-1] = (script, pieces[-1][1] + char)
        else:
            pieces.append((script, char))
    return pieces


def _attach(pieces: list[tuple[str, str]], default: str) -> list[tuple[str, str]]:
    """Neutral pieces given to the run they are written against."""
    out: list[tuple[str, str]] = []
    for index, (script, text) in enumerate(pieces):
        if script != NEUTRAL:
            out.append((script, text))
            continue
        before = out[-1][0] if out else None
        after = pieces[index + 1][0] if index + 1 < len(pieces) else None
        glued_after = after is not None and not text[-1].isspace()
        glued_before = before is not None and not text[0].isspace()
        if after is not None and (before is None or (glued_after and not glued_before)):
            pieces[index + 1] = (after, text + pieces[index + 1][1])
        elif before is not None:
            out[-1] = (before, out[-1][1] + text)
        else:
            out.append((default, text))
    return out


def split_runs(sentence: str, default: str = "en", han: str = "zh") -> list[Run]:
    """The language runs of one sentence, unspeakable characters already dropped.

    Args:
        sentence: one sentence, tags removed.
        default: language of text without letters (a language tag's, else the voice's).
        han: language of Han characters (``zh``; ``yue`` or ``ja`` under their tag or ``<lang>``).
    """
    text = " ".join(drop_unspeakable(sentence, han).split())
    merged: list[tuple[str, str]] = []
    for script, piece in _attach(_pieces(text, han), default):
        if merged and merged[-1][0] == script:
            merged[-1] = (script, merged[-1][1] + piece)
        else:
            merged.append((script, piece))
    runs: list[Run] = []
    for index, (script, piece) in enumerate(merged):
        spaced = index > 0 and (piece[0].isspace() or merged[index - 1][1][-1].isspace())
        if piece.strip():
            runs.append(Run(script, piece.strip(), spaced))
    return runs
