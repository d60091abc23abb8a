"""The text frontend for one sentence, as the data engine and the evaluation call it: the words said
and their phonemes.

A thin call into :mod:`steptts.languages.pipeline`, the functions :class:`steptts.TTS` speaks through
(language runs, each language's normalizer and G2P, the voice's substitutions), so that what is
rendered and measured is what users run. It takes an espeak-ng voice, as the teachers name languages.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .languages.base import language as language_of
from .languages.pipeline import TextSettings, join_phonemes, normalize_run, run_phonemes
from .languages.runs import Run, split_runs

HAN_LANGUAGES = ("zh", "yue", "ja")
"""Languages whose text Han characters are (a sentence in one of them reads its Han in it)."""


@dataclass
class Spoken:
    """A sentence as a voice says it. ``phonemes`` are computed on first use (espeak-ng is the cost)."""

    text: str
    """The words said: each language run normalized (numbers, symbols, units written out), joined."""
    language: str
    """espeak-ng voice of the sentence's language (``en-us``, ``en-gb-scotland``, ``cmn``…)."""
    runs: list[tuple[Run, str]] = field(default_factory=list, repr=False)
    """Each language run with its normalized text."""
    settings: TextSettings = field(default_factory=TextSettings, repr=False)
    """Languages, accent and the voice's substitutions the phonemes are made with."""
    _phonemes: str | None = field(default=None, init=False, repr=False)
    """Cache of :attr:`phonemes`."""

    @property
    def phonemes(self) -> str:
        """Phonemes of :attr:`text` in its languages' inventories (docs/CONTRACTS.md), after the
        substitutions; '' for no text."""
        if self._phonemes is None:
            self._phonemes = join_phonemes([run_phonemes(run, said, self.settings) for run, said in self.runs])
        return self._phonemes


def speak(
    sentence: str, language: str = "en-us", substitutions: dict[str, str] | None = None,
    normalize: bool | None = None,
) -> Spoken:
    """The spoken form of one sentence.

    Args:
        sentence: one sentence, tags already removed.
        language: espeak-ng voice of its language: the language of text without letters and of Han
            characters (``cmn`` → Mandarin, ``yue`` → Cantonese), the accent of its English.
        substitutions: the voice's ``phoneme_substitutions`` (None: none), for English runs.
        normalize: False when ``sentence`` is normalized already; None or True normalizes each run.
    """
    code = language_of(language).code
    settings = TextSettings(code, code if code in HAN_LANGUAGES else "zh",
                            language if code == "en" else "en-us", substitutions=dict(substitutions or {}))
    runs = split_runs(sentence, settings.default_language, settings.han_language)
    said = [(run, run.text if normalize is False else normalize_run(run)) for run in runs]
    text = "".join((" " if run.space_before else "") + words for run, words in said).strip()
    return Spoken(text, language, said, settings)
