"""One sentence → its language runs, normalized text and phonemes: the runtime's text frontend.

:func:`utterance` serves synthesis, ``steptts phonemize`` and the evaluation alike, so that what is
debugged and measured is what users hear. A mixed sentence stays one :class:`Utterance`: its runs'
phonemes are joined and reach the voice in one call, so code-switching sounds like one sentence.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from ..errors import TextError
from ..phonemes import substitute
from ..sentences import first_clause
from .base import LANGUAGES, dialect_frontend, language
from .runs import Run, split_runs

if TYPE_CHECKING:
    from ..ssml import Piece

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
        """The runs' phonemes joined by spaces (none before punctuation): one phoneme string for the voice."""
        return join_phonemes([run.phonemes for run in self.runs])

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


def join_phonemes(pieces: list[str]) -> str:
    """Phoneme strings joined by a space, none before one that starts with punctuation."""
    out = ""
    for piece in (p.strip() for p in pieces):
        if piece:
            out += " " + piece if out and not unicodedata.category(piece[0]).startswith("P") else piece
    return out


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
    dialect: str | None = None
    """Dialect tag key (``四川话``, :data:`~steptts.languages.base.DIALECTS`) whose rules its language's
    runs follow; None: the standard language."""


def frontend_phonemes(text: str, code: str, variant: str = "en-us") -> str:
    """Phonemes of normalized ``text`` by the frontend of language ``code``; ``variant`` is an English
    run's espeak-ng voice (its accent), or a dialect tag key (``四川话``) for the language it applies to."""
    lang = LANGUAGES[code]
    dialect = dialect_frontend(variant, code)
    if dialect is not None:
        return dialect.phonemize(text)
    return lang.frontend().phonemize(text, variant if code == "en" else lang.espeak_voice)


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


def normalize_run(run: Run) -> str:
    """The words said for a run: its language's normalizer (given phonemes: the run's text as written)."""
    if run.phonemes is not None:
        return run.text
    return LANGUAGES[run.language].frontend().normalize(run.text)


def run_phonemes(run: Run, normalized: str, settings: TextSettings) -> str:
    """Phonemes of a run's normalized text: given ones, else the lexicon's or the frontend's G2P, with
    the voice's substitutions on English."""
    if run.phonemes is not None:
        return run.phonemes
    variant = run.variant or (settings.english_variant if run.language == "en" else settings.dialect or "")
    if settings.phonemizer is not None:
        phonemes = settings.phonemizer(normalized, run.language, variant)
    else:
        phonemes = frontend_phonemes(normalized, run.language, variant)
    return substitute(phonemes, settings.substitutions) if run.language == "en" else phonemes


def speak_run(run: Run, settings: TextSettings) -> SpokenRun:
    """Normalize and phonemize one run (its language already checked)."""
    normalized = normalize_run(run)
    return SpokenRun(run.language, run.text, normalized, run_phonemes(run, normalized, settings), run.space_before)


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
    return "".join((" " if run.space_before else "") + normalize_run(run) for run in runs).strip()


def sentences(text: str, settings: TextSettings | None = None) -> list[str]:
    """Sentences of ``text`` (tags removed), split by the default language's splitter."""
    settings = settings or TextSettings()
    return [s for s in language(settings.default_language).frontend().split(text) if s.strip()]


@dataclass(frozen=True)
class Planned:
    """One synthesis call of a request: a sentence with its runs and controls, or a silence."""

    text: str
    """The sentence as written; empty for a silence."""
    runs: tuple[Run, ...] = ()
    """Its language runs, languages checked."""
    pause_s: float = 0.0
    """Seconds of silence instead of speech (SSML ``<break>``), when above 0."""
    speed: float = 1.0
    """Tempo multiplier on top of the request's (SSML ``<prosody rate>``, ``<emphasis>``)."""
    pitch_semitones: float = 0.0
    """Semitones added to the request's (SSML ``<prosody pitch>``)."""
    energy_db: float = 0.0
    """dB added to the request's (SSML ``<prosody volume>``, ``<emphasis>``)."""


