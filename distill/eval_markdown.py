"""report.md of an evaluation (`steptts distill eval`): the tables, the bars and how it was measured,
written from the report (the content of report.json, :func:`distill.evaluate.run_eval`)."""

from __future__ import annotations

from typing import Any

from distill.eval_bars import BAR_SECTIONS
from distill.eval_groups import GROUP_NAMES, MIN_SPEECH_S
from distill.intelligibility import LANGUAGE_NAMES
from distill.report import fmt

_ASR_COLUMNS = (
    ("en", "whisper_wer", "WER (Whisper)"),
    ("en", "pocketsphinx_wer", "WER (pocketsphinx)"),
    ("zh", "whisper_cer", "CER (Whisper)"),
)
"""Intelligibility columns of the summary table: (language, figure, header)."""


def _teacher_roles(report: dict[str, Any]) -> list[str]:
    return [role for role in report["summary"] if role != "student"]


def _summary_table(report: dict[str, Any]) -> list[str]:
    """One row per system; intelligibility columns for the languages the lines hold."""
    summary, ratios = report["summary"], report["ratios"]
    asr = [
        (lang, key, head)
        for lang, key, head in _ASR_COLUMNS
        if key in summary["student"]["asr"].get(lang, {})
    ]
    headers = [
        "system",
        *(head for _, _, head in asr),
        "DNSMOS OVRL",
        "MCD (dB)",
        "F0 RMSE (cents)",
        "RTF (CPU)",
    ]
    headers += ["first chunk (ms)", "RTF / teacher RTF"]
    rows = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    for role, s in summary.items():
        ratio = {"student": ratios["rtf_student_over_teacher"], "teacher": 1.0}.get(role)
        cells = [f"{role}: {s['name']}", *(fmt(s["asr"].get(lang, {}).get(key)) for lang, key, _ in asr)]
        cells += [fmt(s["dnsmos_ovrl"], 2), fmt(s.get("mcd_db"), 2), fmt(s.get("f0_rmse_cents"), 1)]
        cells += [fmt(s["rtf"], 4), fmt(s["first_chunk_ms"], 1), fmt(ratio, 3)]
        rows.append("| " + " | ".join(cells) + " |")
    return rows


def _speed_table(report: dict[str, Any]) -> list[str]:
    """The student's speed against each teacher, on the lines both rendered."""
    rows = [
        (
            "| teacher | lines both rendered | student RTF | teacher RTF | student / teacher RTF | "
            "first chunk student / teacher (text) |"
        ),
        "|---|---|---|---|---|---|",
    ]
    for role, speed in report["ratios"]["by_teacher"].items():
        rows.append(
            f"| {role}: {report['summary'][role]['name']} | {speed['lines']} | {fmt(speed['student_rtf'], 4)} | "
            f"{fmt(speed['teacher_rtf'], 4)} | {fmt(speed['rtf_student_over_teacher'], 3)} | "
            f"{fmt(speed['first_chunk_student_over_teacher'], 3)} ({speed['first_chunk_language'] or '—'}) |"
        )
    return rows


def _group_table(report: dict[str, Any]) -> list[str]:
    """Per line group and system: lines rendered and spoken, Whisper's error rate, DNSMOS, RTF."""
    rows = [
        "| group | system | lines rendered | spoke | WER/CER (Whisper) | DNSMOS OVRL | RTF |",
        "|---|---|---|---|---|---|---|",
    ]
    for group, name in GROUP_NAMES.items():
        for role, s in report["summary"].items():
            figures = s["groups"].get(group)
            if figures is None:
                continue
            error = figures.get("whisper_wer", figures.get("whisper_cer"))
            rows.append(
                f"| {name} | {role} | {figures['rendered']}/{figures['lines']} | "
                f"{figures['spoken']}/{figures['lines']} | {fmt(error)} | {fmt(figures['dnsmos_ovrl'], 2)} | "
                f"{fmt(figures['rtf'], 4)} |"
            )
    return rows


def _bar_tables(report: dict[str, Any]) -> list[str]:
    """One heading and table per section of bars in the report (:data:`BAR_SECTIONS`)."""
    out: list[str] = []
    for key, heading in BAR_SECTIONS.items():
        if key not in report:
            continue
        out += [f"## {heading}", "", "| item | measured | bar | result |", "|---|---|---|---|"]
        for row in report[key]:
            out.append(
                f"| {row['item']} | {fmt(row['measured'], 4)} | {row['bar']} | {'pass' if row['pass'] else 'FAIL'} |"
            )
        out.append("")
    return out


def _line_error(figures: dict[str, Any]) -> Any:
    if figures.get("excluded"):
        return None
    return figures.get("whisper_wer", figures.get("whisper_cer"))


