"""How well `steptts distill clone` clones a voice it has never heard, from 1, 3 and 10 minutes (not a test).

    python bench/bench_clone.py [--minutes 1 3 10] [--work bench-out/clone] [--eval-lines 20]
                                [--base joe-nano] [--json OUT]

The speaker: a blend of two Kokoro-82M style vectors (``jf_nezumi`` and ``jf_tebukuro``, averaged row
by row), which is none of the student's speakers. It reads English ARCTIC lines (the training
corpus, never the held-out ``dev_*`` files) joined ten at a time into recordings with pauses
between the lines: untranscribed, so each clone runs every stage, Whisper's transcription included.
Ten further ARCTIC lines in the same voice are the speaker's held-out clips.

Each clone is made by the real CLI, ``steptts distill clone --audio RECORDINGS --max-minutes M``,
timed by the wall clock. Then the base voice and each clone read the first ``--eval-lines`` lines
of ``dev_en.txt`` (other sentences than any they trained on), and per system the bench prints:

- speaker similarity: the cosine of the mean Resemblyzer embeddings of its renderings and of the
  speaker's held-out clips (the speaker's own renderings of the same sentences give the ceiling);
- Whisper base WER on those sentences (:mod:`distill.whisper_judge`, :mod:`distill.asr_scores`);
- the minutes the clone took.

Work is kept in ``--work``: recordings, clones and renderings that exist are reused.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
BLEND = "jf_nezumi+jf_tebukuro"
"""The Kokoro voice blend (equal parts of two style vectors) that makes the unseen speaker."""
LINES_PER_RECORDING = 10
PAUSE_S = 0.7
HELD_OUT_CLIPS = 10


def blend_teacher():
    """The Kokoro teacher whose default voice is the blend :data:`BLEND`."""
    from distill.kokoro_teacher import KokoroTeacher

    return KokoroTeacher(voice=BLEND, threads=2)


def render_speaker(work: Path, minutes: float) -> tuple[Path, Path]:
    """Recordings of at least ``minutes`` of speech, and the held-out clips: (recordings, clips) folders.

    Files already there are kept (a rerun or a longer run only adds what is missing).
    """
    import soundfile as sf

    from distill.corpus import read_corpus

    recordings, clips = work / "recordings", work / "held-out"
    recordings.mkdir(parents=True, exist_ok=True)
    clips.mkdir(parents=True, exist_ok=True)
    lines = [line.text for line in read_corpus([DATA / "arctic_prompts.tsv"])]
    teacher = blend_teacher()
    for index, text in enumerate(lines[:HELD_OUT_CLIPS]):
        if not (clips / f"clip{index:02d}.wav").exists():
            rendering = teacher.render(text, [], None)
            sf.write(clips / f"clip{index:02d}.wav", rendering.audio, rendering.sample_rate_hz)
    total_s, number = 0.0, 0
    while total_s < 60.0 * minutes:
        path = recordings / f"take{number:02d}.flac"
        first = HELD_OUT_CLIPS + number * LINES_PER_RECORDING
        if not path.exists():
            pieces = []
            for text in lines[first: first + LINES_PER_RECORDING]:
                rendering = teacher.render(text, [], None)
                gap = np.zeros(int(PAUSE_S * rendering.sample_rate_hz), np.float32)
                pieces += [gap, rendering.audio]
            temporary = path.with_name(f".{path.name}.tmp.flac")
            sf.write(temporary, np.concatenate([*pieces, pieces[0]]), rendering.sample_rate_hz)
            temporary.replace(path)
        info = sf.info(path)
        total_s += info.frames / info.samplerate - (LINES_PER_RECORDING + 1) * PAUSE_S
        number += 1
        print(f"... recordings: {total_s / 60:.1f} min of speech", flush=True)
    return recordings, clips


def make_clone(recordings: Path, out: Path, minutes: float, base: str) -> float:
    """Run the clone CLI (``--max-minutes``); returns its wall minutes (those recorded when it exists)."""
    timing = out.with_name(out.name + ".minutes")
    if (out / "voice.json").exists() and timing.exists():
        return float(timing.read_text())
    command = [sys.executable, "-m", "steptts", "distill", "clone", "--audio", str(recordings), "--out", str(out),
               "--max-minutes", f"{minutes:g}", "--base", base]
    if out.with_name(out.name + ".clone-work").exists():
        command.append("--resume")
    started = time.monotonic()
    env = os.environ | {"PYTHONPATH": str(REPO)}
    subprocess.run(command, check=True, env=env, cwd=REPO)
    wall_min = (time.monotonic() - started) / 60
    timing.write_text(f"{wall_min:.2f}")
    return wall_min


def render_system(name: str, speak, texts: list[str], folder: Path) -> list[Path]:
    """``speak(text) -> (audio, rate)`` on each text into ``folder`` (existing files are reused)."""
    import soundfile as sf

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for index, text in enumerate(texts):
        path = folder / f"{index:02d}.wav"
        if not path.exists():
            audio, rate_hz = speak(text)
            sf.write(path, audio, rate_hz)
        paths.append(path)
    print(f"... rendered {name}", flush=True)
    return paths


class Judges:
    """Resemblyzer's speaker encoder and the Whisper judge."""

    def __init__(self) -> None:
        from resemblyzer import VoiceEncoder

        from distill.whisper_judge import WhisperJudge

        self.encoder = VoiceEncoder("cpu", verbose=False)
        self.whisper = WhisperJudge()

    def mean_embedding(self, paths: list[Path]) -> np.ndarray:
        """The normalized mean of the clips' utterance embeddings [256]."""
        from resemblyzer import preprocess_wav

        embeddings = [self.encoder.embed_utterance(preprocess_wav(path)) for path in paths]
        mean = np.mean(embeddings, axis=0)
        return mean / np.linalg.norm(mean)

    def wer(self, paths: list[Path], texts: list[str]) -> float:
        import soundfile as sf

        from distill.asr_scores import error_rate
        from distill.recordings import resample
        from distill.whisper_judge import WHISPER_RATE_HZ

        heard = []
        for path in paths:
            audio, rate_hz = sf.read(path, dtype="float32")
            heard.append(self.whisper.transcribe(resample(audio, rate_hz, WHISPER_RATE_HZ), "en"))
        return error_rate("en", texts, heard)


