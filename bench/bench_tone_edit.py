"""What the tone edit does to Kokoro's Mandarin: F0 contour per tone class and Whisper CER (not a test).

    python bench/bench_tone_edit.py [--voices jf_alpha jm_kumo] [--lines 8] [--strength 0.7] [--json OUT]
                                    [--png OUT.png]

Each voice reads the same HSK lines (an even stride over the training corpus, never a ``dev_*``
file) through :class:`distill.kokoro_teacher.KokoroTeacher`; :func:`distill.tone_edit.apply_tone_edit`
edits each rendering. Both versions are measured the same way:

- contour: every syllable's F0 (:func:`distill.edits.analysis_f0`) at 5 evenly spaced points of its
  voiced frames, as Chao levels (1–5) in the range of the unedited utterance, averaged per tone
  class (:mod:`distill.tone_contours`); its RMS distance to the tone's target contour
  (:mod:`distill.tone_edit`), in Chao levels;
- intelligibility: Mandarin CER by :class:`distill.whisper_judge.WhisperJudge`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def run(voices: list[str], texts: list[str], strength: float) -> dict:
    from distill.asr_scores import mandarin_cer
    from distill.dsp import resample
    from distill.edits import analysis_f0
    from distill.kokoro_teacher import KokoroTeacher
    from distill.tone_contours import contours, merge, target_points, voiced_range_hz
    from distill.tone_edit import apply_tone_edit, syllables
    from distill.whisper_judge import WHISPER_RATE_HZ, WhisperJudge

    judge, teacher = WhisperJudge(), KokoroTeacher(threads=2)
    result = {}
    for voice in voices:
        per = {"before": {}, "after": {}, "heard": {"before": [], "after": []}}
        for text in texts:
            rendering = teacher.render(text, [], voice)
            edited = apply_tone_edit(
                rendering.audio, 22050, rendering.durations, rendering.phonemes, text, strength
            )
            sylls = syllables(text, rendering.phonemes, rendering.durations)
            f0, _ = analysis_f0(rendering.audio.astype(np.float64), 22050)
            unedited_range = voiced_range_hz(f0)  # both versions are placed in the unedited range
            for name, audio in (("before", rendering.audio), ("after", edited.audio)):
                merge(per[name], contours(audio, sylls, 22050, unedited_range))
                per["heard"][name].append(judge.transcribe(resample(audio, 22050, WHISPER_RATE_HZ, clip=True), "zh"))
        summary = {
            "cer_before": mandarin_cer(texts, per["heard"]["before"]),
            "cer_after": mandarin_cer(texts, per["heard"]["after"]),
            "tones": {},
            "heard": per["heard"],
        }
        for key in sorted(per["before"]):
            target = target_points(key)
            if target is None:  # the neutral tone has no target
                continue
            row = {}
            for name in ("before", "after"):
                points = np.asarray(per[name].get(key, []))
                row[name] = points.mean(axis=0).round(2).tolist()
                row[f"rms_{name}"] = (
                    float(np.sqrt(np.mean((points - target) ** 2))) if len(points) else float("nan")
                )
            summary["tones"][key] = {"count": len(per["before"][key]), "target": target.tolist(), **row}
        result[voice] = summary
        print(
            f"... {voice}: CER {summary['cer_before']:.3f} → {summary['cer_after']:.3f}",
            file=sys.stderr,
            flush=True,
        )
    return result


def plot(result: dict, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    voices = list(result)
    keys = sorted({key for voice in voices for key in result[voice]["tones"]})
    figure, axes = plt.subplots(
        len(voices), len(keys), figsize=(2.6 * len(keys), 2.4 * len(voices)), squeeze=False
    )
    for row, voice in enumerate(voices):
        for column, key in enumerate(keys):
            axis = axes[row][column]
            tone = result[voice]["tones"].get(key)
            if tone:
                x = np.linspace(0, 1, len(tone["target"]))
                axis.plot(x, tone["target"], "k--", label="target")
                axis.plot(x, tone["before"], "C0-o", label="Kokoro")
                axis.plot(x, tone["after"], "C3-o", label="tone edit")
            axis.set_ylim(0, 6)
            axis.set_title(f"{voice} tone {key}", fontsize=9)
    axes[0][0].legend(fontsize=7)
    figure.supylabel("Chao level (speaker's range)")
    figure.tight_layout()
    figure.savefig(path, dpi=100)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--voices", nargs="+", default=["jf_alpha", "jm_kumo"])
    parser.add_argument("--lines", type=int, default=8)
    parser.add_argument("--strength", type=float, default=0.7)
    parser.add_argument("--json")
    parser.add_argument("--png")
    args = parser.parse_args()
    sys.path.insert(0, str(REPO / "bench"))
    from bench_kokoro_voices import sample_lines

    texts = sample_lines(args.lines)["zh"]
    result = run(args.voices, texts, args.strength)
    print(
        "| voice | tone | syllables | target | Kokoro | tone edit | RMS Kokoro | RMS edit |\n|---|---|---|---|---|---|---|---|"
    )
    for voice, summary in result.items():
        for key, tone in summary["tones"].items():
            print(
                f"| {voice} | {key} | {tone['count']} | {tone['target']} | {tone['before']} | {tone['after']} | "
                f"{tone['rms_before']:.2f} | {tone['rms_after']:.2f} |"
            )
    for voice, summary in result.items():
        print(
            f"{voice}: Whisper CER {summary['cer_before']:.3f} (Kokoro) → {summary['cer_after']:.3f} (tone edit)"
        )
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {"texts": texts, "strength": args.strength, "result": result}, ensure_ascii=False, indent=2
            )
        )
    if args.png:
        plot(result, args.png)


if __name__ == "__main__":
    main()
