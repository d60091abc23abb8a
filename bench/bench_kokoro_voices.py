"""Which Kokoro voice reads our corpora best: English WER and Mandarin CER by Whisper base (not a test).

    python bench/bench_kokoro_voices.py [--voices jf_alpha jf_gongitsune …] [--lines 5] [--threads 2]
                                        [--json OUT]

Each voice reads the same lines through :class:`distill.kokoro_teacher.KokoroTeacher` (the data
engine's own rendering: runtime phonemes, 22050 Hz), and :class:`distill.whisper_judge.WhisperJudge`
transcribes them (deterministic decoding). The lines are taken at an even stride from the training
corpora (``hsk_sentences.tsv`` and ``arctic_prompts.tsv``), never from the held-out ``dev_*`` files,
so choosing a speaker here tunes nothing that the evaluation measures. Per voice: corpus English WER
and Mandarin CER, and the lines Whisper misheard.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"


def sample_lines(count: int) -> dict[str, list[str]]:
    """``count`` lines of each language at an even stride over its training corpus."""
    from distill.corpus import read_corpus

    out = {}
    for language, name in (("zh", "hsk_sentences.tsv"), ("en", "arctic_prompts.tsv")):
        lines = read_corpus([DATA / name])
        stride = len(lines) // count
        out[language] = [lines[stride // 2 + i * stride].text for i in range(count)]
    return out


def measure(voices: list[str], lines: dict[str, list[str]], threads: int) -> list[dict]:
    """Per voice: WER/CER over ``lines`` and what Whisper heard."""
    from distill.asr_scores import error_rate
    from distill.dsp import resample
    from distill.kokoro_teacher import KokoroTeacher
    from distill.whisper_judge import WHISPER_RATE_HZ, DecodeSettings, WhisperJudge

    judge = WhisperJudge(DecodeSettings(threads=threads))
    teacher = KokoroTeacher(threads=threads)
    rows = []
    for voice in voices:
        row: dict = {"voice": voice, "heard": {}}
        started = time.perf_counter()
        for language, texts in lines.items():
            heard = []
            for text in texts:
                rendering = teacher.render(text, [], voice)
                audio = resample(rendering.audio, rendering.sample_rate_hz, WHISPER_RATE_HZ, clip=True)
                heard.append(judge.transcribe(audio, language))
            row[language] = error_rate(language, texts, heard)
            row["heard"][language] = heard
        row["wall_s"] = time.perf_counter() - started
        rows.append(row)
        print(
            f"... {voice}: en WER {row['en']:.3f}, zh CER {row['zh']:.3f} ({row['wall_s']:.0f} s)", flush=True
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--voices", nargs="+", default=["jf_alpha", "jf_gongitsune", "jf_nezumi", "jf_tebukuro", "jm_kumo"]
    )
    parser.add_argument("--lines", type=int, default=5, help="lines per language")
    parser.add_argument("--threads", type=int, default=2, help="onnxruntime and CTranslate2 threads")
    parser.add_argument("--json", help="also write the figures and transcripts here")
    args = parser.parse_args()
    lines = sample_lines(args.lines)
    rows = measure(args.voices, lines, args.threads)
    print("\n| voice | English WER | Mandarin CER |\n|---|---|---|")
    for row in rows:
        print(f"| {row['voice']} | {row['en']:.3f} | {row['zh']:.3f} |")
    print(f"\n{args.lines} lines per language (Whisper base); misheard:")
    for row in rows:
        for language, texts in lines.items():
            for text, heard in zip(texts, row["heard"][language], strict=True):
                print(f"  {row['voice']} {language}: {text!r} → {heard!r}")
    if args.json:
        Path(args.json).write_text(json.dumps({"lines": lines, "rows": rows}, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
