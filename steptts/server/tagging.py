"""What a request asks for in words, turned into tags: OpenAI's ``instructions`` and StepFun's
``voice_label``.

``instructions`` is free text. Each word that is a tag name or alias (see `steptts tags`: happy,
sad, angry, cute, slow, slower, fast, faster, singing, rap, British, Scottish, Cantonese, 高兴, …)
becomes that tag; "very" or "extremely" before an emotion makes it strong (intensity 2). Every
other word is ignored and reported back in the ``X-StepTTS-Ignored-Instructions`` header, never
spoken. ``voice_label`` is ``{"language"|"emotion"|"style": name}``, as StepFun's API takes it.
"""

from __future__ import annotations

import re
from dataclasses import replace
from urllib.parse import quote

from ..errors import TagError
from ..tags import Tag, resolve_tag
from .errors import APIError

IGNORED_HEADER = "X-StepTTS-Ignored-Instructions"
"""Response header listing the words of ``instructions`` that named no tag (percent-encoded UTF-8)."""
STRONG_WORDS = frozenset({"very", "extremely", "really", "strongly", "非常", "很"})
"""Words that make the emotion after them strong (intensity 2)."""
LABEL_KINDS = {"language": ("language", "accent"), "emotion": ("emotion",), "style": ("music", "speed")}
"""``voice_label`` field → the tag kinds it may name."""
_WORD = re.compile(r"[\w\-]+")


def instruction_tags(instructions: str | None) -> tuple[list[Tag], list[str]]:
    """Tags named in ``instructions`` and the words that named none, both in order."""
    tags: list[Tag] = []
    ignored: list[str] = []
    strong = False
    for word in _WORD.findall(instructions or ""):
        if word.casefold() in STRONG_WORDS:
            strong = True
            continue
        try:
            tag = resolve_tag(word)
        except TagError:
            ignored.append(word)
            strong = False
            continue
        if strong and tag.spec.has_intensity:
            tag = replace(tag, intensity=2)
        strong = False
        tags.append(tag)
    return tags, ignored


def label_tag(voice_label: dict[str, str] | None) -> Tag | None:
    """The tag of a StepFun ``voice_label``, or None; APIError 400 for a bad label."""
    if not voice_label:
        return None
    if len(voice_label) != 1:
        raise APIError(400, "voice_label takes exactly one of language, emotion or style",
                       param="voice_label", code="invalid_value")
    field, value = next(iter(voice_label.items()))
    if field not in LABEL_KINDS:
        raise APIError(400, f"voice_label has no field '{field}'; use language, emotion or style",
                       param="voice_label", code="invalid_value")
    try:
        tag = resolve_tag(str(value))
    except TagError as error:
        raise APIError(400, str(error), param="voice_label", code="unknown_tag") from None
    if tag.kind not in LABEL_KINDS[field]:
        raise APIError(400, f"voice_label {field} '{value}' is a {tag.kind} tag",
                       param="voice_label", code="invalid_value")
    return tag


def tag_controls(tags: list[Tag]) -> dict[str, str]:
    """Keyword controls of :meth:`steptts.TTS.stream` (emotion, language, style) carrying ``tags``.

    Raises APIError 400 when two tags need one keyword (two emotions, or a speed and a music tag).
    """
    controls: dict[str, str] = {}
    for tag in tags:
        keyword = {"emotion": "emotion", "language": "language", "accent": "language"}.get(tag.kind, "style")
        if keyword in controls and controls[keyword] != tag.key:
            raise APIError(400, f"conflicting tags '{controls[keyword]}' and '{tag.key}' from instructions "
                           "or voice_label; use one", param="instructions", code="conflicting_tags")
        controls[keyword] = tag.key
    return controls


def ignored_header(ignored: list[str]) -> dict[str, str]:
    """The response header reporting ignored instruction words (empty when none were)."""
    if not ignored:
        return {}
    return {IGNORED_HEADER: quote(" ".join(ignored), safe=" ,-")}
