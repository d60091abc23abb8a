"""Give a packaged voice its fp16 graph, from its fp32 graph alone (no checkpoint needed).

``python -m export.half_voice voices/joe-nano [--preset nano]`` converts ``model.onnx`` with
:func:`export.onnx_export.convert_fp16` and measures it on the held-out inputs. With ``--preset``
the reference is the torch student itself, rebuilt from the fp32 graph's weights
(:mod:`export.recover`; the rebuild must match the fp32 graph to the export's 40 dB); without it,
the fp32 graph. Every variant on record is then judged by :data:`export.variants.VARIANT_RULE`, and
the fp16 graph ships only if the rule keeps it. The fp32 graph is not touched.
"""

from __future__ import annotations

import json
from pathlib import Path

from export.package import VARIANT_FILES, drop_variant, record_variant
from steptts.voice import VOICE_FILE


def add_fp16_variant(voice_dir: str | Path, preset: str | None = None,
                     provider: str = "CPUExecutionProvider") -> dict:
    """Convert, measure and (if the rule keeps it) ship ``model.fp16.onnx``; returns its parity figures.

    Args:
        preset: the student preset of the voice (e.g. ``nano``), to measure against the torch student
            rebuilt from the fp32 graph; None measures against the fp32 graph.
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
    against_graph = measure_graph_parity(fp32_path, half_path, feeds, provider).to_json()
    figures = _against_student(fp32_path, half_path, feeds, preset, provider) if preset else against_graph
    figures["mel_snr_db_against_fp32_graph"] = against_graph["mel_snr_db"]
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


def _against_student(fp32_path: Path, half_path: Path, feeds: dict, preset: str, provider: str) -> dict:
    """The fp16 graph's parity against the torch student rebuilt from the fp32 graph."""
    from export.package import ExportError
    from export.parity import MIN_FP32_SNR_DB, measure_parity
    from export.recover import student_from_graph

    student = student_from_graph(fp32_path, preset)
    rebuilt = measure_parity(student, fp32_path, feeds)
    if rebuilt.mel_snr_db < MIN_FP32_SNR_DB:
        raise ExportError(f"the student rebuilt from {fp32_path.name} disagrees with it "
                          f"({rebuilt.mel_snr_db:.1f} dB mel SNR): is it a {preset} graph?")
    figures = measure_parity(student, half_path, feeds, provider).to_json()
    figures["reference"] = f"torch student ({preset}, rebuilt from {fp32_path.name} by export/recover.py)"
    return figures


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("voice", type=Path)
    parser.add_argument("--preset", help="the voice's student preset: measure against the torch student")
    arguments = parser.parse_args()
    print(json.dumps(add_fp16_variant(arguments.voice, arguments.preset), indent=1, ensure_ascii=False))
