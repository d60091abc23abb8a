"""Groups of an evaluation's lines (English, Mandarin, mixed) and what each system did in each group.

A line's group is read from its body (tags removed): ``mixed`` when it holds Han characters and Latin
letters (我刚买了一台新的 iPhone。), ``zh`` when it holds Han characters only, else ``en``. A mixed line
is judged as Mandarin (Whisper in Chinese, CER on its Han characters: the Latin words are not
scored) and reported as its own group, with the "all speak" check: every line rendered by the
system and holding at least :data:`MIN_SPEECH_S` of sound.

A system speaks a line when it speaks every language the line needs (:func:`line_needs`); a line it
cannot speak (Piper on Han text) is left out of its column with a note, never an error.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import regex

from distill.asr_scores import METRIC, error_rate
from distill.intelligibility import line_body
from distill.measures import speech_duration_s
from distill.report import nan_mean
from steptts.languages.mandarin import has_han

GROUPS = ("en", "zh", "mixed")
"""Line groups, in report order."""
GROUP_NAMES = {"en": "English", "zh": "Mandarin", "mixed": "mixed (Han + Latin)"}
"""How a report names each group."""
GROUP_LANGUAGE = {"en": "en", "zh": "zh", "mixed": "zh"}
"""The judged language (Whisper's, and its error rate) of each group."""
MIN_SPEECH_S = 0.3
"""Least sound (leading and trailing silence trimmed) for a rendering to count as spoken, seconds."""

_LATIN = regex.compile(r"\p{Script=Latin}")
_LANGUAGE_WORDS = {"en": "English", "zh": "Mandarin"}


def line_needs(line: str) -> set[str]:
    """The judged languages a line's body needs: ``zh`` for Han characters, ``en`` for Latin letters
    (and for a line with neither, read by the English frontend)."""
    body = line_body(line)
    needs = {"zh"} if has_han(body) else set()
    if _LATIN.search(body) or not needs:
        needs.add("en")
    return needs


def line_group(line: str) -> str:
    """``mixed``, ``zh`` or ``en`` (see the module's doc)."""
    needs = line_needs(line)
    return "mixed" if needs == {"en", "zh"} else ("zh" if "zh" in needs else "en")


def exclusion_note(system_name: str, languages: Sequence[str], needs: set[str]) -> str:
    """Why a system left a line out: the languages it needs that the system does not speak."""
    missing = " and ".join(_LANGUAGE_WORDS.get(code, code) for code in sorted(needs - set(languages)))
    return f"{system_name} does not speak {missing}: line left out of its column"


def spoke(audio: np.ndarray, sample_rate_hz: int) -> tuple[bool, float]:
    """(whether the rendering holds speech, seconds of sound after trimming silence)."""
    if audio.size == 0:
        return False, 0.0
    sound_s = speech_duration_s(audio, sample_rate_hz)
    return sound_s >= MIN_SPEECH_S, sound_s


def summarize_groups(per_line: list[dict[str, Any]], role: str) -> dict[str, dict[str, Any]]:
    """One system's figures per group present in the lines: ``{group: {lines, rendered, spoken,
    all_speak, whisper_wer|whisper_cer, dnsmos_ovrl, rtf}}``.

    ``per_line`` entries hold ``text``, ``group`` and, under ``role``, :meth:`Intelligibility.hear`'s
    figures plus ``speaks``, ``dnsmos_ovrl``, ``duration_s`` and ``compute_s`` or, for a line the
    system left out, ``excluded``. Error rates are over the lines it rendered; ``all_speak`` needs
    every line of the group rendered and spoken.
    """
    out: dict[str, dict[str, Any]] = {}
    for group in GROUPS:
        entries = [e for e in per_line if e["group"] == group]
        if not entries:
            continue
        done = [e for e in entries if not e[role].get("excluded")]
        language = GROUP_LANGUAGE[group]
        audio_s = sum(e[role]["duration_s"] for e in done)
        spoken = sum(bool(e[role]["speaks"]) for e in done)
        out[group] = {
            "lines": len(entries),
            "rendered": len(done),
            "spoken": spoken,
            "all_speak": spoken == len(entries),
            f"whisper_{METRIC[language]}": error_rate(
                language, [line_body(e["text"]) for e in done], [e[role]["whisper"] for e in done]
            )
            if done
            else float("nan"),
            "dnsmos_ovrl": nan_mean([e[role]["dnsmos_ovrl"] for e in done]),
            "rtf": sum(e[role]["compute_s"] for e in done) / audio_s if audio_s > 0 else float("nan"),
        }
    return out


def shared_rtf(per_line: list[dict[str, Any]], role: str, other: str) -> tuple[int, float, float]:
    """(lines both rendered, RTF of ``role`` on them, RTF of ``other`` on them): speed on the same lines."""
    both = [e for e in per_line if not e[role].get("excluded") and not e[other].get("excluded")]

    def rtf(who: str) -> float:
        audio_s = sum(e[who]["duration_s"] for e in both)
        return sum(e[who]["compute_s"] for e in both) / audio_s if audio_s > 0 else float("nan")

    return len(both), rtf(role), rtf(other)
