"""Several voices speak the same lines in one run: Whisper WER/CER and DNSMOS side by side (not a test).

    python bench/bench_compare_voices.py --voices voices/bilingual-nano runs/zh3/ship/bilingual-nano \
        [--speaker jm_kumo] [--texts ../shared/data/dev_zh.txt ../shared/data/dev_en.txt] [--json OUT]

Each voice's fp32 graph speaks every line through ``steptts.TTS`` (one thread, default text handling,
so the first-clause cut included), judged by ``bench_variants.render_and_judge``: Whisper base WER on
English lines, CER on Mandarin lines, DNSMOS OVRL. Meant for a candidate voice against the shipped
one on held-out lines before it replaces it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def main() -> None:
    from bench_variants import render_and_judge

    from distill.evaluate import Dnsmos, read_texts
    from distill.intelligibility import Intelligibility

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--voices", type=Path, nargs="+", required=True)
    parser.add_argument("--speaker", help="the voices' speaker (default: each voice's first)")
    parser.add_argument("--texts", type=Path, nargs="+",
                        default=[REPO.parent / "shared" / "data" / f"dev_{code}.txt" for code in ("zh", "en")])
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    lines = [line for path in args.texts for line in read_texts(path)]
    judges = (Intelligibility(), Dnsmos())
    results = {}
    for voice in args.voices:
        figures = render_and_judge(voice, "fp32", lines, judges, args.speaker)
        results[str(voice)] = {key: figures[key] for key in ("whisper_wer", "whisper_cer", "dnsmos_ovrl")}
    print(f"{len(lines)} lines from {', '.join(path.name for path in args.texts)}")
    print("| voice | WER (en) | CER (zh) | DNSMOS |")
    print("|---|---|---|---|")
    for voice, figures in results.items():
        wer, cer = figures["whisper_wer"], figures["whisper_cer"]
        print(f"| {voice} | {'—' if wer is None else f'{wer:.4f}'} | {'—' if cer is None else f'{cer:.4f}'} | "
              f"{figures['dnsmos_ovrl']:.3f} |")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
