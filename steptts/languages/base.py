"""The languages steptts knows, the interface of a language frontend, and the unspeakable-character policy.

A frontend is a module with three functions; :class:`Frontend` is their signature:

- ``normalize(text) -> str``: written forms (digits, symbols, units) → the words said, punctuation kept;
- ``split(text) -> list[str]``: sentences, each one synthesis call;
- ``phonemize(text, variant) -> str``: normalized text → the phoneme string a voice reads, in the
  inventory ``docs/CONTRACTS.md`` fixes for that language (``variant`` is an espeak-ng voice for
  English accents, ignored elsewhere);
- optionally ``load()``: the module's slow start (Mandarin: jieba's dictionary), done when a voice
  that speaks the language is opened rather than on its first sentence.

Frontend modules are imported on first use, so English-only use never loads the Chinese libraries.

How text is cut into runs of one language, and what happens to characters no language can say, is
:mod:`steptts.languages.runs`'s.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from dataclasses import dataclass
from types import ModuleType
from typing import Protocol

from ..errors import TextError


class Frontend(Protocol):
    """What a language module provides."""

    def normalize(self, text: str) -> str: ...

    def split(self, text: str) -> list[str]: ...

    def phonemize(self, text: str, variant: str | None = None) -> str: ...


@dataclass(frozen=True)
class Language:
    """One language a run of text can be in."""

    code: str
    """Short code used in ``voice.json``'s ``languages`` and in runs: ``en``, ``zh``, ``yue``…"""
    name: str
    """English name, for messages: ``Mandarin``."""
    tag: str
    """The Step-Audio language tag key that selects it: ``中文``, ``英文``…"""
    module: str
    """Dotted name of the frontend module."""
    espeak_voice: str
    """espeak-ng voice of the language (the English default accent, or the voice of an espeak frontend)."""

    def frontend(self) -> ModuleType:
        """The frontend module, imported on first use."""
        return importlib.import_module(self.module)

    def load(self) -> None:
        """Do the frontend's slow start now (see the module docstring); nothing for most languages."""
        load = getattr(self.frontend(), "load", None)
        if load is not None:
            load()


LANGUAGES: dict[str, Language] = {
    language.code: language
    for language in (
        Language("en", "English", "英文", "steptts.languages.english", "en-us"),
        Language("zh", "Mandarin", "中文", "steptts.languages.mandarin", "cmn"),
        Language("yue", "Cantonese", "粤语", "steptts.languages.espeak", "yue"),
        Language("ja", "Japanese", "日语", "steptts.languages.espeak", "ja"),
        Language("ko", "Korean", "韩语", "steptts.languages.espeak", "ko"),
    )
}
"""Every language a run can be in, by code. Mandarin and English have their own frontends; Cantonese,
Japanese and Korean go through espeak-ng as written (no normalization), until they get theirs."""

TAG_LANGUAGES = {"中文": "zh", "四川话": "zh", "英文": "en", "粤语": "yue", "日语": "ja", "韩语": "ko"}
"""Language tag key → language code. Sichuanese is Mandarin text with the dialect's tag."""
DIALECTS = {"四川话": ("zh", "steptts.languages.sichuanese")}
"""Dialect tag key → (language code whose runs it says, frontend module of its rules). A dialect is to
its language what an accent is to English: the same text and language runs, other phonemes."""


def frontend_language_tag(key: str, spoken: Iterable[str]) -> bool:
    """Whether language tag ``key`` is performed by the text frontend alone for a voice that speaks
    the languages ``spoken`` (codes): 中文 and 英文 only choose the language of runs without a script
    of their own, which needs no trained tag when the voice speaks it. A dialect (四川话) changes the
    phonemes' values, so a voice performs it only when trained on it."""
    return key in TAG_LANGUAGES and key not in DIALECTS and TAG_LANGUAGES[key] in set(spoken)


def dialect_frontend(dialect: str | None, code: str) -> ModuleType | None:
    """The frontend module of ``dialect`` (a tag key, ``四川话``) when it applies to language ``code``."""
    found = DIALECTS.get(dialect or "")
    return importlib.import_module(found[1]) if found is not None and found[0] == code else None


def language(code: str) -> Language:
    """The :class:`Language` of ``code`` (``en``, ``zh``…); ``en-us`` and ``cmn`` work too."""
    found = LANGUAGES.get(code) or LANGUAGES.get(code.split("-")[0].lower())
    if found is None and code.lower() in ("cmn", "zh-cn", "zh-hans", "mandarin", "chinese"):
        found = LANGUAGES["zh"]
    if found is None:
        known = ", ".join(f"{lang.code} ({lang.name})" for lang in LANGUAGES.values())
        raise TextError(f"unknown language '{code}'; known: {known}")
    return found


def voice_languages(config: dict) -> list[str]:
    """Language codes a voice speaks, from its ``voice.json``.

    ``languages`` when the voice declares it; else, for voices made before it existed, the language
    of its espeak-ng ``language`` and those of the language tags it was trained on.
    """
    declared = config.get("languages")
    if declared is not None:
        return [language(str(code)).code for code in declared]
    codes = [language(config.get("language", "en-us")).code]
    codes += [TAG_LANGUAGES[key] for key in config.get("tag_vocab", {}) if key in TAG_LANGUAGES]
    return list(dict.fromkeys(codes))