def plan(body: str, settings: TextSettings, split_first_clause: bool = True) -> list[Planned]:
    """The synthesis calls of ``body`` (tags removed; plain text or SSML), each run's language checked.

    With ``split_first_clause``, plain text's first sentence is cut after its first clause when that
    sentence is long enough (:func:`steptts.sentences.first_clause`), so that a stream starts sooner;
    SSML keeps the sentences its markup gives. Raises :class:`TextError` when nothing speakable is
    left, or for invalid SSML.
    """
    from .. import ssml

    if ssml.is_ssml(body):
        planned = _plan_ssml(ssml.parse(body, settings.default_language), settings)
    else:
        planned = []
        said = sentences(body, settings)
        if split_first_clause and said:
            said = first_clause(said[0]) + said[1:]
        for sentence in said:
            runs = split_runs(sentence, settings.default_language, settings.han_language)
            if runs:
                planned.append(Planned(sentence, tuple(runs)))
    for item in planned:
        for run in item.runs:
            check_spoken(run, settings)
    if not any(item.runs for item in planned):
        raise TextError("nothing to say: the text has no speakable characters")
    return planned


def _piece_runs(piece: Piece, settings: TextSettings, previous: str | None) -> list[list[Run]]:
    """Runs of an SSML piece, one list per sentence (its ``xml:lang`` and accent applied). Text
    without letters takes the language of the run before it (``previous``)."""
    if piece.phonemes is not None:
        return [[Run(piece.language or previous or "en", piece.text.strip(), False, piece.phonemes)]]
    default = piece.language or previous or settings.default_language
    han = piece.language if piece.language in ("zh", "yue", "ja") else settings.han_language
    out = []
    for sentence in language(default).frontend().split(piece.text):
        runs = split_runs(sentence, default, han)
        if piece.variant:
            runs = [replace(run, variant=piece.variant) if run.language == "en" else run for run in runs]
        if runs:
            out.append(runs)
    return out


def _join(runs: tuple[Run, ...], more: list[Run], spaced: bool) -> tuple[Run, ...]:
    """``runs`` then ``more``, the first of ``more`` merged into the last of ``runs`` when both are text
    of one language (so the normalizer and the G2P see the whole stretch)."""
    if not runs:
        return tuple(more)
    first = replace(more[0], space_before=spaced)
    last = runs[-1]
    if (last.language == first.language and last.phonemes is None and first.phonemes is None
            and last.variant == first.variant):
        merged = replace(last, text=last.text + (" " if spaced else "") + first.text)
        return (*runs[:-1], merged, *more[1:])
    return (*runs, first, *more[1:])


def _plan_ssml(pieces: list[Piece], settings: TextSettings) -> list[Planned]:
    """SSML pieces grouped into sentences: a sentence ends at its mark, ``</s>``, a break or new controls."""
    planned: list[Planned] = []
    current: Planned | None = None
    ended_with_space = False
    for piece in pieces:
        controls = (piece.speed, piece.pitch_semitones, piece.energy_db)
        if current is not None and (piece.pause_s > 0 or controls != (current.speed, current.pitch_semitones,
                                                                       current.energy_db)):
            planned.append(current)
            current = None
        if piece.pause_s > 0:
            planned.append(Planned("", pause_s=piece.pause_s))
            continue
        previous = current.runs[-1].language if current is not None and current.runs else None
        spaced = ended_with_space or piece.text[:1].isspace()
        for index, runs in enumerate(_piece_runs(piece, settings, previous)):
            text = "".join((" " if run.space_before else "") + run.text for run in runs).strip()
            if index == 0 and current is not None:
                current = replace(current, text=current.text + (" " if spaced else "") + text,
                                  runs=_join(current.runs, runs, spaced))
            else:
                if current is not None:
                    planned.append(current)
                current = Planned(text, tuple(runs), 0.0, *controls)
            if text.rstrip("\"'”’)」』").endswith(tuple(TERMINAL_MARKS)):
                planned.append(current)
                current = None
        ended_with_space = piece.text[-1:].isspace()
        if piece.ends_sentence and current is not None:
            planned.append(current)
            current = None
    if current is not None:
        planned.append(current)
    return planned
