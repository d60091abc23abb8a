"""fp32, fp16 and int8 graphs of one voice in one run: Whisper WER, DNSMOS, mel SNR (not a test).

    python bench/bench_variants.py [--voice voices/joe-nano] [--texts ../shared/data/dev_en.txt]
                                   [--json OUT] [--record]

Every variant speaks the dev lines through ``steptts.TTS`` on onnxruntime's CPU provider (which runs
fp16 graphs too), one thread, sentence by sentence. A variant the voice does not ship is made on the
fly from its fp32 graph into a scratch copy of the voice: fp16 by ``export.onnx_export.convert_fp16``,
int8 by ``quantize_int8``. Per variant:

- Whisper base WER (``distill.intelligibility``) and DNSMOS OVRL (``distill.evaluate.Dnsmos``), mean
  over the lines; the lines whose audio length (so whose durations) equal fp32's;
- parity against the fp32 graph on the held-out inputs (``export.parity.measure_graph_parity``:
  durations, mel SNR with durations forced);
- the verdict of ``export.variants.VARIANT_RULE`` on all of it.

``--record`` writes each recorded variant's listening figures, and the rule's verdict on them and on
the parity figures already in voice.json, into the voice's voice.json (``parity[variant].listening``);
``--record-from JSON`` does so from an earlier run's ``--json``. Graphs and checksums are not touched.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

VARIANTS = ("fp32", "fp16", "int8")


def variant_voice(voice_dir: Path, scratch: Path) -> Path:
    """A scratch copy of the voice holding all three graphs (the missing ones made from fp32)."""
    from export.onnx_export import convert_fp16, quantize_int8
    from export.package import VARIANT_FILES, record_variant

    copy = scratch / voice_dir.name
    shutil.copytree(voice_dir, copy)
    config = json.loads((copy / "voice.json").read_text(encoding="utf-8"))
    fp32 = copy / config["variants"]["fp32"]
    for variant, make in (("fp16", convert_fp16), ("int8", quantize_int8)):
        if variant not in config["variants"]:
            make(fp32, copy / VARIANT_FILES[variant])
            record_variant(copy, variant, VARIANT_FILES[variant], {"made_by": "bench_variants"})
    return copy


def render_and_judge(voice: Path, variant: str, lines: list[str], judges) -> dict:
    """Speak every line with one variant; what Whisper hears, DNSMOS, audio lengths."""
    from distill.intelligibility import summarize_heard
    from steptts import TTS

    intelligibility, dnsmos = judges
    tts = TTS(voice=voice, provider="cpu", threads=1, variant=variant)
    heard, scores, lengths, compute_s, audio_s = [], [], [], 0.0, 0.0
    for line in lines:
        started = time.perf_counter()
        audio = tts.synthesize(line)
        compute_s += time.perf_counter() - started
        audio_s += audio.samples.size / audio.sample_rate_hz
        lengths.append(audio.samples.size)
        heard.append(intelligibility.hear(line, "en", audio.samples, audio.sample_rate_hz))
        scores.append(dnsmos.ovrl(audio.samples, audio.sample_rate_hz))
    summary = summarize_heard(lines, heard)["en"]
    return {
        "variant": tts.variant,
        "whisper_wer": summary["whisper_wer"],
        "pocketsphinx_wer": summary.get("pocketsphinx_wer"),
        "dnsmos_ovrl": float(np.nanmean(scores)),
        "rtf_cpu_1_thread": compute_s / audio_s,
        "lengths": lengths,
        "heard": [entry["whisper"] for entry in heard],
    }


def compare(voice: Path, results: dict[str, dict]) -> None:
    """Add parity against fp32, listening deltas and the rule's verdict to each variant's results."""
    from export.parity import held_out_feeds, measure_graph_parity
    from export.variants import VARIANT_RULE

    config = json.loads((voice / "voice.json").read_text(encoding="utf-8"))
    feeds = held_out_feeds(config["phoneme_vocab"], config["tag_vocab"], len(config["speakers"]),
                           config.get("language", "en-us"))
    reference = results["fp32"]
    for variant, figures in results.items():
        if variant == "fp32":
            continue
        parity = measure_graph_parity(voice / config["variants"]["fp32"], voice / config["variants"][variant], feeds)
        figures["parity"] = parity.to_json()
        figures["dev_lines_with_fp32_length"] = float(np.mean(
            [a == b for a, b in zip(figures["lengths"], reference["lengths"])]))
        figures["listening"] = {
            "wer_increase": figures["whisper_wer"] - reference["whisper_wer"],
            "dnsmos_drop": reference["dnsmos_ovrl"] - figures["dnsmos_ovrl"],
        }
        figures["kept"], figures["why"] = VARIANT_RULE.verdict(figures["parity"], figures["listening"])


def record(voice_dir: Path, results: dict[str, dict], texts: Path, command: str) -> None:
    """Write the listening figures of the variants on record into the voice's voice.json, and the
    rule's verdict on them together with the parity figures already there."""
    from export.package import record_variant
    from export.variants import VARIANT_RULE

    config = json.loads((voice_dir / "voice.json").read_text(encoding="utf-8"))
    for variant, figures in results.items():
        if variant == "fp32" or variant not in config["parity"]:
            continue
        entry = dict(config["parity"][variant])
        entry["listening"] = {
            **figures["listening"],
            "whisper_wer": figures["whisper_wer"],
            "fp32_whisper_wer": results["fp32"]["whisper_wer"],
            "dnsmos_ovrl": figures["dnsmos_ovrl"],
            "fp32_dnsmos_ovrl": results["fp32"]["dnsmos_ovrl"],
            "texts": f"{texts.name} ({len(results['fp32']['lengths'])} lines)",
            "command": command,
        }
        kept, entry["why"] = VARIANT_RULE.verdict(entry, figures["listening"])
        entry["kept"] = kept and variant in config["variants"]
        record_variant(voice_dir, variant, None, entry)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--voice", type=Path, default=REPO / "voices" / "joe-nano")
    parser.add_argument("--texts", type=Path, default=REPO.parent / "shared" / "data" / "dev_en.txt")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--record", action="store_true", help="write the figures into the voice's voice.json")
    parser.add_argument("--record-from", type=Path, help="record the figures of an earlier run's --json")
    args = parser.parse_args()
    if args.record_from:
        results = json.loads(args.record_from.read_text(encoding="utf-8"))
        record(args.voice, results, args.texts,
               f"python bench/bench_variants.py --texts {args.texts} --json {args.record_from.name}")
        return

    from distill.evaluate import Dnsmos, read_texts
    from distill.intelligibility import Intelligibility

    lines = read_texts(args.texts)
    judges = (Intelligibility(pocketsphinx=True), Dnsmos())
    with tempfile.TemporaryDirectory() as scratch:
        voice = variant_voice(args.voice, Path(scratch))
        results = {variant: render_and_judge(voice, variant, lines, judges) for variant in VARIANTS}
        compare(voice, results)
    print(f"{'variant':8} {'Whisper WER':>12} {'DNSMOS':>7} {'mel SNR dB':>11} {'durations':>10}  verdict")
    for variant, figures in results.items():
        parity = figures.get("parity", {"mel_snr_db": float("inf"), "durations_match": 1.0})
        print(f"{variant:8} {figures['whisper_wer']:12.4f} {figures['dnsmos_ovrl']:7.3f} "
              f"{parity['mel_snr_db']:11.2f} {parity['durations_match']:10.3f}  {figures.get('why', 'reference')}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    if args.record:
        record(args.voice, results, args.texts, f"python bench/bench_variants.py --texts {args.texts} --record")


if __name__ == "__main__":
    main()
