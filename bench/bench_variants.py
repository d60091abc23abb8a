"""The graphs of one voice in one run: Whisper WER/CER, DNSMOS, mel SNR (not a test).

    python bench/bench_variants.py [--voice voices/joe-nano] [--texts ../shared/data/dev_en.txt ...]
                                   [--speaker NAME] [--variants fp32,fp16,int8,compact]
                                   [--json OUT] [--record]

Every variant speaks the dev lines through ``steptts.TTS`` on onnxruntime's CPU provider (which runs
fp16 graphs too), one thread, sentence by sentence. A variant the voice does not ship is made on the
fly from its fp32 graph into a scratch copy of the voice: fp16 by ``export.onnx_export.convert_fp16``,
int8 by ``quantize_int8``, ``compact`` (the fp32 graph with its weights stored in fp16,
:mod:`export.compact`) in a second copy. When the voice's fp32 graph is itself compacted already, the
reference is that graph, and ``compact`` measures nothing new. Per variant:

- Whisper base WER on English lines and CER on Mandarin lines (``distill.intelligibility``; the
  language of each line from its script) and DNSMOS OVRL (``distill.evaluate.Dnsmos``), mean over
  the lines; the lines whose audio length (so whose durations) equal fp32's;
- parity against the fp32 graph on the held-out inputs (``export.parity.measure_graph_parity``:
  durations, mel SNR with durations forced);
- the verdict of ``export.variants.VARIANT_RULE`` on all of it (its error-rate limit applies to the
  worse of the English WER and the Mandarin CER increase).

``--record`` writes each recorded variant's listening figures, and the rule's verdict on them and on
the parity figures already in voice.json, into the voice's voice.json (``parity[variant].listening``);
``--record-from JSON`` does so from an earlier run's ``--json``. Graphs and checksums are not touched.
"""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

VARIANTS = ("fp32", "fp16", "int8", "compact")
"""``compact``: the fp32 graph with fp16-stored weights (runs as the copy's fp32 variant)."""


def variant_voice(voice_dir: Path, scratch: Path) -> Path:
    """A scratch copy of the voice holding the fp32, fp16 and int8 graphs (the missing ones made from fp32)."""
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


def compact_voice_copy(voice_dir: Path, scratch: Path, only: tuple[str, ...] | None = None) -> Path:
    """A second scratch copy whose fp32 graph stores its weights in fp16 (export.compact; ``only``
    those read by nodes of these name prefixes)."""
    from export.compact import compact_graph
    from export.package import replace_graph

    copy = scratch / "compact" / voice_dir.name
    shutil.copytree(voice_dir, copy)
    graph = copy / json.loads((copy / "voice.json").read_text(encoding="utf-8"))["variants"]["fp32"]
    candidate = graph.with_name(graph.name + ".compact")
    compact_graph(graph, candidate, only)
    replace_graph(copy, "fp32", candidate, {"made_by": "bench_variants"})
    return copy


def render_and_judge(voice: Path, variant: str, lines: list[str], judges, speaker: str | None,
                     **tts_options) -> dict:
    """Speak every line with one graph variant (``tts_options``: more ``TTS`` arguments); what Whisper
    hears, DNSMOS, audio lengths."""
    from distill.intelligibility import line_languages, summarize_heard
    from steptts import TTS

    intelligibility, dnsmos = judges
    languages = line_languages(lines)
    tts = TTS(voice=voice, provider="cpu", threads=1, variant=variant, **tts_options)
    controls = {"speaker": speaker} if speaker else {}
    heard, scores, lengths, compute_s, audio_s = [], [], [], 0.0, 0.0
    for line, language in zip(lines, languages):
        started = time.perf_counter()
        audio = tts.synthesize(line, **controls)
        compute_s += time.perf_counter() - started
        audio_s += audio.samples.size / audio.sample_rate_hz
        lengths.append(audio.samples.size)
        heard.append(intelligibility.hear(line, language, audio.samples, audio.sample_rate_hz))
        scores.append(dnsmos.ovrl(audio.samples, audio.sample_rate_hz))
    by_language = summarize_heard(lines, languages, heard)
    return {
        "variant": tts.variant,
        "by_language": by_language,
        "whisper_wer": by_language.get("en", {}).get("whisper_wer"),
        "whisper_cer": by_language.get("zh", {}).get("whisper_cer"),
        "pocketsphinx_wer": by_language.get("en", {}).get("pocketsphinx_wer"),
        "dnsmos_ovrl": float(np.nanmean(scores)),
        "rtf_cpu_1_thread": compute_s / audio_s,
        "lengths": lengths,
        "heard": [entry["whisper"] for entry in heard],
    }


def _error_increase(figures: dict, reference: dict) -> float:
    """The worse of the English WER and Mandarin CER increases over the reference."""
    rises = [figures[key] - reference[key] for key in ("whisper_wer", "whisper_cer")
             if figures.get(key) is not None and reference.get(key) is not None]
    return max(rises)


