"""Intelligibility against tempo: the student's speed control and its Piper teacher's length scale (not a test).

    python bench/bench_tempo_wer.py [--voice VOICE] [--speeds 1,1.149,1.333,1.45]
                                    [--length-scales 1,0.8,0.75,0.7,0.65] [--lj-lines 60] [--json OUT]

The speed tags ask for ×0.87 (快速1) and ×0.75 (快速2) of the neutral duration, and #6 asks that
their WER stay within 0.10 of neutral. Is a miss the student's fault, or does pocketsphinx hear any
speech of this voice that fast as badly? This renders the lines of ``bench_tag_wer.py`` (the 20 dev
lines plus ``--lj-lines`` LJ Speech lines) with both systems at several tempi: the student through
``TTS.synthesize(speed=…)`` (the control the speed tags set), the Piper teacher with its own
``length_scale`` (how the data engine renders the speed tags) through the evaluation's
``TeacherSystem``, sentence by sentence as `steptts distill eval` runs it. For every point it reports the
median speech duration against the system's own first point (which should be tempo 1) and the WER
of each set. Then, per system and set, the WER at ×0.87 and ×0.75 of neutral duration, interpolated
linearly between the two points around it, so that both systems are compared at the same tempo.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from pathlib import Path

import numpy as np

from steptts.tags import speed_duration_factors

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
TAG_DURATIONS = {key: factor for key, factor in speed_duration_factors().items() if key.startswith("快速")}
"""Duration factor each fast tag asks for (the #6 table)."""


def floats(text: str) -> list[float]:
    return [float(x) for x in text.split(",") if x.strip()]


def interpolate_wer(points: list[dict], set_name: str, duration: float) -> float | None:
    """WER of ``set_name`` at ``duration`` × neutral, linear between the two points around it.

    ``points``: dicts with ``duration`` (ratio to neutral) and ``wer`` (set → WER). None when
    ``duration`` lies outside the measured range.
    """
    ordered = sorted(points, key=lambda p: p["duration"])
    for low, high in itertools.pairwise(ordered):
        if low["duration"] <= duration <= high["duration"]:
            span = high["duration"] - low["duration"]
            weight = 0.0 if span == 0 else (duration - low["duration"]) / span
            return (1 - weight) * low["wer"][set_name] + weight * high["wer"][set_name]
    return None


def main() -> None:
    sys.path.insert(0, str(REPO))
    sys.path.insert(0, str(REPO / "bench"))
    from bench_tag_wer import held_out_sets, transcribe_sets

    from distill.judges import SpeechRecognizer
    from distill.systems import TeacherSystem, make_student
    from steptts.voice import default_voice_name

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--voice", default=None, help="student voice name or folder (default: the embedded one)")
    parser.add_argument("--speeds", default="1,1.149,1.333,1.45", help="student speed controls; the first is neutral")
    parser.add_argument("--length-scales", default="1,0.8,0.75,0.7,0.65",
                        help="teacher length scales; the first is neutral")
    parser.add_argument("--lj-lines", type=int, default=60)
    parser.add_argument("--json", default=None, help="write the figures here")
    args = parser.parse_args()

    sets = held_out_sets(args.lj_lines)
    recognizer = SpeechRecognizer()
    student = make_student(args.voice or default_voice_name())

    def measure(render, sample_rate_hz: int) -> dict:
        """WER per set (and all) and speech durations [lines] of one tempo point."""
        wer, durations = transcribe_sets(sets, render, sample_rate_hz, recognizer)
        return {"wer": wer, "durations_s": durations}

    def sweep(system: str, control: str, values: list[float], make_render) -> list[dict]:
        points = []
        for value in values:
            render, rate = make_render(value)
            point = {control: value, **measure(render, rate)}
            base = np.array(points[0]["durations_s"] if points else point["durations_s"])
            point["duration"] = float(np.median(np.array(point["durations_s"]) / base))
            points.append(point)
            print(f"{system:8s} {control} {value:<6g} duration ×{point['duration']:.3f}   WER "
                  + "  ".join(f"{k} {v:.3f}" for k, v in point["wer"].items()), flush=True)
        return points

    def student_at(speed: float):
        return (lambda s: student.synthesize(s, speed=speed).audio), student.sample_rate_hz

    def teacher_at(length_scale: float):
        teacher = TeacherSystem(length_scale=length_scale)  # as `steptts distill eval` runs it
        return (lambda s: teacher.synthesize(s).audio), teacher.sample_rate_hz

    print(f"{student.name}; lines: " + ", ".join(f"{k} {len(v)}" for k, v in sets.items()))
    results = {
        "student_system": student.name,
        "sets": {k: len(v) for k, v in sets.items()},
        "student": sweep("student", "speed", floats(args.speeds), student_at),
        "teacher": sweep("teacher", "length_scale", floats(args.length_scales), teacher_at),
    }
    results["at_tag_durations"] = {}
    print("\nWER at the fast tags' durations (interpolated); bar: the system's neutral + 0.10")
    for system in ("student", "teacher"):
        neutral = results[system][0]["wer"]
        for tag, duration in TAG_DURATIONS.items():
            figures = {name: interpolate_wer(results[system], name, duration) for name in neutral}
            results["at_tag_durations"][f"{system} {tag}"] = figures
            print(f"{system:8s} {tag} ×{duration}: " + "  ".join(
                f"{name} {'—' if v is None else f'{v:.3f}'} (bar {neutral[name] + 0.10:.3f})"
                for name, v in figures.items()))
    if args.json:
        Path(args.json).write_text(json.dumps(results, ensure_ascii=False, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
