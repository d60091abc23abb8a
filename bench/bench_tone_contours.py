"""Mandarin tone contours, teacher against student against target (issue 14's PNG; not a test).

    nice -n 10 python bench/bench_tone_contours.py --voice VOICE [--speaker jm_kumo] [--teacher-voice jm_kumo]
        [--lines 10] [--texts FILE] [--threads 2] [--png tone_contours.png] [--json OUT.json]

Both systems read the same held-out HSK lines: an even stride over ``../shared/data/hsk_sentences.tsv``
(offset from the one the other benches take), any line of a ``dev_*`` file left out; or ``--texts``.
Each line is normalized and phonemized once, by the student's own frontend (:meth:`steptts.TTS.phonemize`);
sentences that are not wholly Mandarin are skipped.

- the student (``--voice``, its ``--speaker``) renders each sentence through its graph
  (:class:`steptts.engine.Engine`), whose ``durations`` output gives every token's frames;
- the Kokoro teacher (``--teacher-voice``; default: ``--speaker`` when it names a Kokoro voice, else
  jm_kumo) renders the same normalized text with its white-box durations
  (:meth:`distill.kokoro_teacher.KokoroTeacher.render`; no tone edit).

The syllables and their frames come from :func:`distill.tone_edit.syllables`; each syllable's F0 at 5
points, in Chao levels in that rendering's own range, per tone class, against the tone edit's
targets (:mod:`distill.tone_contours`). It prints, per tone class, the syllables measured and the
mean absolute deviation (MAD, Chao levels) of teacher and student from the target, and draws one
panel per tone class: the target, the teacher's mean contour and the student's.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
STRIDE_OFFSET = 7
"""Where the stride starts, so that these lines are not bench_kokoro_voices' (which starts at stride // 2)."""


