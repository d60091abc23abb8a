"""How `steptts distill eval --tags` judges a tagged line in its own language: who listens, which error
rate, and what a language or dialect tag must change.

Intelligibility, per language group of the lines (a line's language is ``--language``, or its script:
:func:`distill.intelligibility.line_languages`):

- English lines: pocketsphinx (its bundled US English model), word error rate against
  ``reference_words(line)``, exactly as the tag bars were first recorded, so joe-nano's figures stay
  comparable. Bar: tagged WER ≤ neutral WER + 0.10.
- Mandarin lines: Whisper base (:class:`distill.intelligibility.Intelligibility`), character error rate
  on the Han characters (:func:`distill.asr_scores.error_rate`). Bar: tagged CER ≤ neutral CER + 0.10.

A set holding both languages is judged per group: each group has its own neutral rate and its own bar.
Some tags get no error-rate bar, with the reason written into the report: singing (a sung line is not
speech to an ASR), 四川话 on Mandarin lines (a dialect is meant to sound unlike Mandarin, and Whisper
knows no Sichuanese: its CER is reported, not barred), and languages no judge here hears (粤语, 日语, 韩语).

Language, dialect and accent tags are judged by what they change in the phonemes:

- an accent (British, Scottish…): English lines' phonemes under its espeak-ng voice against en-us;
- 四川话: Mandarin lines' phonemes under the tag against plain Mandarin, by the system's own frontend
  (the dialect's rule set, ``steptts.languages.sichuanese``); its tones are measured per tone class by
  ``bench/bench_dialect_tones.py``, not here;
- 中文 and 英文 set only the language of text without letters (digits, signs): on lines written in
  letters they change nothing, so their bar is the error rate; the share of lines whose phonemes they
  change is reported.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from distill.asr_scores import LANGUAGES, METRIC, Language, error_rate
from distill.intelligibility import LANGUAGE_NAMES, Intelligibility
from distill.judges import SpeechRecognizer, reference_words, word_error_rate
from distill.report import bar
from steptts.frontend import speak
from steptts.languages.base import DIALECTS, TAG_LANGUAGES
from steptts.tags import Tag

ERROR_MARGIN = 0.10
"""A tag may raise its lines' error rate (WER or CER) by at most this much over neutral."""
FORCING_TAGS = ("中文", "英文")
"""Language tags that set only the language of text without letters."""
JUDGE_OF = {"en": "pocketsphinx", "zh": "Whisper base"}
"""Who hears each language's lines."""


class TagJudges:
    """The listeners of one tag evaluation: pocketsphinx for English lines, Whisper base for Mandarin.

    Only the judges the lines need are loaded. Not thread-safe.
    """

    def __init__(self, languages: Sequence[Language], given: Intelligibility | None = None) -> None:
        """``languages``: of the evaluated lines; ``given``: the evaluation's judges, reused when set."""
        needed = set(languages)
        self.pocketsphinx: SpeechRecognizer | None = None
        if "en" in needed:
            self.pocketsphinx = given.pocketsphinx if given and given.pocketsphinx else SpeechRecognizer()
        self.whisper: Intelligibility | None = None
        if "zh" in needed:
            self.whisper = given if given is not None else Intelligibility(pocketsphinx=False)

    def hear(self, sentence: str, language: Language, audio: np.ndarray, sample_rate_hz: int) -> str:
        """What the language's judge hears in ``audio`` (float32 [S] at ``sample_rate_hz``), a rendering
        of ``sentence`` (tags removed): pocketsphinx's lowercase words, or Whisper's text."""
        if language == "zh":
            assert self.whisper is not None
            return self.whisper.hear(sentence, "zh", audio, sample_rate_hz)["whisper"]
        assert self.pocketsphinx is not None
        return self.pocketsphinx.transcribe(audio, sample_rate_hz)

    def describe(self) -> dict[str, str]:
        """Per language present, its judge and error rate, for the report's settings."""
        about = {}
        if self.pocketsphinx is not None:
            about["en"] = "pocketsphinx en-us (bundled), WER against the spoken form of the line"
        if self.whisper is not None:
            about["zh"] = f"{self.whisper.whisper.describe()}; CER on the Han characters"
        return about


def error_rates(
    sentences: Sequence[str], languages: Sequence[Language], hypotheses: Sequence[str]
) -> dict[str, float]:
    """Corpus error rate per language group: ``{"wer": English WER, "cer": Mandarin CER}``, a key only
    for a language the sentences hold (:data:`distill.asr_scores.METRIC` names them)."""
    rates: dict[str, float] = {}
    for language in LANGUAGES:
        indices = [i for i, lang in enumerate(languages) if lang == language]
        if not indices:
            continue
        if language == "en":
            references = [reference_words(sentences[i]) for i in indices]
            rates["wer"] = word_error_rate(references, [hypotheses[i] for i in indices])
        else:
            rates[METRIC[language]] = error_rate(
                language, [sentences[i] for i in indices], [hypotheses[i] for i in indices]
            )
    return rates


