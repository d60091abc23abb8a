"""The text frontend: one sentence → the words said and their phonemes.

One function, :func:`speak`, serves synthesis (:class:`steptts.TTS`), the evaluation's teacher system
and the tag evaluation, so that what is measured is what users run.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .g2p import phonemize
from .phonemes import substitute
from .textnorm import normalize_text


@dataclass
class Spoken:
    """A sentence as a voice says it. ``phonemes`` are computed on first use (espeak-ng is the cost)."""

    text: str
    """The words said: English normalized (numbers, symbols, abbreviations spelled out), other
    languages as written, stripped."""
    language: str
    """espeak-ng voice that phonemizes it (``en-us``, ``en-gb-scotland``, ``cmn``…)."""
    substitutions: dict[str, str] = field(default_factory=dict, repr=False)
    """The voice's table of unlearned symbols → what it says instead."""
    _phonemes: str | None = field(default=None, init=False, repr=False)
    """Cache of :attr:`phonemes`."""

    @property
    def phonemes(self) -> str:
        """IPA (NFD) of :attr:`text` in :attr:`language`, after the substitutions; '' for no text."""
        if self._phonemes is None:
            self._phonemes = substitute(phonemize(self.text, self.language), self.substitutions)
        return self._phonemes


def speak(
    sentence: str, language: str = "en-us", substitutions: dict[str, str] | None = None,
    normalize: bool | None = None,
) -> Spoken:
    """The spoken form of one sentence.

    Args:
        sentence: one sentence, tags already removed.
        language: espeak-ng voice for the phonemes.
        substitutions: the voice's ``phoneme_substitutions`` (None: none).
        normalize: rewrite written English into words; None decides by ``language`` (English voices).
    """
    if normalize is None:
        normalize = language.startswith("en")
    text = normalize_text(sentence) if normalize else sentence.strip()
    return Spoken(text, language, dict(substitutions or {}))
