"""What every teacher shares: its error, what a rendering holds, the protocol, the tag helpers.

Teachers (:mod:`distill.teachers`, :mod:`distill.kokoro_teacher`) build on this module and never on
each other, so the registry in :mod:`distill.teachers` can name them all without an import cycle.
The rate and hop every teacher delivers are the graph's (:mod:`steptts.graph`); resampling is
:func:`distill.dsp.resample`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

from distill.dsp import resample
from steptts.errors import RenderError, TagError
from steptts.graph import HOP_LENGTH, SAMPLE_RATE_HZ
from steptts.tags import Tag

__all__ = [
    "HOP_LENGTH",
    "SAMPLE_RATE_HZ",
    "Rendering",
    "Teacher",
    "TeacherError",
    "check_rendered",
    "language_of",
    "record_language",
    "resample",
    "speed_factor_of",
]


class TeacherError(RenderError):
    """A teacher failed to render an utterance (``retryable`` and ``status`` as in RenderError)."""


@dataclass
class Rendering:
    """One utterance rendered by a teacher, with what the data engine records about it."""

    audio: np.ndarray
    """float32 [S], in [-1, 1]."""
    sample_rate_hz: int
    """Rate of ``audio`` in Hertz."""
    durations: list[int] | None
    """Frames (hop 256) per token of ``tokenize(phonemes)``; None from a black-box teacher."""
    phonemes: str
    """The IPA the teacher rendered (white box) or the phonemes of the text in ``language``."""
    language: str
    """The espeak-ng voice that phonemized the text, e.g. ``en-us``, ``en-gb-scotland``."""
    ops: list[dict] = field(default_factory=list)
    """Audio edits the teacher applied itself (e.g. the Kokoro teacher's tone edit), recorded first."""


@runtime_checkable
class Teacher(Protocol):
    """What the data engine needs from a teacher."""

    name: str
    """Short name recorded in each dataset record, e.g. ``piper:en_US-joe-medium``."""
    white_box: bool
    """True when the teacher gives per-token durations (audio edits of singing and rap need them)."""

    def settings(self) -> dict[str, Any]:
        """Everything that changes the teacher's output (hashed into each record's id)."""
        ...

    def default_voice(self) -> str:
        """Speaker name recorded when no voice is asked for."""
        ...

    def load(self) -> None:
        """Load the model now (otherwise the first synthesis does); raises when it cannot run."""
        ...

    def renders(self, tag_key: str) -> bool:
        """True when the teacher renders this tag itself (no audio edit needed)."""
        ...

    def synthesize(
        self, text: str, tags: list[Tag], voice: str | None
    ) -> tuple[np.ndarray, int, list[int] | None]:
        """Audio float32 [S], its sample rate in Hz, and per-token durations (hop 256) or None."""
        ...

    def render(self, text: str, tags: list[Tag], voice: str | None) -> Rendering:
        """:meth:`synthesize` plus the phonemes and language the durations refer to."""
        ...


def record_language(code: str, english_variant: str) -> str:
    """The espeak-ng voice a dataset record names (contract 4) for speech in language ``code``: the
    English accent (``english_variant``, e.g. ``en-us``) or the language's own (``cmn`` for Mandarin)."""
    from steptts.languages.base import LANGUAGES

    return english_variant if code == "en" else LANGUAGES[code].espeak_voice


def language_of(tags: list[Tag], default: str) -> str:
    """The espeak-ng voice that phonemizes text under ``tags`` (a language or accent tag), else default."""
    for tag in tags:
        if tag.kind in ("language", "accent") and tag.spec.espeak_voice:
            return tag.spec.espeak_voice
    return default


def speed_factor_of(tags: list[Tag]) -> float:
    """Tempo multiplier of the speed tag among ``tags`` (1.0 when none)."""
    for tag in tags:
        if tag.kind == "speed" and tag.spec.speed_factor:
            return float(tag.spec.speed_factor)
    return 1.0


def check_rendered(teacher: Teacher, tags: list[Tag]) -> None:
    """Raise TagError for the first of ``tags`` the teacher cannot render itself."""
    # A tag the teacher cannot render must never be dropped silently: the data engine edits those.
    for tag in tags:
        if not teacher.renders(tag.key):
            raise TagError(f"teacher '{teacher.name}' cannot render tag '{tag.key}' itself")