def compare(voice: Path, compact: Path | None, results: dict[str, dict]) -> None:
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
        graph = compact / "model.onnx" if variant == "compact" else voice / config["variants"][variant]
        parity = measure_graph_parity(voice / config["variants"]["fp32"], graph, feeds)
        figures["parity"] = parity.to_json()
        figures["dev_lines_with_fp32_length"] = float(np.mean(
            [a == b for a, b in zip(figures["lengths"], reference["lengths"])]))
        figures["listening"] = {
            "wer_increase": _error_increase(figures, reference),
            "dnsmos_drop": reference["dnsmos_ovrl"] - figures["dnsmos_ovrl"],
        }
        figures["kept"], figures["why"] = VARIANT_RULE.verdict(figures["parity"], figures["listening"])


def _listening(figures: dict, reference: dict, texts: list[Path], command: str) -> dict:
    """A variant's listening figures beside fp32's, with what they were measured on."""
    return {
        **figures["listening"],
        **{key: figures[key] for key in ("whisper_wer", "whisper_cer", "dnsmos_ovrl")},
        **{f"fp32_{key}": reference[key] for key in ("whisper_wer", "whisper_cer", "dnsmos_ovrl")},
        "texts": f"{', '.join(t.name for t in texts)} ({len(reference['lengths'])} lines)",
        "command": command,
    }


def record(voice_dir: Path, results: dict[str, dict], texts: list[Path], command: str) -> None:
    """Write the listening figures of the variants on record into the voice's voice.json, and the
    rule's verdict on them together with the parity figures already there. ``compact`` figures go to
    ``parity.fp32.weights_fp16.listening`` once the voice's fp32 graph is compacted."""
    from export.package import merge_parity, record_variant
    from export.variants import VARIANT_RULE

    config = json.loads((voice_dir / "voice.json").read_text(encoding="utf-8"))
    compacted = config["parity"].get("fp32", {}).get("weights_fp16")
    for variant, figures in results.items():
        listening = _listening(figures, results["fp32"], texts, command) if variant != "fp32" else None
        if variant == "compact" and compacted:
            merge_parity(voice_dir, "fp32", {"weights_fp16": {
                **compacted, "listening": {**listening, "verdict": figures["why"]}}})
        elif variant not in ("fp32", "compact") and variant in config["parity"]:
            entry = {**config["parity"][variant], "listening": listening}
            kept, entry["why"] = VARIANT_RULE.verdict(entry, figures["listening"])
            entry["kept"] = kept and variant in config["variants"]
            record_variant(voice_dir, variant, None, entry)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--voice", type=Path, default=REPO / "voices" / "joe-nano")
    parser.add_argument("--texts", type=Path, nargs="+", default=[REPO.parent / "shared" / "data" / "dev_en.txt"])
    parser.add_argument("--speaker", help="the voice's speaker (default: its first)")
    parser.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated, fp32 always included")
    parser.add_argument("--compact-only", nargs="+", help="compact: only tensors read by nodes of these name "
                        "prefixes (export.compact --only)")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--record", action="store_true", help="write the figures into the voice's voice.json")
    parser.add_argument("--record-from", type=Path, help="record the figures of an earlier run's --json")
    args = parser.parse_args()
    texts_arg = " ".join(str(t) for t in args.texts)
    if args.record_from:
        results = json.loads(args.record_from.read_text(encoding="utf-8"))
        measured_by = results["fp32"].get("command")  # the measuring run's own command line
        record(args.voice, results, args.texts,
               measured_by or f"python bench/bench_variants.py --texts {texts_arg} --json {args.record_from.name}")
        return
    variants = ["fp32"] + [v for v in args.variants.split(",") if v and v != "fp32"]
    unknown = sorted(set(variants) - set(VARIANTS))
    if unknown:
        parser.error(f"unknown variants {unknown}; choose from {', '.join(VARIANTS)}")

    from distill.evaluate import Dnsmos, read_texts
    from distill.intelligibility import Intelligibility

    lines = [line for path in args.texts for line in read_texts(path)]
    judges = (Intelligibility(pocketsphinx=True), Dnsmos())
    with tempfile.TemporaryDirectory() as scratch:
        voice = variant_voice(args.voice, Path(scratch))
        only = tuple(args.compact_only) if args.compact_only else None
        compact = compact_voice_copy(args.voice, Path(scratch), only) if "compact" in variants else None
        results = {variant: render_and_judge(compact if variant == "compact" else voice,
                                             "fp32" if variant == "compact" else variant, lines, judges,
                                             args.speaker)
                   for variant in variants}
        compare(voice, compact, results)
    command = shlex.join(["python", "bench/bench_variants.py", *sys.argv[1:]])
    for figures in results.values():
        figures["command"] = command
    print(f"{'variant':8} {'WER (en)':>9} {'CER (zh)':>9} {'DNSMOS':>7} {'mel SNR dB':>11} {'durations':>10}  verdict")
    for variant, figures in results.items():
        parity = figures.get("parity", {"mel_snr_db": float("inf"), "durations_match": 1.0})
        wer, cer = figures["whisper_wer"], figures["whisper_cer"]
        print(f"{variant:8} {'—' if wer is None else f'{wer:.4f}':>9} {'—' if cer is None else f'{cer:.4f}':>9} "
              f"{figures['dnsmos_ovrl']:7.3f} {parity['mel_snr_db']:11.2f} {parity['durations_match']:10.3f}  "
              f"{figures.get('why', 'reference')}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    if args.record:
        record(args.voice, results, args.texts, command)


if __name__ == "__main__":
    main()
