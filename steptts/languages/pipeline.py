"""One sentence → its language runs, normalized text and phonemes: the runtime's text frontend.

:func:`utterance` serves synthesis, ``steptts phonemize`` and the evaluation alike, so that what is
debugged and measured is what users hear. A mixed sentence stays one :class:`Utterance`: its runs'
phonemes are joined and reach the voice in one call, so code-switching sounds like one sentence.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from ..errors import TextError
from ..phonemes import substitute
from .base import LANGUAGES, language
from .runs import Run, split_runs

TERMINAL_MARKS = ".!?。！？…"
"""Sentence-final marks: not part of :attr:`Utterance.spoken`."""


@dataclass(frozen=True)
class SpokenRun:
    """One language run of a sentence, as the voice says it."""

    language: str
    """Language code (``en``, ``zh``…)."""
    text: str
    """The run as written."""
    normalized: str
    """The words said (digits, symbols and units written out), punctuation kept."""
    phonemes: str
    """Phonemes in the language's inventory (``docs/CONTRACTS.md``), after the voice's substitutions."""
    space_before: bool = False
    """Whether whitespace separated it from the run before."""


@dataclass(frozen=True)
class Utterance:
    """One sentence: what one synthesis call of the voice graph speaks."""

    text: str
    """The sentence as written (tags removed)."""
    runs: tuple[SpokenRun, ...]
    """Its language runs, in order."""

    @property
    def normalized(self) -> str:
        """The runs' normalized text, joined as written (a space only where the text had one)."""
        return "".join((" " if run.space_before else "") + run.normalized for run in self.runs).strip()

    @property
    def spoken(self) -> str:
        """:attr:`normalized` without the sentence's final mark: the words said."""
        return self.normalized.rstrip(TERMINAL_MARKS + " ")

    @property
    def phonemes(self) -> str:
        """The runs' phonemes joined by spaces: one phoneme string for the voice."""
        return " ".join(run.phonemes for run in self.runs if run.phonemes)

    @property
    def language(self) -> str:
        """Code of the sentence's language, or the codes of its runs joined by ``+`` (``zh+en``)."""
        return "+".join(dict.fromkeys(run.language for run in self.runs))

    def to_json(self) -> dict:
        """The form ``steptts phonemize --json`` prints."""
        return {
            "text": self.text, "normalized": self.spoken, "language": self.language, "phonemes": self.phonemes,
            "runs": [{"language": r.language, "text": r.text, "normalized": r.normalized, "phonemes": r.phonemes}
                     for r in self.runs],
        }


Phonemizer = Callable[[str, str, str], str]
"""(normalized text, language code, English accent's espeak-ng voice) → phonemes: what
:func:`frontend_phonemes` is, and what a lexicon wraps."""


@dataclass(frozen=True)
class TextSettings:
    """How text becomes phonemes for one voice (or for no voice: ``languages`` None)."""

    default_language: str = "en"
    """Language of text without letters: a language tag's, else the voice's."""
    han_language: str = "zh"
    """Language of Han characters: ``zh``, or ``yue`` / ``ja`` under their tag or ``<lang>``."""
    english_variant: str = "en-us"
    """espeak-ng voice of English runs (the accent)."""
    languages: frozenset[str] | None = None
    """Languages the voice speaks; a run in another raises :class:`TextError`. None: no check."""
    voice_name: str = ""
    """For messages."""
    substitutions: dict[str, str] = field(default_factory=dict)
    """The voice's ``phoneme_substitutions``, applied to English runs (they map espeak-ng's symbols)."""
    phonemizer: Phonemizer | None = None
    """Replaces the frontends' G2P (a lexicon wraps them); None: the frontends."""


def frontend_phonemes(text: str, code: str, english_variant: str = "en-us") -> str:
    """Phonemes of normalized ``text`` by the frontend of language ``code``."""
    lang = LANGUAGES[code]
    return lang.frontend().phonemize(text, english_variant if code == "en" else lang.espeak_voice)


def check_spoken(run: Run, settings: TextSettings) -> None:
    """Raise :class:`TextError` when the voice does not speak ``run``'s language."""
    if settings.languages is None or run.language in settings.languages:
        return
    name = LANGUAGES[run.language].name
    quoted = run.text if len(run.text) <= 24 else run.text[:24] + "…"
    from ..voice import voices_speaking

    others = [v for v in voices_speaking(run.language) if v != settings.voice_name]
    where = (f"voices that speak it: {', '.join(others)}" if others
             else f"no installed voice speaks {name}")
    spoken = ", ".join(LANGUAGES[c].name for c in sorted(settings.languages) if c in LANGUAGES) or "none"
    raise TextError(f"voice '{settings.voice_name}' does not speak {name} ({run.language}): "
                    f"'{quoted}'; it speaks {spoken}; {where}")


def speak_run(run: Run, settings: TextSettings) -> SpokenRun:
    """Normalize and phonemize one run (its language already checked)."""
    frontend = LANGUAGES[run.language].frontend()
    normalized = frontend.normalize(run.text)
    if settings.phonemizer is not None:
        phonemes = settings.phonemizer(normalized, run.language, settings.english_variant)
    else:
        phonemes = frontend_phonemes(normalized, run.language, settings.english_variant)
    if run.language == "en":
        phonemes = substitute(phonemes, settings.substitutions)
    return SpokenRun(run.language, run.text, normalized, phonemes, run.space_before)


def utterance(sentence: str, settings: TextSettings | None = None, runs: list[Run] | None = None) -> Utterance:
    """One sentence (tags removed) as the voice says it.

    Raises :class:`TextError` naming the language, the run and the voices that speak it, when the voice
    does not speak one of the sentence's languages. ``runs`` replaces the cut by script (SSML ``<lang>``).
    """
    settings = settings or TextSettings()
    if runs is None:
        runs = split_runs(sentence, settings.default_language, settings.han_language)
    for run in runs:
        check_spoken(run, settings)
    return Utterance(sentence, tuple(speak_run(run, settings) for run in runs))


def normalized(sentence: str, runs: list[Run]) -> str:
    """The normalized text of a sentence's runs, joined as written (no phonemes: a remote teacher's input)."""
    said = "".join((" " if run.space_before else "") + LANGUAGES[run.language].frontend().normalize(run.text)
                   for run in runs)
    return said.strip()


def sentences(text: str, settings: TextSettings | None = None) -> list[str]:
    """Sentences of ``text`` (tags removed), split by the default language's splitter."""
    settings = settings or TextSettings()
    return [s for s in language(settings.default_language).frontend().split(text) if s.strip()]
