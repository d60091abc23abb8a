"""Step-Audio's instruction-tag grammar, with English aliases.

Tags are leading parenthesised groups, ASCII ``( )`` or full-width ``（ ）``, chained:
``(Cantonese)(happy2)Hello`` or ``（粤语）（高兴1）你好``. A trailing number is the intensity
(1 mild, 2 strong) for emotions; speed tags carry their number in the name. Text in parentheses
that is not at the start is spoken as text.

A resolved tag has a *key*: the string a voice's tag vocabulary uses, e.g. ``高兴2``, ``慢速1``,
``哼唱``, ``British``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import TagError


@dataclass(frozen=True)
class TagSpec:
    """One canonical tag of the grammar."""

    canonical: str
    """Step-Audio's name (or the English name for tags beyond Step-Audio's set)."""
    kind: str
    """One of ``emotion``, ``speed``, ``music``, ``language``, ``accent``."""
    aliases: tuple[str, ...]
    """English aliases, matched case-insensitively."""
    description: str
    """What the tag does, in a few words (shown by `steptts tags`)."""
    espeak_voice: str | None = None
    """espeak-ng voice that phonemizes text under this tag (languages and accents), else None."""
    duration_factor: float | None = None
    """For speed tags: how much longer the speech lasts (1.15 = 15 % longer), else None."""

    @property
    def speed_factor(self) -> float | None:
        """For speed tags: the tempo multiplier, ``1 / duration_factor`` (duration is divided by it)."""
        return None if self.duration_factor is None else 1 / self.duration_factor

    @property
    def has_intensity(self) -> bool:
        return self.kind == "emotion"


INTENSITIES = (1, 2)

TAG_SPECS: tuple[TagSpec, ...] = (
    TagSpec("高兴", "emotion", ("happy",), "happy: higher, livelier pitch"),
    TagSpec("生气", "emotion", ("angry",), "angry: louder, tenser, faster"),
    TagSpec("悲伤", "emotion", ("sad",), "sad: lower, flatter, slower, softer"),
    TagSpec("撒娇", "emotion", ("coquettish", "cute"), "coquettish: high, sing-song pitch"),
    TagSpec("慢速1", "speed", ("slow",), "slow: about 1.15x longer", duration_factor=1.15),
    TagSpec("慢速2", "speed", ("slower",), "slower: about 1.35x longer", duration_factor=1.35),
    TagSpec("快速1", "speed", ("fast",), "fast: about 0.87x the duration", duration_factor=0.87),
    TagSpec("快速2", "speed", ("faster",), "faster: about 0.75x the duration", duration_factor=0.75),
    TagSpec("哼唱", "music", ("singing", "humming", "sing"), "singing: follows a melody (given or its own)"),
    TagSpec("RAP", "music", ("rap",), "rap: syllables on a beat grid at a BPM"),
    TagSpec("中文", "language", ("mandarin", "chinese"), "Mandarin Chinese", espeak_voice="cmn"),
    TagSpec("英文", "language", ("english",), "English", espeak_voice="en-us"),
    TagSpec("日语", "language", ("japanese",), "Japanese", espeak_voice="ja"),
    TagSpec("韩语", "language", ("korean",), "Korean", espeak_voice="ko"),
    TagSpec("四川话", "language", ("sichuanese",), "Sichuanese (espeak-ng has no Sichuanese: Mandarin G2P)",
            espeak_voice="cmn"),
    TagSpec("粤语", "language", ("cantonese", "广东话"), "Cantonese", espeak_voice="yue"),
    TagSpec("American", "accent", ("american", "us"), "General American English", espeak_voice="en-us"),
    TagSpec("British", "accent", ("british", "uk", "rp"), "British English (RP)", espeak_voice="en-gb"),
    TagSpec("Scottish", "accent", ("scottish",), "Scottish English", espeak_voice="en-gb-scotland"),
    TagSpec("NorthernEnglish", "accent", ("northern", "northern-english"), "Northern English",
            espeak_voice="en-gb-x-gbclan"),
    TagSpec("WestMidlands", "accent", ("west-midlands", "brummie"), "West Midlands English",
            espeak_voice="en-gb-x-gbcwmd"),
    TagSpec("Caribbean", "accent", ("caribbean",), "Caribbean English", espeak_voice="en-029"),
)

_BY_NAME: dict[str, TagSpec] = {}
for _spec in TAG_SPECS:
    for _name in (_spec.canonical, *_spec.aliases):
        _BY_NAME[_name.casefold()] = _spec


@dataclass(frozen=True)
class Tag:
    """A tag resolved from text or keyword arguments."""

    spec: TagSpec
    """The canonical tag of the grammar."""
    intensity: int | None = None
    """1 or 2 for emotions, None otherwise."""

    @property
    def key(self) -> str:
        """The voice-vocabulary key, e.g. ``高兴2``, ``慢速1``, ``British``."""
        if self.spec.has_intensity:
            return f"{self.spec.canonical}{self.intensity}"
        return self.spec.canonical

    @property
    def kind(self) -> str:
        return self.spec.kind


def speed_duration_factors() -> dict[str, float]:
    """Speed tag key → duration factor (``慢速1`` → 1.15): what the audio edits and the tag
    evaluation aim at."""
    return {spec.canonical: spec.duration_factor for spec in TAG_SPECS if spec.duration_factor is not None}


def all_tag_keys() -> list[str]:
    """Every key the grammar can produce, in table order."""
    keys: list[str] = []
    for spec in TAG_SPECS:
        if spec.has_intensity:
            keys += [f"{spec.canonical}{i}" for i in INTENSITIES]
        else:
            keys.append(spec.canonical)
    return keys


def _valid_list() -> str:
    parts = []
    for spec in TAG_SPECS:
        names = "/".join((spec.canonical, *spec.aliases))
        parts.append(names + ("[1|2]" if spec.has_intensity else ""))
    return ", ".join(parts)


_NUMBER_SUFFIX = re.compile(r"^(.*?)(\d+)$")


def resolve_tag(name: str) -> Tag:
    """Resolve one tag name (``happy2``, ``高兴``, ``慢速1``, ``Cantonese``) or raise :class:`TagError`."""
    raw = name.strip()
    if not raw:
        raise TagError("empty tag '()'; valid tags: " + _valid_list())
    spec = _BY_NAME.get(raw.casefold())
    if spec is not None:
        return Tag(spec, 1 if spec.has_intensity else None)
    match = _NUMBER_SUFFIX.match(raw)
    if match:
        base, number = match.group(1).strip(), int(match.group(2))
        spec = _BY_NAME.get(base.casefold())
        if spec is not None and spec.has_intensity:
            if number not in INTENSITIES:
                raise TagError(f"tag '{raw}': intensity must be 1 (mild) or 2 (strong), got {number}")
            return Tag(spec, number)
    raise TagError(f"unknown tag '({raw})'; valid tags: " + _valid_list())


_OPEN = "(（"
_CLOSE = ")）"


def parse_tags(text: str) -> tuple[list[Tag], str]:
    """Split leading tag groups off ``text``.

    Returns the tags in order and the remaining text (leading whitespace stripped). Raises
    :class:`TagError` for an unknown tag, an unbalanced leading group, a tag group nested in
    another, or two tags of one kind that contradict each other (two emotions, two speeds, ...).
    """
    tags: list[Tag] = []
    rest = text.lstrip()
    while rest and rest[0] in _OPEN:
        end = next((i for i, ch in enumerate(rest) if ch in _CLOSE), -1)
        if end < 0:
            raise TagError(f"unbalanced tag: '{rest[:20]}' opens a parenthesis that never closes")
        inner = rest[1:end]
        if any(ch in _OPEN for ch in inner):
            raise TagError(f"unbalanced tag: nested parenthesis in '{rest[: end + 1]}'")
        tags.append(resolve_tag(inner))
        rest = rest[end + 1 :].lstrip()
    check_compatible(tags)
    return tags, rest


def check_compatible(tags: list[Tag]) -> None:
    """Raise :class:`TagError` when tags contradict: two of one kind (other than a repeat)."""
    seen: dict[str, Tag] = {}
    for tag in tags:
        kind = "language" if tag.kind == "accent" else tag.kind
        other = seen.get(kind)
        if other is not None and other.key != tag.key:
            raise TagError(f"conflicting {kind} tags: '{other.key}' and '{tag.key}'; use one")
        seen[kind] = tag


def dedupe(tags: list[Tag]) -> list[Tag]:
    """Tags in order with repeats removed."""
    out: list[Tag] = []
    for tag in tags:
        if all(t.key != tag.key for t in out):
            out.append(tag)
    return out
