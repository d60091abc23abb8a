"""Evaluation: a student against its teacher, in one run (`steptts distill eval`).

The driver. It renders the held-out lines with both systems (:mod:`distill.systems`), then judges
them, all offline:

- intelligibility: Whisper base's English word error rate and Mandarin character error rate, with
  pocketsphinx's English WER as a second opinion (:mod:`distill.intelligibility`); a line's language is
  ``--language`` or its script, and the teacher is chosen by language (Piper for English, Kokoro-82M
  for Mandarin) unless ``--teacher`` names one or several (``kokoro,piper``: the first is *the*
  teacher, each is measured side by side); lines are also grouped as English, Mandarin and mixed
  (:mod:`distill.eval_groups`), and a line a teacher cannot speak is left out of its column;
- quality: DNSMOS OVRL (:mod:`distill.judges`);
- closeness to the teacher: mel-cepstral distortion (dB) and F0 RMSE (cents) after DTW alignment
  (:mod:`distill.mcd`);
- speed: real-time factor (compute time / audio duration) and first-chunk latency.

It writes report.json, report.md (:mod:`distill.eval_markdown`), plots/ and audio/ with the acceptance
bars (:mod:`distill.eval_bars`);
with ``--tags`` also the tag measurements (:mod:`distill.tag_eval`).
"""

from __future__ import annotations

import hashlib
import os
import statistics
import sys
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from distill.dsp import resample
from distill.eval_bars import bar_sections
from distill.eval_groups import (
    exclusion_note,
    line_group,
    line_needs,
    shared_rtf,
    spoke,
    summarize_groups,
)
from distill.eval_markdown import format_report_md
from distill.intelligibility import Intelligibility, line_languages, summarize_heard
from distill.judges import Dnsmos
from distill.mcd import all_pass_alpha, closeness
from distill.report import nan_mean, read_texts, versions, write_json
from distill.systems import (
    DEFAULT_TEACHER,
    Rendered,
    TeacherSystem,
    kokoro_voice_for,
    make_student,
    parse_teachers,
    resolve_voice,
)
from steptts.errors import StepTTSError, TagError
from steptts.graph import SAMPLE_RATE_HZ as ANALYSIS_RATE_HZ
from steptts.voice import sha256_file

LATENCY_TEXT = "The quick brown fox jumps over the lazy dog. Then it ran back into the quiet forest."
"""Two sentences: the first chunk's latency is the first sentence's."""
LATENCY_TEXTS = {"en": LATENCY_TEXT, "zh": "今天的天气很好，我们去公园散步吧。然后一起回家吃晚饭。"}
"""The timed text by the run's language (:func:`run_language`)."""


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
    latency_text: str | None = None
    """Text whose first chunk is timed (two sentences); None: :data:`LATENCY_TEXTS` of the run's language."""
    language: str = "auto"
    """Language of the lines: "en", "zh", or "auto" (each line by its script)."""
    teacher: str | None = None
    """Teacher kind(s), comma-separated (:data:`distill.systems.EVAL_TEACHERS`; ``kokoro,piper``: the
    first is the teacher, every one is measured); None: by language (DEFAULT_TEACHER)."""
    speaker: str | None = None
    """The student voice's speaker (``TTS(speaker=…)``); None: its first."""
    teacher_voice: str | None = None
    """Kokoro's voice (``jm_kumo``, ``jf_gongitsune``…); None: ``speaker`` when it names a Kokoro voice,
    else Kokoro's default."""
    latency_runs: int = 7  # first-chunk measurements after one warm-up; the median is reported
    plot_lines: int = 3  # lines drawn to plots/line_XX.png
    save_audio: bool = True  # audio/<role>/line_XX.wav
    more_texts: list[Path] = field(default_factory=list)
    """Further held-out files, read after ``texts_path`` (``--texts A --texts B``); ``limit`` applies to each."""
    command: list[str] = field(default_factory=list)
    """The command line, recorded in the report."""


def median_first_chunk_ms(system, text: str, runs: int) -> float:
    """Median first-chunk latency of ``text`` over ``runs`` calls, after one warm-up call, in ms."""
    system.first_chunk_s(text)
    return 1000.0 * statistics.median(system.first_chunk_s(text) for _ in range(max(1, runs)))