def _voice_speaker(voice: str | Path):
    from steptts import TTS

    tts = TTS(voice=voice)

    def speak(text: str):
        audio = tts.synthesize(text)
        return audio.samples, audio.sample_rate_hz

    return speak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", nargs="+", type=float, default=[1.0, 3.0, 10.0])
    parser.add_argument("--work", default="bench-out/clone")
    parser.add_argument("--eval-lines", type=int, default=20,
                        help="first lines of dev_en.txt read by each system (20: all of them)")
    parser.add_argument("--base", default="joe-nano")
    parser.add_argument("--json", help="also write the figures here")
    args = parser.parse_args()
    work = Path(args.work)
    recordings, clips = render_speaker(work, max(args.minutes) * 1.05 + 0.1)
    texts = [line.strip() for line in (DATA / "dev_en.txt").read_text().splitlines() if line.strip()]
    texts = texts[: args.eval_lines]
    teacher = blend_teacher()

    def speaker(text: str):
        rendering = teacher.render(text, [], None)
        return rendering.audio, rendering.sample_rate_hz

    systems = {"the speaker itself (ceiling)": (speaker, None), f"base ({args.base})": (_voice_speaker(args.base), None)}
    for minutes in args.minutes:
        out = work / "voices" / f"clone-{minutes:g}min"
        took = make_clone(recordings, out, minutes, args.base)
        systems[f"clone from {minutes:g} min"] = (_voice_speaker(out), took)
    judges = Judges()
    reference = judges.mean_embedding(sorted(clips.glob("*.wav")))
    rows = []
    for name, (speak, took) in systems.items():
        paths = render_system(name, speak, texts, work / "eval" / name.replace(" ", "_").replace("(", "").replace(")", ""))
        similarity = float(judges.mean_embedding(paths) @ reference)
        rows.append({"system": name, "similarity": similarity, "wer": judges.wer(paths, texts), "clone_minutes": took})
    print("\n| system | speaker similarity | Whisper WER | minutes to clone |\n|---|---|---|---|")
    for row in rows:
        took = f"{row['clone_minutes']:.1f}" if row["clone_minutes"] is not None else "—"
        print(f"| {row['system']} | {row['similarity']:.3f} | {row['wer']:.3f} | {took} |")
    print(f"\nsimilarity: cosine of mean Resemblyzer embeddings against {HELD_OUT_CLIPS} held-out clips of the "
          f"speaker ({BLEND}); WER: Whisper base on the first {len(texts)} lines of dev_en.txt")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
