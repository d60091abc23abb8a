"""Give a packaged voice its fp16 graph, from its fp32 graph alone (no checkpoint needed).

``python -m export.half_voice voices/joe-nano`` converts ``model.onnx`` with :func:`export.onnx_export.
convert_fp16`, measures it against ``model.onnx`` on the held-out inputs (the fp32 graph stands in for
the torch student, which it matches to 70 dB of mel SNR for joe-nano), judges every variant on record
by :data:`export.variants.VARIANT_RULE`, and ships the fp16 graph only if the rule keeps it. The fp32
graph is not touched.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from export.package import VARIANT_FILES, drop_variant, record_variant
from steptts.voice import VOICE_FILE


def add_fp16_variant(voice_dir: str | Path, provider: str = "CPUExecutionProvider") -> dict:
    """Convert, measure and (if the rule keeps it) ship ``model.fp16.onnx``; returns its parity figures.

    Variants already on record (e.g. a dropped int8 graph) get the rule's verdict written beside their
    figures, so voice.json says why each one is or is not there.
    """
    from export.onnx_export import convert_fp16
    from export.parity import held_out_feeds, measure_graph_parity
    from export.variants import VARIANT_RULE

    folder = Path(voice_dir)
    config = json.loads((folder / VOICE_FILE).read_text(encoding="utf-8"))
    fp32_path = folder / config["variants"]["fp32"]
    half_path = convert_fp16(fp32_path, folder / VARIANT_FILES["fp16"])
    feeds = held_out_feeds(config["phoneme_vocab"], config["tag_vocab"], len(config["speakers"]),
                           config.get("language", "en-us"))
    figures = measure_graph_parity(fp32_path, half_path, feeds, provider).to_json()
    figures["kept"], figures["why"] = VARIANT_RULE.verdict(figures)
    if not figures["kept"]:
        half_path.unlink()
    record_variant(folder, "fp16", half_path.name if figures["kept"] else None, figures)
    for variant, recorded in config.get("parity", {}).items():
        if variant in ("fp32", "fp16"):
            continue
        kept, why = VARIANT_RULE.verdict(recorded)
        if variant in config.get("variants", {}) and not kept:
            drop_variant(folder, variant)
        kept = kept and variant in config.get("variants", {})
        record_variant(folder, variant, None, {"reference": "torch student", **recorded, "kept": kept, "why": why})
    return figures


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m export.half_voice VOICE_FOLDER")
    print(json.dumps(add_fp16_variant(sys.argv[1]), indent=1))