def run_language(languages: list[str]) -> str:
    """The language that picks a run's teacher and timed text: "zh" when any line is Mandarin."""
    return "zh" if "zh" in languages else "en"


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run_eval(config: EvalConfig) -> dict[str, Any]:
    """Evaluate the student against its teacher(s); writes report.json, report.md and plots/.

    Returns the report (the content of report.json).
    """
    lines, voice, kinds = _check(config)
    languages = line_languages(lines, config.language)
    # Systems first: an unknown speaker or voice fails before the judges load and before any rendering.
    systems = _systems(config, voice, run_language(languages), kinds)
    judges = Intelligibility()  # loaded before the synthesis, so that a missing model fails first
    out_dir = Path(config.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    load_average = os.getloadavg()
    rendered, latency_ms = _synthesize(systems, lines, config, run_language(languages))
    per_line = _judge(systems, lines, languages, rendered, judges)
    summary = _summarize(systems, rendered, per_line, latency_ms)
    report = _report(config, voice, lines, load_average, systems, summary, per_line, judges)
    _write_media(out_dir, config, systems, lines, rendered)
    if config.tags:
        report["tags"] = _tag_eval(config, systems["student"], lines, out_dir, judges)
    write_json(out_dir / "report.json", report)
    (out_dir / "report.md").write_text(format_report_md(report), encoding="utf-8")
    return report


def _check(config: EvalConfig) -> tuple[list[str], str, list[str] | None]:
    """The lines, the voice and the teacher kinds to evaluate; a bad option fails now, not after the
    whole evaluation."""
    lines = [line for path in _text_files(config) for line in read_texts(path, config.limit)]
    voice = resolve_voice(config.voice, config.run)
    if config.threads is not None and config.threads < 1:
        raise StepTTSError(f"--threads must be at least 1, got {config.threads}")
    kinds = parse_teachers(config.teacher)
    if config.teacher_voice is not None:
        from distill.kokoro_teacher import KOKORO_VOICES

        if config.teacher_voice not in KOKORO_VOICES:
            raise StepTTSError(
                f"unknown --teacher-voice '{config.teacher_voice}'; Kokoro's voices: {', '.join(KOKORO_VOICES)}"
            )
        if "kokoro" not in (kinds or []) and not voice.startswith("teacher:kokoro"):
            raise StepTTSError("--teacher-voice picks Kokoro's voice: add kokoro to --teacher")
    line_languages(lines, config.language)  # a bad --language fails now
    if config.tags:
        from steptts.music import parse_melody
        from steptts.tags import resolve_tag

        parse_melody(config.melody, config.bpm)
        for key in config.tag_keys or []:
            resolve_tag(key)
    return lines, voice, kinds


def _text_files(config: EvalConfig) -> list[Path]:
    return [Path(config.texts_path), *(Path(p) for p in config.more_texts)]


def texts_record(config: EvalConfig, line_count: int) -> dict[str, Any]:
    """report.json's ``texts``: ``path`` (the files, comma-separated), ``sha256`` (of the file, or for
    several, of their sha256s joined by newlines), ``lines`` evaluated and, per file, ``files``."""
    files = [{"path": str(path), "sha256": sha256_file(path)} for path in _text_files(config)]
    digest = files[0]["sha256"]
    if len(files) > 1:
        digest = hashlib.sha256("\n".join(f["sha256"] for f in files).encode()).hexdigest()
    return {
        "path": ", ".join(f["path"] for f in files),
        "sha256": digest,
        "lines": line_count,
        "files": files,
    }


def teacher_voice(config: EvalConfig) -> str | None:
    """Kokoro's voice in this run (:func:`distill.systems.kokoro_voice_for`)."""
    return kokoro_voice_for(config.speaker, config.teacher_voice)


def teacher_role(index: int, kind: str) -> str:
    """The report key of the ``index``-th teacher: ``teacher`` for the first, ``teacher_<kind>`` after."""
    return "teacher" if index == 0 else f"teacher_{kind}"


def _systems(config: EvalConfig, voice: str, language: str, kinds: list[str] | None) -> dict[str, Any]:
    """``{"student": …, "teacher": …, "teacher_<kind>": …}`` for lines in ``language``; a plain
    teacher judged against itself shares one session."""
    kokoro_voice = teacher_voice(config)
    student = make_student(voice, config.threads, config.variant, language, config.speaker, kokoro_voice)
    if config.tags and config.tag_keys:  # fail before the evaluation, not after it
        from steptts.tags import resolve_tag

        missing = [key for key in config.tag_keys if resolve_tag(key).key not in student.tag_keys]
        if missing:
            raise TagError(
                f"{student.name} does not declare tag(s) {', '.join(missing)}; it has: "
                f"{', '.join(student.tag_keys) or 'none'}"
            )
    systems: dict[str, Any] = {"student": student}
    for index, kind in enumerate(kinds or [DEFAULT_TEACHER[language]]):
        own_voice = kokoro_voice if kind == "kokoro" else None
        plain_teacher = (
            isinstance(student, TeacherSystem)
            and not student.edit_tags
            and student.kind == kind
            and (own_voice is None or student.voice == own_voice)
        )
        systems[teacher_role(index, kind)] = (
            student
            if plain_teacher
            else TeacherSystem(threads=config.threads, kind=kind, language=language, voice=own_voice)
        )
    return systems


def latency_language(system, language: str) -> str | None:
    """The language of the text a system's first chunk is timed on: the run's when it speaks it, else
    the first it speaks (Piper in a Mandarin run: English)."""
    if system.speaks({language}):
        return language
    return next((code for code in LATENCY_TEXTS if system.speaks({code})), None)


def _latency(systems: dict[str, Any], config: EvalConfig, language: str) -> dict[str, dict[str, float]]:
    """First-chunk latency (ms) per system and timed language: each teacher on its
    :func:`latency_language`, the student on the run's language and on every teacher's (so that a
    ratio compares the same text)."""
    if config.latency_text:
        return {
            role: {language: median_first_chunk_ms(system, config.latency_text, config.latency_runs)}
            for role, system in systems.items()
        }
    wanted = {latency_language(system, language) for system in systems.values()}
    latency: dict[str, dict[str, float]] = {}
    for role, system in systems.items():
        codes = (
            sorted(c for c in wanted if c and system.speaks({c}))
            if role == "student"
            else [latency_language(system, language)]
        )
        latency[role] = {
            code: median_first_chunk_ms(system, LATENCY_TEXTS[code], config.latency_runs)
            for code in codes
            if code is not None
        }
    return latency


def _synthesize(
    systems: dict[str, Any], lines: list[str], config: EvalConfig, language: str
) -> tuple[dict[str, list[Rendered | None]], dict[str, dict[str, float]]]:
    """Every line by every system that speaks it (None where it does not), timed, and each system's
    first-chunk latency (ms, per timed language).

    Each system is warmed up first (session creation, first-call allocations) on the first line it
    speaks; then the systems alternate per line so that machine load hits them alike.
    """
    needs = [line_needs(line) for line in lines]
    for system in systems.values():
        first = next((line for line, need in zip(lines, needs) if system.speaks(need)), None)
        if first is not None:
            system.synthesize(first)
    rendered: dict[str, list[Rendered | None]] = {role: [] for role in systems}
    for index, line in enumerate(lines):
        for role, system in systems.items():
            rendered[role].append(system.synthesize(line) if system.speaks(needs[index]) else None)
        _log(f"[eval] synthesized {index + 1}/{len(lines)}")
    return rendered, _latency(systems, config, language)


def _judge(
    systems: dict[str, Any],
    lines: list[str],
    languages: list[str],
    rendered: dict[str, list[Rendered | None]],
    judges: Intelligibility,
) -> list[dict[str, Any]]:
    """Per line: its language and group, each system's words heard and error rates
    (:meth:`Intelligibility.hear`), DNSMOS, whether it spoke, duration and compute time (or why the
    system left the line out), and the student's closeness to the teacher. Runs after all timing, so
    the judges never slow the systems down."""
    dnsmos = Dnsmos()
    per_line: list[dict[str, Any]] = []
    for index, line in enumerate(lines):
        needs = line_needs(line)
        entry: dict[str, Any] = {
            "index": index,
            "text": line,
            "language": languages[index],
            "group": line_group(line),
        }
        verdicts: list[tuple[Rendered, dict[str, Any]]] = []
        for role, system in systems.items():
            item = rendered[role][index]
            if item is None:
                entry[role] = {"excluded": True, "note": exclusion_note(system.name, system.languages, needs)}
                continue
            # The same audio (a teacher judged against itself) is heard once: the judges are deterministic.
            verdict = next((v for other, v in verdicts if _same_audio(other, item)), None)
            if verdict is None:
                speaks, sound_s = spoke(item.audio, item.sample_rate_hz)
                # An empty rendering is heard as a moment of silence (the ASR needs some audio).
                heard = item.audio if item.audio.size else np.zeros(item.sample_rate_hz // 10, np.float32)
                verdict = {
                    **judges.hear(line, languages[index], heard, item.sample_rate_hz),
                    "dnsmos_ovrl": dnsmos.ovrl(item.audio, item.sample_rate_hz) if item.audio.size else None,
                    "speaks": speaks,
                    "speech_s": sound_s,
                }
                verdicts.append((item, verdict))
            entry[role] = {
                **verdict,
                "duration_s": item.duration_s,
                "compute_s": item.compute_s,
                "rtf": item.compute_s / item.duration_s if item.duration_s > 0 else float("nan"),
            }
        entry.update(_closeness(rendered["student"][index], rendered["teacher"][index]))
        per_line.append(entry)
        _log(f"[eval] judged {index + 1}/{len(lines)}")
    return per_line


def _closeness(student: Rendered | None, teacher: Rendered | None) -> dict[str, float]:
    """MCD and F0 figures of the student's rendering against the teacher's (NaN when one is missing)."""
    if student is None or teacher is None or not student.audio.size or not teacher.audio.size:
        nan = float("nan")
        return {
            "mcd_db": nan,
            "f0_rmse_cents": nan,
            "f0_median_cents": nan,
            "f0_gross_error_rate": nan,
            "f0_frames": 0,
        }
    near = closeness(
        resample(student.audio, student.sample_rate_hz, ANALYSIS_RATE_HZ),
        resample(teacher.audio, teacher.sample_rate_hz, ANALYSIS_RATE_HZ),
        ANALYSIS_RATE_HZ,
    )
    return {
        "mcd_db": near.mcd_db,
        "f0_rmse_cents": near.f0_rmse_cents,
        "f0_median_cents": near.f0_median_cents,
        "f0_gross_error_rate": near.f0_gross_error_rate,
        "f0_frames": near.voiced_frames,
    }


def _same_audio(a: Rendered, b: Rendered) -> bool:
    return a.sample_rate_hz == b.sample_rate_hz and np.array_equal(a.audio, b.audio)


def _summarize(
    systems: dict[str, Any],
    rendered: dict[str, list[Rendered | None]],
    per_line: list[dict[str, Any]],
    latency_ms: dict[str, dict[str, float]],
) -> dict[str, dict[str, Any]]:
    """Corpus figures per system over the lines it rendered: error rates per language over all scored
    words or characters (``asr``; ``wer`` and ``cer`` are Whisper's, NaN without lines of that
    language), per group (``groups``, :func:`distill.eval_groups.summarize_groups`), means of the rest."""
    language = run_language([e["language"] for e in per_line])
    summary: dict[str, dict[str, Any]] = {}
    for role, system in systems.items():
        done = [e for e in per_line if not e[role].get("excluded")]
        items = [item for item in rendered[role] if item is not None]
        audio_s = sum(item.duration_s for item in items)
        compute_s = sum(item.compute_s for item in items)
        asr = summarize_heard(
            [e["text"] for e in done], [e["language"] for e in done], [e[role] for e in done]
        )
        timed = latency_ms[role]
        summary[role] = {
            "name": system.name,
            "asr": asr,
            "wer": asr.get("en", {}).get("whisper_wer", float("nan")),
            "cer": asr.get("zh", {}).get("whisper_cer", float("nan")),
            "dnsmos_ovrl": nan_mean([e[role]["dnsmos_ovrl"] for e in done]),
            "rtf": compute_s / audio_s if audio_s > 0 else float("nan"),
            "first_chunk_ms": timed.get(language, next(iter(timed.values()), float("nan"))),
            "first_chunk_ms_by_language": timed,
            "audio_s": audio_s,
            "compute_s": compute_s,
            "lines_rendered": len(done),
            "lines_excluded": len(per_line) - len(done),
            "groups": summarize_groups(per_line, role),
            "voice": getattr(system, "voice", None),
        }
    for key in ("mcd_db", "f0_rmse_cents", "f0_median_cents", "f0_gross_error_rate"):
        summary["student"][key] = nan_mean([e[key] for e in per_line])
    return summary


def speed_against_teachers(
    systems: dict[str, Any], summary: dict[str, dict[str, Any]], per_line: list[dict[str, Any]]
) -> dict[str, dict[str, Any]]:
    """Per teacher role: the student's RTF and the teacher's on the lines both rendered, their ratio,
    and the first-chunk ratio on the text the teacher was timed on."""
    out: dict[str, dict[str, Any]] = {}
    for role, system in systems.items():
        if role == "student":
            continue
        lines, student_rtf, teacher_rtf = shared_rtf(per_line, "student", role)
        timed = summary[role]["first_chunk_ms_by_language"]
        code, teacher_ms = next(iter(timed.items()), (None, float("nan")))
        student_ms = summary["student"]["first_chunk_ms_by_language"].get(code, float("nan"))
        out[role] = {
            "kind": getattr(system, "kind", None),
            "lines": lines,
            "student_rtf": student_rtf,
            "teacher_rtf": teacher_rtf,
            "rtf_student_over_teacher": student_rtf / teacher_rtf if teacher_rtf > 0 else float("nan"),
            "first_chunk_language": code,
            "first_chunk_student_over_teacher": student_ms / teacher_ms if teacher_ms > 0 else float("nan"),
        }
    return out


def exclusion_notes(systems: dict[str, Any], per_line: list[dict[str, Any]]) -> list[str]:
    """One note per system that left lines out: how many and why."""
    notes = []
    for role in systems:
        left = [e for e in per_line if e[role].get("excluded")]
        if left:
            notes.append(f"{left[0][role]['note']} ({len(left)} of {len(per_line)} lines)")
    return notes


def _report(
    config: EvalConfig,
    voice: str,
    lines: list[str],
    load_average: tuple[float, float, float],
    systems: dict[str, Any],
    summary: dict[str, dict[str, Any]],
    per_line: list[dict[str, Any]],
    judges: Intelligibility,
) -> dict[str, Any]:
    """The content of report.json."""
    settings = {
        k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(config).items() if k != "command"
    }
    by_teacher = speed_against_teachers(systems, summary, per_line)
    roles = {getattr(system, "kind", ""): role for role, system in systems.items() if role != "student"}
    return {
        "command": config.command or list(sys.argv),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "texts": texts_record(config, len(lines)),
        "settings": {
            **settings,
            "voice_resolved": voice,
            "teacher_voice_resolved": teacher_voice(config),
            "onnxruntime_threads": config.threads if config.threads is not None else "onnxruntime default",
            "cpu_count": os.cpu_count(),
            "load_average_at_start": list(load_average),
            "asr": judges.describe(),
            "dnsmos": "speechmos dnsmos_models/sig_bak_ovr.onnx (OVRL, non-personalized), 16 kHz",
            "mcd": "mel-cepstrum c1..c24 (SPTK convention, all-pass alpha "
            f"{all_pass_alpha(ANALYSIS_RATE_HZ)}) from WORLD cheaptrick envelopes, 10 ms frames, "
            "silence trimmed, DTW-aligned",
            "f0": "pYIN-style tracker (YIN candidates, Beta(2,18) threshold prior, Viterbi), 10 ms frames, "
            "50–1100 Hz",
        },
        "systems": {role: system.describe() for role, system in systems.items()},
        "teachers": [
            {"role": role, "kind": kind, "name": systems[role].name} for kind, role in roles.items()
        ],
        "versions": versions(),
        "summary": summary,
        "ratios": {
            "rtf_student_over_teacher": by_teacher["teacher"]["rtf_student_over_teacher"],
            "first_chunk_student_over_teacher": by_teacher["teacher"]["first_chunk_student_over_teacher"],
            "by_teacher": by_teacher,
        },
        **bar_sections(summary, roles, by_teacher),
        "notes": exclusion_notes(systems, per_line),
        "lines": per_line,
    }


def _write_media(
    out_dir: Path,
    config: EvalConfig,
    systems: dict[str, Any],
    lines: list[str],
    rendered: dict[str, list[Rendered | None]],
) -> None:
    """audio/<role>/line_XX.wav and plots/line_XX.png (student and the teacher, where rendered)."""
    from distill import plots

    if config.save_audio:
        _save_audio(out_dir / "audio", rendered)
    for index in range(min(config.plot_lines, len(lines))):
        tracks = [
            (systems[role].name, rendered[role][index].audio, systems[role].sample_rate_hz)
            for role in ("student", "teacher")
            if rendered[role][index] is not None and rendered[role][index].audio.size
        ]
        if tracks:
            # The plot font has no glyphs for a title's Han characters: one warning each is noise.
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message="Glyph .* missing from font")
                plots.plot_line_pair(out_dir / "plots" / f"line_{index:02d}.png", tracks, title=lines[index])


def _tag_eval(
    config: EvalConfig, student, lines: list[str], out_dir: Path, judges: Intelligibility
) -> dict[str, Any]:
    """tags.json and tags.md (each line judged in its language by ``judges``); returns what report.json
    says of them."""
    from distill.tag_eval import TagEvalConfig, run_tag_eval

    tag_config = TagEvalConfig(
        lines=config.tag_lines, melody=config.melody, bpm=config.bpm, keys=config.tag_keys,
        language=config.language,
    )
    tag_report = run_tag_eval(student, lines, out_dir, tag_config, judges=judges)
    return {"file": "tags.json", "passed": tag_report["passed"], "failed": tag_report["failed"]}


def _save_audio(folder: Path, rendered: dict[str, list[Rendered | None]]) -> None:
    import soundfile

    for role, items in rendered.items():
        (folder / role).mkdir(parents=True, exist_ok=True)
        for index, item in enumerate(items):
            if item is not None:
                soundfile.write(str(folder / role / f"line_{index:02d}.wav"), item.audio, item.sample_rate_hz)
