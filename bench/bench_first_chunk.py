"""First-chunk latency of several voices side by side, interleaved so that load hits them alike (not a test).

    python bench/bench_first_chunk.py [--voices joe-nano bilingual-nano] [--speaker jm_kumo] [--runs 15]
        [--threads 2]

Each voice speaks the evaluation's two-sentence texts (``distill.evaluate.LATENCY_TEXTS``) in every
language it speaks; the time from the call to the first chunk (the first sentence's audio), after one
warm-up call per text. Rounds alternate the voices, and the median per (voice, language) is printed
with the load average before and after, so a figure taken on a busy machine says so.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def first_chunk_ms(tts, text: str, speaker: str | None) -> float:
    """Milliseconds from ``stream()`` to its first chunk."""
    started = time.perf_counter()
    next(iter(tts.stream(text, **({"speaker": speaker} if speaker else {}))))
    return 1000.0 * (time.perf_counter() - started)


def main() -> None:
    from distill.evaluate import LATENCY_TEXTS
    from steptts import TTS

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--voices", nargs="+", default=["joe-nano", "bilingual-nano"])
    parser.add_argument("--speaker", help="speaker of the voices that have it")
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    systems = {name: TTS(voice=name, provider="cpu", threads=args.threads) for name in args.voices}
    cases = [(name, code, text) for name, tts in systems.items() for code, text in LATENCY_TEXTS.items()
             if code in tts.voice.languages]
    speaker = {name: args.speaker if args.speaker in tts.voice.speakers else None for name, tts in systems.items()}
    for name, _, text in cases:
        first_chunk_ms(systems[name], text, speaker[name])  # warm-up
    load_before = os.getloadavg()
    times: dict[tuple[str, str], list[float]] = {(name, code): [] for name, code, _ in cases}
    for _ in range(args.runs):
        for name, code, text in cases:
            times[(name, code)].append(first_chunk_ms(systems[name], text, speaker[name]))
    load_after = os.getloadavg()
    print(f"load average before {load_before[0]:.2f}, after {load_after[0]:.2f}; {args.runs} runs, "
          f"{args.threads} threads")
    print("| voice | speaker | language | first chunk, median ms | min ms |")
    print("|---|---|---|---|---|")
    for (name, code), values in times.items():
        print(f"| {name} | {speaker[name] or '(first)'} | {code} | {statistics.median(values):.1f} | "
              f"{min(values):.1f} |")


if __name__ == "__main__":
    main()
