"""A long first sentence spoken whole or cut after its first clause, in one run (not a test).

    python bench/bench_first_clause.py [--voice voices/bilingual-nano] [--speaker jm_kumo]
        [--texts ../shared/data/dev_zh.txt ../shared/data/dev_en.txt] [--runs 9]

``TTS(split_first_clause=...)`` both ways on the same lines: Whisper base WER (English lines) and CER
(Mandarin lines), DNSMOS OVRL, total audio length (``bench_variants.render_and_judge``, one thread),
and the median first-chunk latency of each line (two threads, as the evaluation times it; the two
settings interleaved line by line so that load hits them alike). Only lines that the cut changes are
timed; the table says how many lines it cut.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def main() -> None:
    from bench_first_chunk import first_chunk_ms
    from bench_variants import render_and_judge

    from distill.evaluate import Dnsmos, read_texts
    from distill.intelligibility import Intelligibility
    from steptts import TTS
    from steptts.sentences import first_clause

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--voice", type=Path, default=REPO / "voices" / "bilingual-nano")
    parser.add_argument("--speaker", help="the voice's speaker (default: its first)")
    parser.add_argument("--texts", type=Path, nargs="+",
                        default=[REPO.parent / "shared" / "data" / f"dev_{code}.txt" for code in ("zh", "en")])
    parser.add_argument("--runs", type=int, default=9, help="first-chunk timings per line and setting")
    args = parser.parse_args()
    lines = [line for path in args.texts for line in read_texts(path)]
    judges = (Intelligibility(), Dnsmos())
    results = {split: render_and_judge(args.voice, "fp32", lines, judges, args.speaker, split_first_clause=split)
               for split in (False, True)}
    cut = [line for line in lines if len(first_clause(line)) == 2]
    systems = {split: TTS(voice=args.voice, provider="cpu", threads=2, split_first_clause=split)
               for split in (False, True)}
    speaker = args.speaker if args.speaker in systems[True].voice.speakers else None
    latency: dict[bool, list[float]] = {False: [], True: []}
    load_before = os.getloadavg()[0]
    for line in cut:
        for split in (False, True):
            first_chunk_ms(systems[split], line, speaker)  # warm-up
        runs: dict[bool, list[float]] = {False: [], True: []}
        for _ in range(args.runs):
            for split in (False, True):
                runs[split].append(first_chunk_ms(systems[split], line, speaker))
        for split in (False, True):
            latency[split].append(statistics.median(runs[split]))
    print(f"{args.voice.name} ({speaker or 'first speaker'}): {len(lines)} lines, {len(cut)} cut by the first "
          f"clause; load average {load_before:.2f} → {os.getloadavg()[0]:.2f}")
    print("| split_first_clause | WER (en) | CER (zh) | DNSMOS | audio s | first chunk ms, median of cut lines |")
    print("|---|---|---|---|---|---|")
    for split, figures in results.items():
        wer, cer = figures["whisper_wer"], figures["whisper_cer"]
        audio_s = sum(figures["lengths"]) / systems[split].sample_rate_hz
        print(f"| {split} | {'—' if wer is None else f'{wer:.4f}'} | {'—' if cer is None else f'{cer:.4f}'} | "
              f"{figures['dnsmos_ovrl']:.3f} | {audio_s:.1f} | "
              f"{statistics.median(latency[split]) if cut else float('nan'):.1f} |")


if __name__ == "__main__":
    main()