def _per_line_table(report: dict[str, Any]) -> list[str]:
    """One row per line: Whisper's error rate (WER for English, CER for Mandarin and mixed) of each system."""
    extra = [role for role in _teacher_roles(report) if role != "teacher"]
    heads = ["#", "group", "text", "student WER/CER", "teacher WER/CER", *(f"{r} WER/CER" for r in extra)]
    heads += ["student DNSMOS", "MCD (dB)", "F0 RMSE (cents)"]
    rows = ["| " + " | ".join(heads) + " |", "|" + "---|" * len(heads)]
    for entry in report["lines"]:
        snippet = entry["text"] if len(entry["text"]) <= 60 else entry["text"][:57] + "…"
        errors = [fmt(_line_error(entry[role]), 2) for role in ("student", "teacher", *extra)]
        rows.append(
            f"| {entry['index']} | {entry['group']} | {snippet.replace('|', '/')} | {' | '.join(errors)} | "
            f"{fmt(entry['student'].get('dnsmos_ovrl'), 2)} | {fmt(entry['mcd_db'], 2)} | "
            f"{fmt(entry['f0_rmse_cents'], 1)} |"
        )
    return rows


def _asr_how(settings: dict[str, Any], languages: list[str]) -> list[str]:
    """The "How" lines on intelligibility."""
    spoken = ", ".join(LANGUAGE_NAMES[lang] for lang in sorted(set(languages)))
    how = [
        (
            f"- ASR: {settings['asr']['whisper']}; lines in {spoken} (--language {settings['language']}). "
            "English WER after Whisper's EnglishTextNormalizer on both sides; Mandarin CER on Han characters, "
            "both sides in Simplified script (OpenCC t2s) with digits read as characters (cn2an); the "
            "reference is the line without its tags. Compare systems within one run: Whisper base is a weak "
            "judge, of Mandarin above all."
        )
    ]
    if "pocketsphinx" in settings["asr"]:
        how.append(
            f"- Second opinion: {settings['asr']['pocketsphinx']}; WER on `spoken_form(normalize_text(line))`."
        )
    return how


def format_report_md(report: dict[str, Any]) -> str:
    """report.md: summary table, speed against each teacher, line groups, the bars, settings, notes and
    per-line figures."""
    summary = report["summary"]
    settings = report["settings"]
    text = report["texts"]
    parts = [
        "# Evaluation report",
        "",
        (
            f"Texts: `{text['path']}` ({text['lines']} lines, sha256 `{text['sha256'][:16]}…`). "
            f"Created {report['created']}."
        ),
        "",
        *_summary_table(report),
        "",
        "## Student against each teacher (same lines)",
        "",
        *_speed_table(report),
        "",
        "## By line group",
        "",
        *_group_table(report),
        "",
        *_bar_tables(report),
        "## How",
        "",
        *_asr_how(settings, [entry["language"] for entry in report["lines"]]),
        f"- DNSMOS: {settings['dnsmos']}.",
        (
            f"- MCD: {settings['mcd']}. F0: {settings['f0']}; F0 RMSE over DTW-aligned frames voiced in both "
            f"(octave errors included; the student's median F0 bias is {fmt(summary['student'].get('f0_median_cents'), 1)} "
            f"cents and {fmt(summary['student'].get('f0_gross_error_rate'), 3)} of frames are off by more than 20 %)."
        ),
        (
            f"- Speed: onnxruntime CPU, threads: {settings['onnxruntime_threads']}; RTF = compute time / audio "
            f"duration over the lines a system rendered, after one warm-up (against a teacher: over the lines "
            f"both rendered); first chunk = median of {settings['latency_runs']} runs on a two-sentence text "
            f"in the run's language (a teacher that does not speak it: in one it speaks; the student is timed "
            f"on the same text). CPU cores: {settings['cpu_count']}, load average at start: "
            f"{', '.join(f'{x:.2f}' for x in settings['load_average_at_start'])}."
        ),
        (
            "- Groups: a line with Han characters and Latin letters is *mixed*, judged as Mandarin (CER on "
            f"its Han characters); it *spoke* when rendered with at least {MIN_SPEECH_S} s of sound."
        ),
        *(f"- Note: {note}." for note in report.get("notes", [])),
        f"- Command: `{' '.join(report['command'])}`",
        "",
    ]
    if "tags" in report:
        parts += [
            (
                f"Tag measurements: see `tags.md` ({report['tags']['passed']} bars passed, "
                f"{report['tags']['failed']} failed)."
            ),
            "",
        ]
    parts += ["## Per line", "", *_per_line_table(report), ""]
    return "\n".join(parts)
