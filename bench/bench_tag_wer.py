"""Intelligibility under tags on more held-out lines than `steptts distill eval --tags` uses (not a test).

    python bench/bench_tag_wer.py [--voice VOICE|teacher:piper] [--tags 快速2,British,Scottish]
                                  [--lj-lines 60] [--json OUT]

pocketsphinx's WER moves by several points between two renderings that differ by a frame here and
there, so 20 lines (about 180 words) cannot tell a tag's real cost from noise. This renders the 20
lines of ``../shared/data/dev_en.txt`` plus ``--lj-lines`` LJ Speech transcripts from line 10,500
on (single sentences of 6 to 14 words without digits; the training corpora take LJ Speech from its
start, the default voice its first 477 lines), neutral and under each tag, first sentence of each
line, and reports the WER of each set and of both together, against neutral + 0.10 (the #6 bar).
``--voice teacher:piper`` measures the Piper teacher the same way (the tags it renders natively:
speeds and accents), as `steptts distill eval --voice teacher:piper` does.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
LJ_FIRST_LINE = 10_500
DEFAULT_TAGS = "快速2,快速1,British,Scottish,American,高兴2,生气2,悲伤2,RAP"


def lj_lines(count: int, first: int = LJ_FIRST_LINE) -> list[str]:
    """``count`` short single-sentence LJ Speech transcripts from line ``first`` on (deterministic)."""
    rows = (SHARED_DATA / "ljspeech_text.tsv").read_text(encoding="utf-8").splitlines()[first:]
    chosen = []
    for row in rows:
        text = row.split("\t")[-1].strip()
        if (6 <= len(text.split()) <= 14 and text.endswith(".") and text.count(",") <= 1
                and not any(c.isdigit() for c in text)):
            chosen.append(text)
        if len(chosen) == count:
            break
    return chosen


def held_out_sets(lj_count: int) -> dict[str, list[str]]:
    """The benches' line sets: the 20 dev lines (first sentence of each) and ``lj_count`` LJ lines."""
    from distill.report import first_sentences, read_texts

    return {"dev20": first_sentences(read_texts(SHARED_DATA / "dev_en.txt"), 20), f"lj{lj_count}": lj_lines(lj_count)}


def transcribe_sets(sets: dict[str, list[str]], render, sample_rate_hz: int, recognizer) -> tuple[dict, list]:
    """Render every line with ``render(text) -> audio [S]`` and judge it.

    Returns (WER per set and ``all`` of them together, speech duration in seconds per line).
    """
    from distill.judges import reference_words, word_error_rate
    from distill.measures import speech_duration_s

    wer, durations, all_refs, all_hyps = {}, [], [], []
    for name, sentences in sets.items():
        refs, hyps = [reference_words(s) for s in sentences], []
        for sentence in sentences:
            audio = render(sentence)
            durations.append(speech_duration_s(audio, sample_rate_hz))
            hyps.append(recognizer.transcribe(audio, sample_rate_hz))
        wer[name] = word_error_rate(refs, hyps)
        all_refs += refs
        all_hyps += hyps
    wer["all"] = word_error_rate(all_refs, all_hyps)
    return wer, durations


def main() -> None:
    sys.path.insert(0, str(REPO))
    from distill.judges import SpeechRecognizer
    from distill.systems import make_student
    from steptts.voice import default_voice_name

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--voice", default=None,
                        help="voice name or folder (default: the embedded one), or teacher:piper")
    parser.add_argument("--tags", default=DEFAULT_TAGS, help="comma-separated tag keys")
    parser.add_argument("--lj-lines", type=int, default=60)
    parser.add_argument("--bpm", type=float, default=90.0, help="tempo of RAP")
    parser.add_argument("--json", default=None, help="write the figures here")
    args = parser.parse_args()

    sets = held_out_sets(args.lj_lines)
    system = make_student(args.voice or default_voice_name())
    recognizer = SpeechRecognizer()

    def wer_of(prefix: str, **controls) -> dict[str, float]:
        def render(text: str):
            return system.synthesize(prefix + text, **controls).audio

        return transcribe_sets(sets, render, system.sample_rate_hz, recognizer)[0]

    results = {"system": system.name, "sets": {k: len(v) for k, v in sets.items()}, "neutral": wer_of("")}
    columns = list(results["neutral"])
    print(f"{system.name}; lines: " + ", ".join(f"{k} {len(v)}" for k, v in sets.items()))
    print(f"{'tag':10s} " + " ".join(f"{c:>8s}" for c in columns) + "   bar (all): neutral + 0.10")
    print(f"{'neutral':10s} " + " ".join(f"{results['neutral'][c]:8.3f}" for c in columns))
    results["tags"] = {}
    for key in [k.strip() for k in args.tags.split(",") if k.strip()]:
        music = key == "RAP" and system.takes_music_controls  # the teacher's rap edit picks its own tempo
        figures = wer_of(f"({key})", **({"bpm": args.bpm} if music else {}))
        results["tags"][key] = figures
        verdict = "pass" if figures["all"] <= results["neutral"]["all"] + 0.10 else "FAIL"
        print(f"{key:10s} " + " ".join(f"{figures[c]:8.3f}" for c in columns) + f"   {verdict}", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(results, ensure_ascii=False, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
