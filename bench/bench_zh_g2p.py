"""Mandarin G2P candidates: syllable accuracy before tone sandhi on hsk_sentences.tsv (not a test).

    python bench/bench_zh_g2p.py [--candidate steptts|pypinyin|pypinyin+jieba|pypinyin-dict+jieba]

Each line of ``../shared/data/hsk_sentences.tsv`` gives citation-tone pinyin (neutral tone 5, 一 as
yi1, 不 as bu4, an erhua 儿 as ``r5``) for its Han characters. A candidate's syllables are compared
one for one with it; a candidate that reads a 儿 as erhua or as ``er`` both count as right on a gold
``r5``. ``$STEPTTS_SHARED`` (default ``../shared``) holds the data. ``pypinyin-dict+jieba`` loads pypinyin-dict's large phrase table (what misaki's v1.1 Mandarin
frontend uses); it changes pypinyin's global tables, so each candidate runs in its own process.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import sys
import time
import warnings
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

SHARED = Path(os.environ.get("STEPTTS_SHARED", REPO.parent / "shared"))
HSK = SHARED / "data" / "hsk_sentences.tsv"
HAN = re.compile(r"[\u4e00-\u9fff]")


def candidate(name: str):
    """A function from Han text to one citation-tone TONE3 syllable per character."""
    warnings.simplefilter("ignore")
    import jieba
    from pypinyin import Style, lazy_pinyin

    jieba.setLogLevel(logging.WARNING)

    def pinyin(text: str) -> list[str]:
        return lazy_pinyin(text, style=Style.TONE3, neutral_tone_with_five=True)

    if name == "pypinyin":
        return pinyin
    if name in ("pypinyin+jieba", "pypinyin-dict+jieba"):
        if name == "pypinyin-dict+jieba":
            from pypinyin_dict.phrase_pinyin_data import large_pinyin

            large_pinyin.load()
        return lambda text: [syllable for word in jieba.lcut(text) for syllable in pinyin(word)]
    if name == "steptts":
        from steptts.languages import mandarin

        def ours(text: str) -> list[str]:
            out = []
            for word in mandarin.words(text, sandhi=False):
                out.extend(word.pinyin)
            return out

        return ours
    raise SystemExit(f"unknown candidate {name!r}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candidate", default="steptts")
    parser.add_argument("--errors", type=int, default=15, help="most frequent errors to print")
    args = parser.parse_args()
    to_pinyin = candidate(args.candidate)
    rows = [line.split("\t") for line in HSK.read_text(encoding="utf-8").splitlines()[1:] if line.strip()]
    right = total = sentences_right = 0
    errors: Counter = Counter()
    start = time.perf_counter()
    for _, chinese, gold, _ in rows:
        han = "".join(HAN.findall(chinese))
        gold_syllables = gold.split()
        got = [s.replace("ü", "v") for s in to_pinyin(han)]
        all_right = len(got) == len(gold_syllables)
        for char, expected, syllable in zip(han, gold_syllables, got):
            ok = syllable == expected or (expected == "r5" and char == "儿")
            right += ok
            all_right &= ok
            if not ok:
                errors[(char, expected, syllable)] += 1
        total += len(gold_syllables)
        sentences_right += all_right
    elapsed_s = time.perf_counter() - start
    print(f"{args.candidate}: syllable accuracy {right / total:.4f} ({right}/{total}), "
          f"sentences all right {sentences_right / len(rows):.3f} of {len(rows)}, {elapsed_s:.1f} s")
    for (char, expected, syllable), count in errors.most_common(args.errors):
        print(f"  {char} gold {expected} got {syllable}: {count}")


if __name__ == "__main__":
    main()