def _why_no_error_bar(tag: Tag, language: Language) -> str | None:
    """Why ``tag`` on ``language``'s lines gets no error-rate bar; None when it gets one."""
    metric = METRIC[language].upper()
    if tag.key == "哼唱":
        return f"哼唱: no {metric} bar (a sung line is not speech to the ASR)"
    if tag.key in DIALECTS and DIALECTS[tag.key][0] == language:
        dialect = tag.spec.aliases[0].capitalize()
        return (f"{tag.key}: {metric} reported, not barred (a dialect is meant to sound unlike "
                f"{LANGUAGE_NAMES[language]}, and {JUDGE_OF[language]} knows no {dialect})")
    spoken = TAG_LANGUAGES.get(tag.key)
    if tag.kind == "language" and spoken not in LANGUAGES:
        return f"{tag.key}: no {metric} bar (it reads the lines as {tag.spec.name}: no judge here hears it)"
    return None


def error_bars(tag: Tag, effects: dict[str, Any], neutral: dict[str, float]) -> tuple[list[dict], list[str]]:
    """The error-rate bars of one tag, one per language group (``neutral``: :func:`error_rates` of the
    neutral takes), and the notes on the groups left without one."""
    checks, notes = [], []
    for language in LANGUAGES:
        metric = METRIC[language]
        if metric not in neutral:
            continue
        reason = _why_no_error_bar(tag, language)
        if reason is not None:
            notes.append(reason)
            continue
        limit = neutral[metric] + ERROR_MARGIN
        measured = effects[metric]
        checks.append(bar(metric.upper(), measured, f"≤ neutral + {ERROR_MARGIN:.2f} ({limit:.3f})",
                          measured <= limit))
    return checks, notes


def _frontend_phonemes(system, text: str) -> str:
    """Phonemes of ``text`` (tags included) as ``system`` says them: its voice's frontend when it has
    one, else the language frontends alone."""
    from steptts.api import phonemize

    tts = getattr(system, "tts", None)
    utterances = tts.phonemize(text) if tts is not None else phonemize(text)
    return " | ".join(u.phonemes for u in utterances)


def phoneme_effects(
    system, tag: Tag, sentences: Sequence[str], languages: Sequence[Language]
) -> dict[str, Any]:
    """What a language, dialect or accent tag changes in the phonemes of the lines it applies to.

    Accents (and languages other than Mandarin and English): ``phonemes_differ_share`` against en-us
    by espeak-ng voice, on English lines for an accent. 四川话: ``phonemes_differ_share`` against plain
    Mandarin on Mandarin lines. 中文 / 英文: ``phonemes_changed_share``, tagged against untagged, on
    all lines. A share is None when no line is of the kind it applies to.
    """
    if tag.key in DIALECTS or tag.key in FORCING_TAGS:
        dialect = tag.key in DIALECTS
        picked = [s for s, lang in zip(sentences, languages) if not dialect or lang == DIALECTS[tag.key][0]]
        differ = [_frontend_phonemes(system, f"({tag.key}){s}") != _frontend_phonemes(system, s)
                  for s in picked]
        share = float(np.mean(differ)) if differ else None
        name = "phonemes_differ_share" if dialect else "phonemes_changed_share"
        return {name: share, "compared_with": "untagged", "lines_compared": len(picked)}
    espeak_voice = tag.spec.espeak_voice or ""
    table = getattr(system, "phoneme_substitutions", {})
    picked = [s for s, lang in zip(sentences, languages) if tag.kind != "accent" or lang == "en"]
    differ = [speak(s, espeak_voice, table).phonemes != speak(s, "en-us", table).phonemes for s in picked]
    return {"phonemes_differ_share": float(np.mean(differ)) if differ else None, "espeak_voice": espeak_voice,
            "compared_with": "en-us", "lines_compared": len(picked)}


def phoneme_bars(tag: Tag, effects: dict[str, Any], voice_language: str) -> tuple[list[dict], list[str]]:
    """The phoneme bar of an accent or dialect tag (its share of changed lines > 0), and notes on what
    is not barred and why."""
    share = effects.get("phonemes_differ_share")
    passed = share is not None and share > 0
    if tag.key in DIALECTS:
        language = LANGUAGE_NAMES.get(DIALECTS[tag.key][0], DIALECTS[tag.key][0])
        if not effects.get("lines_compared"):
            return [], [f"{tag.key}: no phoneme bar (no {language} line; it changes {language} runs only)"]
        check = bar(f"{language} lines whose phonemes differ from untagged", share, "> 0", passed)
        return [check], [f"{tag.key}: tones per tone class are measured by bench/bench_dialect_tones.py"]
    if tag.key in FORCING_TAGS:
        changed = effects.get("phonemes_changed_share")
        shown = "—" if changed is None else f"{changed:.2f}"
        note = (f"{tag.key}: sets only the language of text without letters (phonemes changed on {shown} "
                "of lines); judged by the error rate")
        return [], [note]
    if tag.kind != "accent" or tag.spec.espeak_voice == voice_language:
        return [], []
    if not effects.get("lines_compared"):
        return [], [f"{tag.key}: no phoneme bar (no English line; an accent changes English runs only)"]
    return [bar("lines whose phonemes differ from en-us", share, "> 0", passed)], []
