"""Does Whisper's score depend on a rendering's edge silence? Teacher and students, one run (not a test).

    python bench/bench_judge_edges.py [--voices VOICE …] [--speaker jm_kumo] [--teacher-voice jm_kumo]
                                      [--texts dev_zh.txt …] [--pads 0 0.3] [--json OUT]

Kokoro pads every sentence with about 0.4 s of silence; the students were trained to start speaking
at once (``distill/training_data.py`` cuts the teacher's lead). If Whisper base loses or mishears a
line's first syllable when speech starts at sample 0, the evaluation's CER and WER favour whichever
system leaves more silence, which says nothing about how the speech sounds.

Each system (the Kokoro teacher through :class:`distill.systems.TeacherSystem`, each student
voice through :class:`distill.systems.StudentSystem`) renders every line once. Whisper then hears
each rendering in these forms:

- ``as rendered``;
- ``trimmed``: leading and trailing silence cut (frames 40 dB under the rendering's loudest 20 ms);
- ``trimmed + P s``: trimmed, then ``P`` seconds of silence added at both ends, for each ``--pads``.

and the bench prints each form's corpus CER (Mandarin) or WER (English) per system.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
FRAME_S = 0.02
"""Frame length of the silence gate, seconds."""
GATE_DB = 40.0
"""A frame this many decibels under the loudest frame counts as silence."""


def speech_span(audio: np.ndarray, sample_rate_hz: int) -> tuple[int, int]:
    """(first, end) sample of ``audio`` (float32 [S]) between its leading and trailing silence
    (frames :data:`GATE_DB` under the loudest frame)."""
    frame = max(1, int(FRAME_S * sample_rate_hz))
    count = len(audio) // frame
    if count == 0:
        return 0, len(audio)
    energy = (audio[: count * frame].reshape(count, frame) ** 2).mean(axis=1)
    level_db = 10.0 * np.log10(energy + 1e-12)
    loud = np.flatnonzero(level_db > level_db.max() - GATE_DB)
    return int(loud[0] * frame), int((loud[-1] + 1) * frame)


def forms(audio: np.ndarray, sample_rate_hz: int, pads: list[float]) -> dict[str, np.ndarray]:
    """The forms Whisper hears, by name (see the module docstring)."""
    first, end = speech_span(audio, sample_rate_hz)
    trimmed = audio[first:end]
    out = {"as rendered": audio, "trimmed": trimmed}
    for pad in pads:
        silence = np.zeros(round(pad * sample_rate_hz), dtype=audio.dtype)
        out[f"trimmed + {pad:g} s"] = np.concatenate([silence, trimmed, silence])
    return out


def main() -> int:
    sys.path.insert(0, str(REPO))
    from distill.evaluate import read_texts
    from distill.intelligibility import Intelligibility, line_languages, summarize_heard
    from distill.systems import StudentSystem, TeacherSystem

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--voices", type=Path, nargs="*", default=[REPO / "voices" / "bilingual-nano"])
    parser.add_argument("--speaker", default="jm_kumo", help="the student voices' speaker")
    parser.add_argument("--teacher-voice", default="jm_kumo", help="Kokoro's voice; 'none' leaves Kokoro out")
    parser.add_argument("--texts", type=Path, nargs="+", default=[REPO.parent / "shared" / "data" / "dev_zh.txt"])
    parser.add_argument("--pads", type=float, nargs="*", default=[0.3])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    lines = [line for path in args.texts for line in read_texts(path)]
    languages = line_languages(lines)
    systems = []
    if args.teacher_voice != "none":
        for language in sorted(set(languages)):
            systems.append(
                (f"kokoro:{args.teacher_voice}:{language}",
                 TeacherSystem(threads=args.threads, kind="kokoro", language=language, voice=args.teacher_voice),
                 language)
            )
    for voice in args.voices:
        systems.append((f"{voice.name} ({voice.parent.name})", StudentSystem(voice, threads=args.threads,
                                                                             speaker=args.speaker), None))
    judge = Intelligibility(pocketsphinx=False)
    results: dict[str, dict] = {}
    for name, system, only in systems:
        chosen = [i for i, language in enumerate(languages) if only is None or language == only]
        heard: dict[str, list] = {}
        leads = []
        for i in chosen:
            rendered = system.synthesize(lines[i])
            leads.append(speech_span(rendered.audio, rendered.sample_rate_hz)[0] / rendered.sample_rate_hz)
            for form, audio in forms(rendered.audio, rendered.sample_rate_hz, args.pads).items():
                heard.setdefault(form, []).append(
                    judge.hear(lines[i], languages[i], audio, rendered.sample_rate_hz))
            print(f"  {name}: line {len(leads)}/{len(chosen)}", file=sys.stderr, flush=True)
        picked, picked_languages = [lines[i] for i in chosen], [languages[i] for i in chosen]
        results[name] = {
            "median_leading_silence_s": float(np.median(leads)),
            "forms": {form: summarize_heard(picked, picked_languages, entries) for form, entries in heard.items()},
            "heard": {form: [entry["whisper"] for entry in entries] for form, entries in heard.items()},
        }
    for name, result in results.items():
        print(f"{name}  (median leading silence {result['median_leading_silence_s']:.2f} s)")
        for form, by_language in result["forms"].items():
            figures = ", ".join(
                f"{language} {key.removeprefix('whisper_').upper()} {value:.3f}"
                for language, entry in by_language.items()
                for key, value in entry.items() if key.startswith("whisper_")
            )
            print(f"  {form:<18} {figures}")
    if args.json:
        args.json.write_text(json.dumps({"command": sys.argv, "lines": lines, "results": results},
                                        ensure_ascii=False, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
