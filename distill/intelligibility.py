"""Intelligibility of an evaluation's renderings: what the ASR judges hear, line by line, and the
error rates per language.

Whisper base (:class:`distill.whisper_judge.WhisperJudge`) is the primary judge: English word error
rate and Mandarin character error rate, scored by :mod:`distill.asr_scores` against the line itself
(tags removed). pocketsphinx, the earlier judge, gives English lines a second opinion, scored as
before against ``spoken_form(normalize_text(line))``: it hears only US English words and no digits.

A line's language is the evaluation's ``--language``, or read from the line's script
(:func:`distill.asr_scores.script_language`) when that is ``auto``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from distill.asr_scores import LANGUAGES, METRIC, Language, error_rate, script_language
from distill.evaluate import SpeechRecognizer, reference_words, resample, word_error_rate
from distill.whisper_judge import WHISPER_RATE_HZ, WhisperJudge
from steptts.errors import StepTTSError

LANGUAGE_CHOICES = ("auto", *LANGUAGES)
"""Values of ``--language``: "auto" reads each line's language from its script."""
LANGUAGE_NAMES = {"en": "English", "zh": "Mandarin"}
"""How a report names each judged language."""


def line_languages(lines: Sequence[str], language: str = "auto") -> list[Language]:
    """The judged language of each line: ``language`` for all, or each line's script when "auto"."""
    if language not in LANGUAGE_CHOICES:
        raise StepTTSError(f"--language must be one of {', '.join(LANGUAGE_CHOICES)}, got {language!r}")
    if language == "auto":
        return [script_language(line) for line in lines]
    return [language] * len(lines)  # type: ignore[list-item]


def line_body(line: str) -> str:
    """The words of a line that a listener should hear: the line without its leading tags."""
    from steptts.tags import parse_tags

    return parse_tags(line)[1]


class Intelligibility:
    """The ASR judges of one evaluation: Whisper on every line, pocketsphinx on English lines.

    Loading both takes a few seconds; keep one instance per evaluation. Not thread-safe.
    """

    def __init__(self, whisper: WhisperJudge | None = None, pocketsphinx: bool = True) -> None:
        self.whisper = whisper if whisper is not None else WhisperJudge()
        self.pocketsphinx = SpeechRecognizer() if pocketsphinx else None

    def describe(self) -> dict[str, str]:
        """What each judge is, for a report's settings."""
        about = {"whisper": self.whisper.describe()}
        if self.pocketsphinx is not None:
            about["pocketsphinx"] = "pocketsphinx en-us (bundled), 16 kHz int16; English lines only"
        return about

    def hear(self, line: str, language: Language, audio: np.ndarray, sample_rate_hz: int) -> dict[str, Any]:
        """What the judges hear in one rendering (float32 [S] at ``sample_rate_hz``) of ``line``.

        Returns ``language``, ``metric`` ("wer" or "cer"), ``whisper`` (the words heard), ``error``
        (Whisper's error rate on this line; None when the line has nothing to score) and, for English
        with pocketsphinx, ``pocketsphinx`` and ``pocketsphinx_wer``.
        """
        body = line_body(line)
        audio_16k = np.clip(resample(audio, sample_rate_hz, WHISPER_RATE_HZ), -1.0, 1.0)
        heard = self.whisper.transcribe(audio_16k, language)
        error = error_rate(language, [body], [heard])
        entry: dict[str, Any] = {
            "language": language,
            "metric": METRIC[language],
            "whisper": heard,
            "error": error if np.isfinite(error) else None,
        }
        if language == "en" and self.pocketsphinx is not None:
            reference = reference_words(line)
            said = self.pocketsphinx.transcribe(audio, sample_rate_hz)
            entry["pocketsphinx"] = said
            entry["pocketsphinx_wer"] = word_error_rate([reference], [said]) if reference else None
        return entry


def summarize_heard(lines: Sequence[str], heard: Sequence[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Corpus error rates per language of one system: ``{"en": {"lines", "whisper_wer",
    "pocketsphinx_wer"}, "zh": {"lines", "whisper_cer"}}``, only for languages present.

    ``heard[i]`` is :meth:`Intelligibility.hear`'s entry for ``lines[i]``. Rates are over all scored
    words or characters of the language, not means of per-line rates.
    """
    summary: dict[str, dict[str, Any]] = {}
    for language in LANGUAGES:
        indices = [i for i, entry in enumerate(heard) if entry["language"] == language]
        if not indices:
            continue
        bodies = [line_body(lines[i]) for i in indices]
        said = [heard[i]["whisper"] for i in indices]
        figures: dict[str, Any] = {
            "lines": len(indices),
            f"whisper_{METRIC[language]}": error_rate(language, bodies, said),
        }
        second = [i for i in indices if "pocketsphinx" in heard[i]]
        if second:
            pairs = [(reference_words(lines[i]), heard[i]["pocketsphinx"]) for i in second]
            pairs = [(r, h) for r, h in pairs if r]
            figures["pocketsphinx_wer"] = (
                word_error_rate([r for r, _ in pairs], [h for _, h in pairs]) if pairs else float("nan")
            )
        summary[language] = figures
    return summary
