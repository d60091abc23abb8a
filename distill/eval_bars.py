"""The acceptance bars an evaluation checks, each with the measured figure, the bar and pass/fail.

One place for all of them (:func:`bar_sections`), one report key per section (:data:`BAR_SECTIONS`):

- ``bars``: the distillation bars, student against *the* teacher (the first of ``--teacher``);
- ``bars_issue14``: the multilingual voice's table (issue 14), present when the lines hold Mandarin:
  Mandarin CER against Kokoro's (in the teacher's voice), Mandarin DNSMOS, English WER and DNSMOS
  against Piper's, speed against both in the same run, first chunk, and the mixed lines.

A bar whose teacher is not in the run, or whose figure is missing, fails and says so.
"""

from __future__ import annotations

import math
from typing import Any

from distill.report import bar

BAR_SECTIONS = {"bars": "The issue's bars", "bars_issue14": "Issue 14: the multilingual voice"}
"""Report key → Markdown heading of each section of bars."""
ISSUE14 = {
    "cer_margin": 0.03,  # Mandarin CER ≤ Kokoro's + this
    "zh_dnsmos": 3.2,  # Mandarin DNSMOS ≥ this
    "wer_margin": 0.01,  # English WER ≤ Piper's + this
    "dnsmos_margin": 0.05,  # English DNSMOS ≥ Piper's − this
    "rtf_kokoro": 10.0,  # RTF ≤ Kokoro's / this (same lines)
    "rtf_piper": 3.0,  # RTF ≤ Piper's / this (same lines)
    "first_chunk_ms": 50.0,  # first chunk ≤ this, ms
    "mixed_cer": 0.35,  # Han-character CER of the mixed lines ≤ this
}
"""Issue 14's bars."""


def issue_bars(student: dict[str, Any], teacher: dict[str, Any]) -> list[dict[str, Any]]:
    """The distillation bars, each with the measured figure and pass/fail; intelligibility by
    Whisper, for each language the lines hold (WER for English, CER for Mandarin)."""
    intelligible = []
    for language, metric in (("en", "wer"), ("zh", "cer")):
        if language not in student["asr"]:
            continue
        mine = student["asr"][language][f"whisper_{metric}"]
        theirs = teacher["asr"].get(language, {}).get(f"whisper_{metric}", math.nan)
        intelligible.append(
            bar(
                f"{metric.upper()} (student ≤ teacher + 0.05)",
                mine,
                f"≤ {theirs + 0.05:.3f}",
                mine <= theirs + 0.05,
            )
        )
    return [
        *intelligible,
        bar("DNSMOS OVRL (student ≥ 3.0)", student["dnsmos_ovrl"], "≥ 3.0", student["dnsmos_ovrl"] >= 3.0),
        bar(
            "CPU RTF (student ≤ teacher / 3)",
            student["rtf"],
            f"≤ {teacher['rtf'] / 3:.4f}",
            student["rtf"] <= teacher["rtf"] / 3.0,
        ),
        bar(
            "first-chunk latency, two sentences (≤ 100 ms)",
            student["first_chunk_ms"],
            "≤ 100 ms",
            student["first_chunk_ms"] <= 100.0,
        ),
    ]


def _group(summary: dict[str, Any], role: str | None, group: str, key: str) -> float:
    if role is None:
        return math.nan
    value = summary[role].get("groups", {}).get(group, {}).get(key)
    return math.nan if value is None else float(value)


def _against(
    item: str, measured: float, role: str | None, kind: str, reference: float, limit: float, below: bool
) -> dict[str, Any]:
    """A bar set by a teacher's figure: ``measured ≤ limit`` (``below``) or ``≥``; fails without it."""
    if role is None:
        return bar(item, measured, f"needs --teacher {kind} in the run", False)
    if not math.isfinite(reference):
        return bar(item, measured, f"{kind} has no figure here", False)
    sign = "≤" if below else "≥"
    return bar(item, measured, f"{sign} {limit:.4f}", measured <= limit if below else measured >= limit)


