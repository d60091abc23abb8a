"""Store a graph's weights in fp16 and compute in fp32: half the file, the same arithmetic.

Every large float32 tensor of the graph (an initializer, or the value of a ``Constant`` node such as
the vocoder's DFT basis) is stored as fp16 and widened back by a ``Cast`` placed at the head of the
graph. onnxruntime folds those casts when it builds the session, so the session computes in fp32, as
before, with each weight rounded once to fp16 (11 significant bits, a relative error of at most
2**-11). Nothing else changes: the graph's inputs, outputs, node names and fp32 activations stay.

This is how a voice fits the size target of issue 14 (about 12 MB for the nano student, instead of
23.5 MB) without the accuracy cost of int8 weights or the CPU cost of fp16 kernels.

    python -m export.compact voices/NAME          # compacts every float graph of the package

Each compacted graph is measured against the graph it replaces on the held-out inputs
(:func:`export.parity.measure_graph_parity`) and judged by :data:`export.variants.VARIANT_RULE`; a
graph the rule rejects is left as it was. The figures, and the verdict, go into ``voice.json``
(``parity[variant].weights_fp16``), and the checksums are rewritten.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from export.precision import _FP16_MAX, FLOAT

STORED_SUFFIX = "/stored_fp16"
"""Suffix of the fp16 initializer that stores a tensor; the tensor's own name is the Cast's output."""
MIN_ELEMENTS = 1024
"""Smaller tensors stay fp32: they weigh little, and scalars feed shape arithmetic and phase angles."""


@dataclass(frozen=True)
class CompactReport:
    """What :func:`store_weights_half` did to one graph."""

    tensors_stored_half: int
    """Float tensors now stored in fp16 (each widened by one Cast)."""
    tensors_kept_fp32: int
    """Float tensors of at least MIN_ELEMENTS kept in fp32 (values beyond fp16's range, or not finite)."""
    bytes_before: int
    """Bytes of float32 tensor data before."""
    bytes_after: int
    """Bytes of the same data after (fp16 ones at 2 bytes a value)."""


def _storable(array: np.ndarray) -> bool:
    """Finite and within fp16's range, so the fp16 copy is a rounding and never an overflow."""
    return bool(np.isfinite(array).all()) and float(np.abs(array).max(initial=0.0)) <= _FP16_MAX


def store_weights_half(model, min_elements: int = MIN_ELEMENTS,
                       only: tuple[str, ...] | None = None) -> CompactReport:
    """Rewrite ``model`` (an ``onnx.ModelProto``, top-level graph) in place; see the module docstring.

    Args:
        only: node-name prefixes (``("/vocoder/",)``): a tensor is stored in fp16 only when every node
            that reads it is named so; None: every tensor.
    Initializers that are also graph inputs (overridable defaults) are left alone.
    """
    from onnx import helper, numpy_helper

    graph = model.graph
    graph_inputs = {value.name for value in graph.input}
    readers: dict[str, list[str]] = {}
    for node in graph.node:
        for name in node.input:
            readers.setdefault(name, []).append(node.name)

    def chosen(name: str) -> bool:
        return only is None or all(reader.startswith(only) for reader in readers.get(name, [""]))
    widen_nodes, half_initializers, kept, before, after = [], [], 0, 0, 0

    def store(name: str, array: np.ndarray) -> bool:
        """Store ``array`` in fp16 under ``name``'s widening Cast; False (kept fp32) if it cannot be."""
        nonlocal kept, before, after
        before += array.nbytes
        if not _storable(array):
            kept += 1
            after += array.nbytes
            return False
        half = numpy_helper.from_array(array.astype(np.float16), name + STORED_SUFFIX)
        half_initializers.append(half)
        widen_nodes.append(helper.make_node("Cast", [half.name], [name], to=FLOAT, name=name + "/widen"))
        after += array.size * 2
        return True

    def is_candidate(tensor, name: str) -> bool:
        large = tensor.data_type == FLOAT and int(np.prod(tensor.dims, dtype=np.int64)) >= min_elements
        return large and chosen(name)

    keep_initializers = [
        initializer for initializer in graph.initializer
        if not (is_candidate(initializer, initializer.name) and initializer.name not in graph_inputs
                and store(initializer.name, numpy_helper.to_array(initializer)))
    ]
    keep_nodes = []
    for node in graph.node:
        value = _constant_tensor(node)
        if value is not None and is_candidate(value, node.output[0]) and store(node.output[0],
                                                                               numpy_helper.to_array(value)):
            continue
        keep_nodes.append(node)
    del graph.initializer[:]
    graph.initializer.extend(keep_initializers + half_initializers)
    del graph.node[:]
    graph.node.extend(widen_nodes + keep_nodes)  # casts read only initializers: first is a valid order
    return CompactReport(len(half_initializers), kept, before, after)


def _constant_tensor(node):
    """The tensor of a ``Constant`` node given by ``value``, else None."""
    if node.op_type != "Constant" or node.domain not in ("", "ai.onnx"):
        return None
    for attribute in node.attribute:
        if attribute.name == "value":
            return attribute.t
    return None


def compact_graph(source: Path, target: Path, only: tuple[str, ...] | None = None) -> CompactReport:
    """Write ``source`` with fp16-stored weights to ``target`` (atomically; target may be source);
    ``only``: see :func:`store_weights_half`."""
    import onnx

    model = onnx.load(str(source))
    report = store_weights_half(model, only=only)
    onnx.checker.check_model(model)
    partial = Path(target).with_name(Path(target).name + ".partial")
    onnx.save(model, str(partial))
    os.replace(partial, target)
    return report


def compact_voice(voice_dir: str | Path, only: tuple[str, ...] | None = None) -> dict[str, dict]:
    """Compact every fp32 and fp16 graph of a voice package; returns variant → figures and verdict.

    A graph already compacted is skipped (its figures stay). The int8 graph, if any, is left alone:
    its weights are already 8-bit. ``only``: see :func:`store_weights_half` (recorded as ``only``).
    """
    import json

    from export.package import replace_graph
    from export.parity import held_out_feeds, measure_graph_parity
    from export.variants import VARIANT_RULE
    from steptts.voice import VOICE_FILE

    folder = Path(voice_dir)
    config = json.loads((folder / VOICE_FILE).read_text(encoding="utf-8"))
    feeds = held_out_feeds(config["phoneme_vocab"], config["tag_vocab"], len(config["speakers"]),
                           config.get("language", "en-us"))
    results: dict[str, dict] = {}
    for variant in ("fp32", "fp16"):
        graph_name = config.get("variants", {}).get(variant)
        if graph_name is None or "weights_fp16" in config.get("parity", {}).get(variant, {}):
            continue
        graph_path = folder / graph_name
        candidate = folder / f"{graph_name}.compact"
        report = compact_graph(graph_path, candidate, only)
        figures = {**measure_graph_parity(graph_path, candidate, feeds).to_json(), **asdict(report),
                   "reference": f"{graph_name} before compaction", **({"only": list(only)} if only else {})}
        kept, figures["why"] = VARIANT_RULE.verdict(figures)
        figures["kept"] = kept
        if kept:
            replace_graph(folder, variant, candidate, {"weights_fp16": figures})
        else:
            candidate.unlink()
        results[variant] = figures
    return results


def main(argv: list[str] | None = None) -> None:
    import argparse
    import json

    from steptts.voice import VOICE_FILE

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("voice", type=Path, help="voice folder (holds voice.json)")
    parser.add_argument("--only", nargs="+", help="node-name prefixes: store only the tensors that these "
                        "nodes alone read (e.g. /vocoder/)")
    args = parser.parse_args(argv)
    results = compact_voice(args.voice, tuple(args.only) if args.only else None)
    variants = json.loads((args.voice / VOICE_FILE).read_text(encoding="utf-8"))["variants"]
    for variant, figures in results.items():
        size_mb = (args.voice / variants[variant]).stat().st_size / 1e6 if variant in variants else 0.0
        print(f"{variant}: {figures['why']}; {figures['tensors_stored_half']} tensors stored in fp16, weights "
              f"{figures['bytes_before'] / 1e6:.1f} → {figures['bytes_after'] / 1e6:.1f} MB; "
              f"graph file {size_mb:.1f} MB")
    if not results:
        print(f"{args.voice}: nothing to compact (every graph already is)")


if __name__ == "__main__":
    main()
