"""Evaluation: a student against its teacher, in one run (`steptts distill eval`).

The driver. It renders the held-out lines with both systems (:mod:`distill.systems`), then judges
them, all offline:

- intelligibility and quality: WER of pocketsphinx and DNSMOS OVRL (:mod:`distill.judges`);
- closeness to the teacher: mel-cepstral distortion (dB) and F0 RMSE (cents) after DTW alignment
  (:mod:`distill.mcd`);
- speed: real-time factor (compute time / audio duration) and first-chunk latency.

It writes report.json, report.md, plots/ and audio/; with ``--tags`` also the tag measurements
(:mod:`distill.tag_eval`).
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from distill.dsp import resample
from distill.judges import Dnsmos, SpeechRecognizer, reference_words, word_error_rate
from distill.mcd import all_pass_alpha, closeness
from distill.report import bar, fmt, nan_mean, read_texts, versions, write_json
from distill.systems import Rendered, TeacherSystem, make_student, resolve_voice
from steptts.errors import StepTTSError, TagError
from steptts.graph import SAMPLE_RATE_HZ as ANALYSIS_RATE_HZ
from steptts.voice import sha256_file

LATENCY_TEXT = "The quick brown fox jumps over the lazy dog. Then it ran back into the quiet forest."
"""Two sentences: the first chunk's latency is the first sentence's."""


@dataclass
class EvalConfig:
    """What one `steptts distill eval` run does."""

    texts_path: Path  # held-out lines: plain text (one a line) or TSV (id<TAB>text)
    out_dir: Path  # report.json, report.md, plots/, audio/
    voice: str | None = None  # student voice name or folder, or "teacher:piper"
    run: Path | None = None  # or a training run holding an exported voice
    limit: int | None = None  # evaluate only the first N lines
    threads: int | None = None  # onnxruntime intra-op threads for both systems (None: its default)
    variant: str = "auto"  # student graph: auto (fp32 on CPU), fp32 or int8
    tags: bool = False  # also measure each tag the voice declares (tags.json, tags.md)
    tag_lines: int = 8  # lines (their first sentence) rendered per tag
    tag_keys: list[str] | None = None  # measure only these tag keys (default: all the voice declares)
    melody: str = "C4:1 D4:1 E4:1 F4:1 G4:2"  # for singing with a melody
    bpm: float = 90.0  # tempo of that melody and of rap
    latency_text: str = LATENCY_TEXT
    """Text whose first chunk is timed (two sentences)."""
    latency_runs: int = 7  # first-chunk measurements after one warm-up; the median is reported
    plot_lines: int = 3  # lines drawn to plots/line_XX.png
    save_audio: bool = True  # audio/<role>/line_XX.wav
    command: list[str] = field(default_factory=list)
    """The command line, recorded in the report."""


def median_first_chunk_ms(system, text: str, runs: int) -> float:
    """Median first-chunk latency of ``text`` over ``runs`` calls, after one warm-up call, in ms."""
    system.first_chunk_s(text)
    return 1000.0 * statistics.median(system.first_chunk_s(text) for _ in range(max(1, runs)))


def issue_bars(student: dict[str, float], teacher: dict[str, float]) -> list[dict[str, Any]]:
    """The issue's acceptance bars, each with the measured figure and pass/fail."""
    return [
        bar(
            "WER (student ≤ teacher + 0.05)",
            student["wer"],
            f"≤ {teacher['wer'] + 0.05:.3f}",
            student["wer"] <= teacher["wer"] + 0.05,
        ),
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


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run_eval(config: EvalConfig) -> dict[str, Any]:
    """Evaluate the student against the Piper teacher; writes report.json, report.md and plots/.

    Returns the report (the content of report.json).
    """
    lines, voice = _check(config)
    out_dir = Path(config.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    load_average = os.getloadavg()
    systems = _systems(config, voice)
    rendered, latency_ms = _synthesize(systems, lines, config)
    recognizer = SpeechRecognizer()
    per_line = _judge(systems, lines, rendered, recognizer)
    summary = _summarize(systems, rendered, per_line, latency_ms)
    report = _report(config, voice, lines, load_average, systems, summary, per_line)
    _write_media(out_dir, config, systems, lines, rendered)
    if config.tags:
        report["tags"] = _tag_eval(config, systems["student"], lines, out_dir, recognizer)
    write_json(out_dir / "report.json", report)
    (out_dir / "report.md").write_text(format_report_md(report), encoding="utf-8")
    return report


def _check(config: EvalConfig) -> tuple[list[str], str]:
    """The lines and the voice to evaluate; a bad option fails now, not after the whole evaluation."""
    lines = read_texts(config.texts_path, config.limit)
    voice = resolve_voice(config.voice, config.run)
    if config.threads is not None and config.threads < 1:
        raise StepTTSError(f"--threads must be at least 1, got {config.threads}")
    if config.tags:
        from steptts.music import parse_melody
        from steptts.tags import resolve_tag

        parse_melody(config.melody, config.bpm)
        for key in config.tag_keys or []:
            resolve_tag(key)
    return lines, voice


def _systems(config: EvalConfig, voice: str) -> dict[str, Any]:
    """``{"student": …, "teacher": …}``; the plain teacher judged against itself shares one session."""
    student = make_student(voice, config.threads, config.variant)
    if config.tags and config.tag_keys:  # fail before the evaluation, not after it
        from steptts.tags import resolve_tag

        missing = [key for key in config.tag_keys if resolve_tag(key).key not in student.tag_keys]
        if missing:
            raise TagError(
                f"{student.name} does not declare tag(s) {', '.join(missing)}; it has: "
                f"{', '.join(student.tag_keys) or 'none'}"
            )
    plain_teacher = isinstance(student, TeacherSystem) and not student.edit_tags
    teacher = student if plain_teacher else TeacherSystem(threads=config.threads)
    return {"student": student, "teacher": teacher}


def _synthesize(
    systems: dict[str, Any], lines: list[str], config: EvalConfig
) -> tuple[dict[str, list[Rendered]], dict[str, float]]:
    """Every line by every system, timed, and the first-chunk latency of each system (ms).

    Each system is warmed up first (session creation, first-call allocations); then student and
    teacher alternate per line so that machine load hits both alike.
    """
    for system in systems.values():
        system.synthesize(lines[0])
    rendered: dict[str, list[Rendered]] = {role: [] for role in systems}
    for index, line in enumerate(lines):
        for role, system in systems.items():
            rendered[role].append(system.synthesize(line))
        _log(f"[eval] synthesized {index + 1}/{len(lines)}")
    latency_ms = {
        role: median_first_chunk_ms(system, config.latency_text, config.latency_runs)
        for role, system in systems.items()
    }
    return rendered, latency_ms


def _judge(
    systems: dict[str, Any],
    lines: list[str],
    rendered: dict[str, list[Rendered]],
    recognizer: SpeechRecognizer,
) -> list[dict[str, Any]]:
    """Per line: each system's words, WER, DNSMOS, duration and compute time, and the student's
    closeness to the teacher. Runs after all timing, so the judges never slow the systems down."""
    dnsmos = Dnsmos()
    per_line: list[dict[str, Any]] = []
    for index, line in enumerate(lines):
        reference = reference_words(line)
        entry: dict[str, Any] = {"index": index, "text": line, "reference": reference}
        for role in systems:
            item = rendered[role][index]
            hypothesis = recognizer.transcribe(item.audio, item.sample_rate_hz)
            entry[role] = {
                "hypothesis": hypothesis,
                "wer": word_error_rate([reference], [hypothesis]) if reference else None,
                "dnsmos_ovrl": dnsmos.ovrl(item.audio, item.sample_rate_hz),
                "duration_s": item.duration_s,
                "compute_s": item.compute_s,
                "rtf": item.compute_s / item.duration_s if item.duration_s > 0 else float("nan"),
            }
        student, teacher = rendered["student"][index], rendered["teacher"][index]
        near = closeness(
            resample(student.audio, student.sample_rate_hz, ANALYSIS_RATE_HZ),
            resample(teacher.audio, teacher.sample_rate_hz, ANALYSIS_RATE_HZ),
            ANALYSIS_RATE_HZ,
        )
        entry.update(
            mcd_db=near.mcd_db,
            f0_rmse_cents=near.f0_rmse_cents,
            f0_median_cents=near.f0_median_cents,
            f0_gross_error_rate=near.f0_gross_error_rate,
            f0_frames=near.voiced_frames,
        )
        per_line.append(entry)
        _log(f"[eval] judged {index + 1}/{len(lines)}")
    return per_line


def _summarize(
    systems: dict[str, Any],
    rendered: dict[str, list[Rendered]],
    per_line: list[dict[str, Any]],
    latency_ms: dict[str, float],
) -> dict[str, dict[str, Any]]:
    """Corpus figures per system (WER over all scored words, means of the rest)."""
    scored = [e for e in per_line if e["reference"]]
    summary: dict[str, dict[str, Any]] = {}
    for role, system in systems.items():
        items = rendered[role]
        audio_s = sum(item.duration_s for item in items)
        compute_s = sum(item.compute_s for item in items)
        summary[role] = {
            "name": system.name,
            "wer": word_error_rate([e["reference"] for e in scored], [e[role]["hypothesis"] for e in scored]),
            "dnsmos_ovrl": nan_mean([e[role]["dnsmos_ovrl"] for e in per_line]),
            "rtf": compute_s / audio_s if audio_s > 0 else float("nan"),
            "first_chunk_ms": latency_ms[role],
            "audio_s": audio_s,
            "compute_s": compute_s,
        }
    for key in ("mcd_db", "f0_rmse_cents", "f0_median_cents", "f0_gross_error_rate"):
        summary["student"][key] = nan_mean([e[key] for e in per_line])
    return summary


def _report(
    config: EvalConfig,
    voice: str,
    lines: list[str],
    load_average: tuple[float, float, float],
    systems: dict[str, Any],
    summary: dict[str, dict[str, Any]],
    per_line: list[dict[str, Any]],
) -> dict[str, Any]:
    """The content of report.json."""
    settings = {
        k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(config).items() if k != "command"
    }
    return {
        "command": config.command or list(sys.argv),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "texts": {
            "path": str(config.texts_path), "sha256": sha256_file(config.texts_path), "lines": len(lines)
        },
        "settings": {
            **settings,
            "voice_resolved": voice,
            "onnxruntime_threads": config.threads if config.threads is not None else "onnxruntime default",
            "cpu_count": os.cpu_count(),
            "load_average_at_start": list(load_average),
            "asr": "pocketsphinx en-us (bundled), 16 kHz int16",
            "dnsmos": "speechmos dnsmos_models/sig_bak_ovr.onnx (OVRL, non-personalized), 16 kHz",
            "mcd": "mel-cepstrum c1..c24 (SPTK convention, all-pass alpha "
            f"{all_pass_alpha(ANALYSIS_RATE_HZ)}) from WORLD cheaptrick envelopes, 10 ms frames, "
            "silence trimmed, DTW-aligned",
            "f0": "pYIN-style tracker (YIN candidates, Beta(2,18) threshold prior, Viterbi), 10 ms frames, "
            "50–1100 Hz",
        },
        "systems": {role: system.describe() for role, system in systems.items()},
        "versions": versions(),
        "summary": summary,
        "ratios": {
            "rtf_student_over_teacher": summary["student"]["rtf"] / summary["teacher"]["rtf"],
            "first_chunk_student_over_teacher": summary["student"]["first_chunk_ms"]
            / summary["teacher"]["first_chunk_ms"],
        },
        "bars": issue_bars(summary["student"], summary["teacher"]),
        "lines": per_line,
    }


def _write_media(
    out_dir: Path,
    config: EvalConfig,
    systems: dict[str, Any],
    lines: list[str],
    rendered: dict[str, list[Rendered]],
) -> None:
    """audio/<role>/line_XX.wav and plots/line_XX.png."""
    from distill import plots

    if config.save_audio:
        _save_audio(out_dir / "audio", rendered)
    student, teacher = systems["student"], systems["teacher"]
    for index in range(min(config.plot_lines, len(lines))):
        plots.plot_line_pair(
            out_dir / "plots" / f"line_{index:02d}.png",
            [
                (student.name, rendered["student"][index].audio, student.sample_rate_hz),
                (teacher.name, rendered["teacher"][index].audio, teacher.sample_rate_hz),
            ],
            title=lines[index],
        )


def _tag_eval(config: EvalConfig, student, lines: list[str], out_dir: Path, recognizer) -> dict[str, Any]:
    """tags.json and tags.md; returns what report.json says of them."""
    from distill.tag_eval import TagEvalConfig, run_tag_eval

    tag_config = TagEvalConfig(
        lines=config.tag_lines, melody=config.melody, bpm=config.bpm, keys=config.tag_keys
    )
    tag_report = run_tag_eval(student, lines, out_dir, tag_config, recognizer=recognizer)
    return {"file": "tags.json", "passed": tag_report["passed"], "failed": tag_report["failed"]}


def _save_audio(folder: Path, rendered: dict[str, list[Rendered]]) -> None:
    import soundfile

    for role, items in rendered.items():
        (folder / role).mkdir(parents=True, exist_ok=True)
        for index, item in enumerate(items):
            soundfile.write(str(folder / role / f"line_{index:02d}.wav"), item.audio, item.sample_rate_hz)


def format_report_md(report: dict[str, Any]) -> str:
    """report.md: summary table, the issue's bars, settings and per-line figures."""
    summary, ratios = report["summary"], report["ratios"]
    rows = [
        "| system | WER | DNSMOS OVRL | MCD (dB) | F0 RMSE (cents) | RTF (CPU) | first chunk (ms) | RTF / teacher RTF |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for role in ("student", "teacher"):
        s = summary[role]
        ratio = ratios["rtf_student_over_teacher"] if role == "student" else 1.0
        rows.append(
            f"| {role}: {s['name']} | {fmt(s['wer'])} | {fmt(s['dnsmos_ovrl'], 2)} | "
            f"{fmt(s.get('mcd_db'), 2)} | {fmt(s.get('f0_rmse_cents'), 1)} | {fmt(s['rtf'], 4)} | "
            f"{fmt(s['first_chunk_ms'], 1)} | {fmt(ratio, 3)} |"
        )
    bars = ["| item | measured | bar | result |", "|---|---|---|---|"]
    for row in report["bars"]:
        bars.append(
            f"| {row['item']} | {fmt(row['measured'], 4)} | {row['bar']} | "
            f"{'pass' if row['pass'] else 'FAIL'} |"
        )
    settings = report["settings"]
    text = report["texts"]
    per_line = [
        "| # | text | student WER | teacher WER | student DNSMOS | MCD (dB) | F0 RMSE (cents) |",
        "|---|---|---|---|---|---|---|",
    ]
    for entry in report["lines"]:
        snippet = entry["text"] if len(entry["text"]) <= 60 else entry["text"][:57] + "…"
        per_line.append(
            f"| {entry['index']} | {snippet.replace('|', '/')} | {fmt(entry['student']['wer'], 2)} | "
            f"{fmt(entry['teacher']['wer'], 2)} | {fmt(entry['student']['dnsmos_ovrl'], 2)} | "
            f"{fmt(entry['mcd_db'], 2)} | {fmt(entry['f0_rmse_cents'], 1)} |"
        )
    parts = [
        "# Evaluation report",
        "",
        (
            f"Texts: `{text['path']}` ({text['lines']} lines, sha256 `{text['sha256'][:16]}…`). "
            f"Created {report['created']}."
        ),
        "",
        *rows,
        "",
        "## The issue's bars",
        "",
        *bars,
        "",
        "## How",
        "",
        f"- ASR: {settings['asr']}; WER on `spoken_form(normalize_text(line))`.",
        f"- DNSMOS: {settings['dnsmos']}.",
        (
            f"- MCD: {settings['mcd']}. F0: {settings['f0']}; F0 RMSE over DTW-aligned frames voiced in both "
            f"(octave errors included; the student's median F0 bias is {fmt(summary['student'].get('f0_median_cents'), 1)} "
            f"cents and {fmt(summary['student'].get('f0_gross_error_rate'), 3)} of frames are off by more than 20 %)."
        ),
        (
            f"- Speed: onnxruntime CPU, threads: {settings['onnxruntime_threads']}; RTF = compute time / audio "
            f"duration over all lines after one warm-up; first chunk = median of {settings['latency_runs']} runs "
            f"on a two-sentence text. CPU cores: {settings['cpu_count']}, load average at start: "
            f"{', '.join(f'{x:.2f}' for x in settings['load_average_at_start'])}."
        ),
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
    parts += ["## Per line", "", *per_line, ""]
    return "\n".join(parts)
