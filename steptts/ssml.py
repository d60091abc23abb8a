"""SSML, the subset users ask for: text that starts with ``<speak`` → pieces of speech and silence.

Supported elements (any namespace):

- ``<speak xml:lang>``, ``<p>``, ``<s>``: the document, paragraphs and sentences (a sentence ends);
- ``<break time="500ms"|"1.5s" strength="none|x-weak|weak|medium|strong|x-strong">``: exact silence;
- ``<prosody rate pitch volume>``: through the graph's controls (``rate`` multiplies the tempo:
  ``x-slow``…``x-fast``, ``80%``, ``1.2``; ``pitch`` adds semitones: ``+2st``, ``-10%``, ``x-low``…
  ``x-high``; ``volume`` adds dB: ``+6dB``, ``x-soft``…``x-loud``);
- ``<say-as interpret-as="characters|digits|cardinal|ordinal|date|time|telephone" format>``;
- ``<sub alias>``: the alias is said;
- ``<phoneme alphabet="ipa"|"pinyin" ph>``: the phonemes are said as given (pinyin with tone numbers
  into the Mandarin inventory);
- ``<lang xml:lang>``: the language of its text without letters and of its Han characters, and the
  accent of its English (``en-GB``);
- ``<emphasis level="strong|moderate|reduced|none">``: through the energy and tempo controls.

Invalid SSML raises one :class:`TextError` line with the line and column; an element outside this
list raises one naming it. Neither is ever read aloud.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from xml.etree import ElementTree

from .errors import TextError
from .languages.base import language

XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
BREAK_STRENGTH_S = {"none": 0.0, "x-weak": 0.1, "weak": 0.25, "medium": 0.5, "strong": 1.0, "x-strong": 2.0}
"""Silence of a ``<break strength>`` in seconds (``medium`` when neither time nor strength is given)."""
RATE_WORDS = {"x-slow": 0.6, "slow": 0.8, "medium": 1.0, "default": 1.0, "fast": 1.25, "x-fast": 1.6}
"""Tempo multiplier of ``<prosody rate>`` words."""
PITCH_WORDS = {"x-low": -6.0, "low": -3.0, "medium": 0.0, "default": 0.0, "high": 3.0, "x-high": 6.0}
"""Semitones of ``<prosody pitch>`` words."""
VOLUME_WORDS = {"silent": -20.0, "x-soft": -12.0, "soft": -6.0, "medium": 0.0, "default": 0.0, "loud": 6.0,
                "x-loud": 12.0}
"""dB of ``<prosody volume>`` words (``silent`` is the energy control's floor)."""
EMPHASIS = {"strong": (6.0, 0.9), "moderate": (3.0, 0.95), "reduced": (-4.0, 1.05), "none": (0.0, 1.0)}
"""``<emphasis level>`` → (dB added to the energy, tempo multiplier)."""
SUPPORTED = ("speak", "p", "s", "break", "prosody", "say-as", "sub", "phoneme", "lang", "emphasis")
ENGLISH_ACCENTS = {"en-us": "en-us", "en-gb": "en-gb", "en-029": "en-029", "en-gb-scotland": "en-gb-scotland"}
"""``xml:lang`` of English (lowercased) → the espeak-ng voice of its accent."""


@dataclass(frozen=True)
class Piece:
    """A stretch of an SSML document with one set of controls: words, given phonemes, or silence."""

    text: str = ""
    """Words to say (``<sub>`` and ``<say-as>`` already applied), or the text a ``<phoneme>`` stands for."""
    pause_s: float = 0.0
    """Seconds of silence (a ``<break>``); the piece says nothing when it is above 0."""
    phonemes: str | None = None
    """Phonemes given by ``<phoneme>``, said as they are."""
    language: str | None = None
    """Language code from ``xml:lang`` (``zh``, ``en``…), None: by script."""
    variant: str | None = None
    """espeak-ng voice of English under an ``xml:lang`` such as ``en-GB``."""
    speed: float = 1.0
    """Tempo multiplier from ``<prosody rate>`` and ``<emphasis>``."""
    pitch_semitones: float = 0.0
    """Semitones added by ``<prosody pitch>``."""
    energy_db: float = 0.0
    """dB added by ``<prosody volume>`` and ``<emphasis>``."""
    ends_sentence: bool = False
    """A ``<s>`` or ``<p>`` ends here."""


def is_ssml(text: str) -> bool:
    """Whether ``text`` is SSML: it starts with ``<speak``."""
    return text.lstrip().startswith("<speak")


def _name(element: ElementTree.Element) -> str:
    return element.tag.rsplit("}", 1)[-1]


def _seconds(value: str) -> float:
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(ms|s)\s*", value)
    if not match:
        raise TextError(f"SSML <break time='{value}'>: expected milliseconds or seconds, e.g. 500ms or 1.5s")
    return float(match.group(1)) / (1000.0 if match.group(2) == "ms" else 1.0)


def _relative(value: str, words: dict[str, float], what: str, unit: str) -> float:
    """A prosody value: a word, ``+2st`` / ``-6dB`` (its unit), or a percentage."""
    value = value.strip()
    if value in words:
        return words[value]
    match = re.fullmatch(r"([+-]?\d+(?:\.\d+)?)\s*(%|" + unit + ")?", value, re.IGNORECASE)
    if not match:
        raise TextError(f"SSML <prosody {what}='{value}'>: expected one of {', '.join(words)}, "
                        f"a change in {unit} (+2{unit}) or a percentage")
    number = float(match.group(1))
    if match.group(2) == "%":
        factor = 1.0 + number / 100.0 if value[0] in "+-" else number / 100.0
        if factor <= 0:
            raise TextError(f"SSML <prosody {what}='{value}'>: must stay above 0%")
        return 12.0 * math.log2(factor) if unit == "st" else 20.0 * math.log10(factor)
    return number


def _rate(value: str) -> float:
    value = value.strip()
    if value in RATE_WORDS:
        return RATE_WORDS[value]
    match = re.fullmatch(r"([+-]?)(\d+(?:\.\d+)?)\s*(%?)", value)
    if not match:
        raise TextError(f"SSML <prosody rate='{value}'>: expected {', '.join(RATE_WORDS)}, 80%, +20% or 1.2")
    sign, number, percent = match.group(1), float(match.group(2)), match.group(3)
    if percent:
        rate = 1.0 + (number if sign == "+" else -number) / 100.0 if sign else number / 100.0
    else:
        rate = number
    if not 0.25 <= rate <= 4.0:
        raise TextError(f"SSML <prosody rate='{value}'>: the tempo must stay between 0.25 and 4 times")
    return rate


def _lang(element: ElementTree.Element, piece: Piece) -> Piece:
    code = element.get(XML_LANG) or element.get("lang")
    if not code:
        return piece
    variant = ENGLISH_ACCENTS.get(code.lower(), piece.variant)
    return replace(piece, language=language(code).code, variant=variant)


def _prosody(element: ElementTree.Element, piece: Piece) -> Piece:
    speed, pitch, energy = piece.speed, piece.pitch_semitones, piece.energy_db
    if element.get("rate") is not None:
        speed *= _rate(element.get("rate"))
    if element.get("pitch") is not None:
        pitch += _relative(element.get("pitch"), PITCH_WORDS, "pitch", "st")
    if element.get("volume") is not None:
        energy += _relative(element.get("volume"), VOLUME_WORDS, "volume", "dB")
    return replace(piece, speed=speed, pitch_semitones=pitch, energy_db=energy)


def _say_as(element: ElementTree.Element, context: Piece, document_language: str) -> str:
    from .languages import say_as

    kind = element.get("interpret-as", "")
    code = context.language or document_language
    return say_as.say(kind, "".join(element.itertext()), code, element.get("format"))


def _phoneme(element: ElementTree.Element, context: Piece) -> Piece:
    alphabet, ph = element.get("alphabet", "ipa").lower(), element.get("ph")
    if not ph:
        raise TextError("SSML <phoneme> needs ph='…' (the phonemes to say)")
    if alphabet == "pinyin":
        from .languages.mandarin import pinyin_phonemes

        try:
            return replace(context, text="".join(element.itertext()), phonemes=pinyin_phonemes(ph), language="zh")
        except (ValueError, KeyError):
            raise TextError(f"SSML <phoneme alphabet='pinyin' ph='{ph}'>: not valid pinyin") from None
    if alphabet != "ipa":
        raise TextError(f"SSML <phoneme alphabet='{alphabet}'> is not supported; use ipa or pinyin")
    return replace(context, text="".join(element.itertext()), phonemes=ph,
                   language=context.language or "en")


class _Walker:
    """Depth-first walk of the document, one :class:`Piece` per stretch of text."""

    def __init__(self, document_language: str) -> None:
        self.document_language = document_language
        self.pieces: list[Piece] = []

    def text(self, text: str | None, context: Piece) -> None:
        """A piece of text, its whitespace collapsed; a space kept at either end tells words apart."""
        if text and not text.strip() and self.pieces and self.pieces[-1].pause_s == 0:
            self.pieces[-1] = replace(self.pieces[-1], text=self.pieces[-1].text.rstrip() + " ")
        if text and text.strip():
            said = (" " if text[0].isspace() else "") + " ".join(text.split()) + (" " if text[-1].isspace() else "")
            self.pieces.append(replace(context, text=said))

    def walk(self, element: ElementTree.Element, context: Piece) -> None:
        name = _name(element)
        if name not in SUPPORTED:
            raise TextError(f"SSML element <{name}> is not supported; supported: {', '.join(SUPPORTED)}")
        if name == "break":
            strength = element.get("strength", "medium")
            if element.get("time") is not None:
                pause_s = _seconds(element.get("time"))
            elif strength in BREAK_STRENGTH_S:
                pause_s = BREAK_STRENGTH_S[strength]
            else:
                raise TextError(f"SSML <break strength='{strength}'>: expected {', '.join(BREAK_STRENGTH_S)}")
            self.pieces.append(replace(context, text="", pause_s=pause_s))
            return
        context = _lang(element, context)
        if name == "prosody":
            context = _prosody(element, context)
        elif name == "emphasis":
            level = element.get("level", "moderate")
            if level not in EMPHASIS:
                raise TextError(f"SSML <emphasis level='{level}'>: expected {', '.join(EMPHASIS)}")
            energy_db, speed = EMPHASIS[level]
            context = replace(context, energy_db=context.energy_db + energy_db, speed=context.speed * speed)
        if name == "sub":
            self.text(element.get("alias", ""), context)
        elif name == "say-as":
            self.text(_say_as(element, context, self.document_language), context)
        elif name == "phoneme":
            self.pieces.append(_phoneme(element, context))
        else:
            self.text(element.text, context)
            for child in element:
                self.walk(child, context)
                self.text(child.tail, context)
        if name in ("s", "p") and self.pieces:
            self.pieces[-1] = replace(self.pieces[-1], ends_sentence=True)


def parse(text: str, default_language: str = "en") -> list[Piece]:
    """The pieces of an SSML document, in order; :class:`TextError` for invalid or unsupported SSML.

    ``default_language`` is the language ``<say-as>`` uses outside any ``xml:lang`` when the document
    has no Han characters (with Han characters, Mandarin).
    """
    try:
        root = ElementTree.fromstring(text.strip())
    except ElementTree.ParseError as error:
        line, column = error.position
        reason = str(error).split(":")[0]
        raise TextError(f"invalid SSML at line {line}, column {column + 1}: {reason}") from None
    if _name(root) != "speak":
        raise TextError(f"SSML must have <speak> as its root element, not <{_name(root)}>")
    has_han = re.search(r"[\u3400-\u9fff]", "".join(root.itertext())) is not None
    walker = _Walker("zh" if has_han else default_language)
    walker.walk(root, Piece())
    return walker.pieces