def held_out_lines(count: int) -> list[str]:
    """``count`` HSK lines at an even stride, none of them in a ``dev_*`` file."""
    from distill.corpus import read_corpus

    dev = {
        line.split("\t", 1)[-1].strip()
        for path in DATA.glob("dev_*")
        for line in path.read_text(encoding="utf-8").splitlines()
    }
    lines = [
        record.text for record in read_corpus([DATA / "hsk_sentences.tsv"]) if record.text.strip() not in dev
    ]
    stride = max(1, len(lines) // count)
    return [lines[(STRIDE_OFFSET + i * stride) % len(lines)] for i in range(count)]


def student_rendering(tts, utterance, speaker: str | None, tag_ids: tuple[int, ...] = ()
                      ) -> tuple[np.ndarray, list[int], str]:
    """(audio float32 [S] at the voice's rate, frames per token, phonemes kept) of one sentence by the
    student graph at neutral controls (under ``tag_ids``), durations from its ``durations`` output."""
    voice = tts.voice
    ids, tokens = voice.phoneme_vocab.encode(utterance.phonemes)
    speaker_id = voice.speakers[speaker] if speaker else next(iter(voice.speakers.values()))
    out = tts.engine.run(
        np.asarray(ids, np.int64), np.asarray(tag_ids, np.int64), speaker_id, np.asarray([1.0, 0.0, 0.0], np.float32)
    )
    return out.audio, [int(d) for d in out.durations], "".join(tokens[1:-1])


def measure(args: argparse.Namespace, texts: list[str]) -> dict:
    """Render every Mandarin sentence of ``texts`` by both systems; per system, the tone contours."""
    from distill.kokoro_teacher import KokoroTeacher
    from distill.systems import kokoro_voice_for
    from distill.tone_contours import contours, merge, summarize
    from distill.tone_edit import syllables
    from steptts import TTS

    tts = TTS(voice=args.voice, provider="cpu", threads=args.threads)
    if args.speaker is not None and args.speaker not in tts.voice.speakers:
        known = ", ".join(tts.voice.speakers)
        raise SystemExit(f"voice '{tts.voice.name}' has no speaker '{args.speaker}'; it has: {known}")
    kokoro_voice = kokoro_voice_for(args.speaker, args.teacher_voice) or "jm_kumo"
    teacher = KokoroTeacher(voice=kokoro_voice, threads=args.threads)
    per: dict[str, dict] = {"teacher": {}, "student": {}}
    sentences: list[str] = []
    started = time.perf_counter()
    for text in texts:
        for utterance in tts.phonemize(text, speaker=args.speaker):
            if {run.language for run in utterance.runs} != {"zh"}:
                continue
            said = utterance.normalized
            audio, durations, phonemes = student_rendering(tts, utterance, args.speaker)
            merge(per["student"], contours(audio, syllables(said, phonemes, durations), tts.sample_rate_hz))
            rendering = teacher.render(said, [], kokoro_voice)
            teacher_sylls = syllables(said, rendering.phonemes, rendering.durations)
            merge(per["teacher"], contours(rendering.audio, teacher_sylls, rendering.sample_rate_hz))
            sentences.append(said)
    print(
        f"... {len(sentences)} sentences rendered in {time.perf_counter() - started:.0f} s", file=sys.stderr
    )
    return {
        "voice": tts.voice.name,
        "speaker": args.speaker,
        "teacher": f"kokoro {kokoro_voice}",
        "sentences": sentences,
        "tones": {name: summarize(classes) for name, classes in per.items()},
    }


def plot(result: dict, path: str) -> None:
    """One panel per tone class: target (dashed), teacher and student mean contours, Chao levels."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from distill.tone_contours import POINTS, TONE_CLASS_NAMES, TONE_CLASSES

    keys = [k for k in TONE_CLASSES if k in result["tones"]["teacher"] or k in result["tones"]["student"]]
    figure, axes = plt.subplots(1, len(keys), figsize=(2.6 * len(keys), 2.8), squeeze=False, sharey=True)
    x = np.linspace(0, 1, POINTS)
    for axis, key in zip(axes[0], keys):
        teacher, student = result["tones"]["teacher"].get(key), result["tones"]["student"].get(key)
        target = (teacher or student)["target"]
        if target is not None:
            axis.plot(x, target, "k--", label="target")
        for label, row, style in ((result["teacher"], teacher, "C0-o"), ("student", student, "C3-o")):
            if row is not None:
                axis.plot(x, row["mean"], style, label=f"{label} (n={row['count']})")
        axis.set_ylim(0, 6)
        axis.set_title(TONE_CLASS_NAMES[key], fontsize=9)
        axis.set_xlabel("syllable (voiced part)", fontsize=8)
        axis.legend(fontsize=6, loc="lower left")
    axes[0][0].set_ylabel("Chao level (speaker's range)")
    speaker = f" ({result['speaker']})" if result["speaker"] else ""
    figure.suptitle(
        f"Mandarin tone contours: {result['voice']}{speaker} against {result['teacher']}", fontsize=10
    )
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--voice", required=True, help="student voice: name or folder")
    parser.add_argument("--speaker", help="the student's speaker (default: its first)")
    parser.add_argument(
        "--teacher-voice", help="Kokoro's voice (default: --speaker if a Kokoro voice, else jm_kumo)"
    )
    parser.add_argument("--lines", type=int, default=10)
    parser.add_argument("--texts", help="lines to read instead of the HSK stride (one a line)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--png", default="tone_contours.png")
    parser.add_argument("--json")
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))
    if args.texts:
        texts = [
            line.strip() for line in Path(args.texts).read_text(encoding="utf-8").splitlines() if line.strip()
        ]
    else:
        texts = held_out_lines(args.lines)
    result = measure(args, texts)
    print("| tone class | syllables teacher | syllables student | MAD teacher | MAD student |")
    print("|---|---|---|---|---|")
    from distill.tone_contours import TONE_CLASS_NAMES

    for key, name in TONE_CLASS_NAMES.items():
        teacher, student = result["tones"]["teacher"].get(key), result["tones"]["student"].get(key)
        if teacher is None and student is None:
            continue
        cells = [str(row["count"]) if row else "0" for row in (teacher, student)]
        cells += [
            f"{row['mad']:.2f}" if row and math.isfinite(row["mad"]) else "—" for row in (teacher, student)
        ]
        print(f"| {name} | {' | '.join(cells)} |")
    plot(result, args.png)
    print(f"PNG: {args.png}")
    if args.json:
        from distill.report import write_json

        write_json(Path(args.json), result)  # NaN (the neutral tone's MAD) as null


if __name__ == "__main__":
    main()