def issue14_bars(
    summary: dict[str, Any], roles: dict[str, str], by_teacher: dict[str, dict[str, Any]]
) -> list[dict[str, Any]]:
    """Issue 14's table (:data:`ISSUE14`). ``roles``: teacher kind → its role in ``summary``
    (``teacher``, ``teacher_piper``…); ``by_teacher``: role → the student's speed against it on the
    same lines (:func:`distill.evaluate.speed_against_teachers`)."""
    kokoro, piper = roles.get("kokoro"), roles.get("piper")
    groups = summary["student"].get("groups", {})
    rows = []
    if "zh" in groups:
        cer = _group(summary, "student", "zh", "whisper_cer")
        ref = _group(summary, kokoro, "zh", "whisper_cer")
        voice = f" {summary[kokoro]['voice']}" if kokoro and summary[kokoro].get("voice") else ""
        margin = ISSUE14["cer_margin"]
        item = f"Mandarin CER (≤ Kokoro{voice} + {margin:g})"
        rows.append(_against(item, cer, kokoro, "kokoro", ref, ref + margin, True))
        dnsmos, floor = _group(summary, "student", "zh", "dnsmos_ovrl"), ISSUE14["zh_dnsmos"]
        rows.append(bar(f"Mandarin DNSMOS (≥ {floor:g})", dnsmos, f"≥ {floor:g}", dnsmos >= floor))
    if "en" in groups:
        wer, ref = (
            _group(summary, "student", "en", "whisper_wer"),
            _group(summary, piper, "en", "whisper_wer"),
        )
        margin = ISSUE14["wer_margin"]
        rows.append(
            _against(f"English WER (≤ Piper + {margin:g})", wer, piper, "piper", ref, ref + margin, True)
        )
        dnsmos = _group(summary, "student", "en", "dnsmos_ovrl")
        ref, margin = _group(summary, piper, "en", "dnsmos_ovrl"), ISSUE14["dnsmos_margin"]
        item = f"English DNSMOS (≥ Piper − {margin:g})"
        rows.append(_against(item, dnsmos, piper, "piper", ref, ref - margin, False))
    for kind, role in (("kokoro", kokoro), ("piper", piper)):
        speed, divisor = by_teacher.get(role or "", {}), ISSUE14[f"rtf_{kind}"]
        mine, theirs = speed.get("student_rtf", math.nan), speed.get("teacher_rtf", math.nan)
        item = f"RTF (≤ {kind.capitalize()}'s / {divisor:g}, same lines)"
        rows.append(_against(item, mine, role, kind, theirs, theirs / divisor, True))
    first, most = summary["student"]["first_chunk_ms"], ISSUE14["first_chunk_ms"]
    rows.append(bar(f"first chunk (≤ {most:g} ms)", first, f"≤ {most:g} ms", first <= most))
    if "mixed" in groups:
        mixed, most = groups["mixed"], ISSUE14["mixed_cer"]
        rows.append(
            bar("mixed lines: all speak", mixed["spoken"], f"= {mixed['lines']} lines", mixed["all_speak"])
        )
        cer = _group(summary, "student", "mixed", "whisper_cer")
        rows.append(bar(f"mixed lines: Han-character CER (≤ {most:g})", cer, f"≤ {most:g}", cer <= most))
    return rows


def bar_sections(
    summary: dict[str, Any], roles: dict[str, str], by_teacher: dict[str, dict[str, Any]]
) -> dict[str, list[dict[str, Any]]]:
    """Every section of bars that applies (keys of :data:`BAR_SECTIONS`): ``bars`` always,
    ``bars_issue14`` when the lines hold Mandarin (a Mandarin or mixed group)."""
    sections = {"bars": issue_bars(summary["student"], summary["teacher"])}
    groups = summary["student"].get("groups", {})
    if "zh" in groups or "mixed" in groups:
        sections["bars_issue14"] = issue14_bars(summary, roles, by_teacher)
    return sections
