"""Student → ONNX graphs: the fp32 graph of the contract, and its fp16 (CUDA) and int8 (CPU) variants.

The graph's inputs and outputs are docs/CONTRACTS.md's schema_version 1, with dynamic batch, tokens,
tags and output length. Export uses the TorchScript exporter (``dynamo=False``, opset 17): the
student's length regulator and iSTFT are written so that it traces without data-dependent Python.
"""

from __future__ import annotations

import hashlib
import math
import tempfile
import warnings
from pathlib import Path

import torch

from distill.model import Student
from steptts.graph import GRAPH_IO, INPUT_NAMES, OUTPUT_NAMES

OPSET = 17

_DYNAMIC_AXES = {
    name: {index: axis for index, axis in enumerate(spec["shape"]) if isinstance(axis, str)}
    for group in GRAPH_IO.values()
    for name, spec in group.items()
}
_TWO_GIB = 2**31
# Nodes kept in fp32 in the fp16 variant: the iSTFT and the STFT of the pulse train (a 1024-point
# DFT loses ~30 dB in fp16) and the pulse train itself (a running phase),
# the predictors whose outputs are rounded into frame counts, and the position encodings (angles of
# hundreds of radians).
_FP32_NODE_PREFIXES = (
    "/vocoder/istft/", "/vocoder/source/", "/vocoder/analysis/", "/vocoder/minimum_phase/",
    "/encoder/positions/", "/decoder/positions/",
    "/duration_predictor/", "/pitch_predictor/", "/energy_predictor/",
)
_FP32_OP_TYPES = ["Sin", "Cos", "Exp", "CumSum", "Range", "Round"]


def example_inputs(student: Student, batch: int = 2, n_tokens: int = 9) -> tuple[torch.Tensor, ...]:
    """Inputs to trace the graph with, in INPUT_NAMES order (ragged lengths, a tag, an override)."""
    config = student.config
    generator = torch.Generator().manual_seed(0)
    phoneme_ids = torch.randint(1, config.n_symbols, (batch, n_tokens), generator=generator)
    lengths = torch.tensor([n_tokens] + [max(1, n_tokens - 3)] * (batch - 1))
    phoneme_ids = phoneme_ids * (torch.arange(n_tokens)[None, :] < lengths[:, None])
    tag_ids = torch.zeros(batch, 2, dtype=torch.long)
    tag_ids[0, 0] = min(1, config.n_tags - 1)
    controls = torch.tensor([[1.0, 0.0, 0.0]] * batch)
    duration_override = torch.full((batch, n_tokens), -1.0)
    pitch_override = torch.zeros(batch, n_tokens)
    return (phoneme_ids, lengths, tag_ids, torch.zeros(batch, dtype=torch.long), controls, duration_override,
            pitch_override)


def export_onnx(student: Student, path: Path, external_data: bool | None = None) -> Path:
    """Write the fp32 graph to ``path``; returns it. The student is exported in eval mode on the CPU.

    With ``external_data`` (default: when the weights reach 2 GiB, protobuf's limit) the weights go to
    one side file, ``path.name + '.data'``.
    """
    import onnx

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    student = student.eval().to("cpu", torch.float32)
    size_bytes = sum(p.numel() * p.element_size() for p in student.parameters())
    with tempfile.TemporaryDirectory(dir=path.parent) as scratch:
        traced = Path(scratch) / path.name
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the tracer warns about shape arithmetic that is in fact dynamic
            torch.onnx.export(
                student,
                example_inputs(student),
                str(traced),
                input_names=list(INPUT_NAMES),
                output_names=list(OUTPUT_NAMES),
                dynamic_axes=_DYNAMIC_AXES,
                opset_version=OPSET,
                dynamo=False,
                do_constant_folding=True,
            )
        if external_data is None:
            external_data = size_bytes >= _TWO_GIB
        # One copy of each constant: the exporter writes the shared (i)STFT basis once per use.
        model = onnx.load(str(traced), load_external_data=True)
        merge_duplicate_constants(model)
        if not external_data:
            onnx.save_model(model, str(path))
            Path(f"{path}.data").unlink(missing_ok=True)
        else:  # the exporter scatters large tensors over many files: gather them into one
            Path(f"{path}.data").unlink(missing_ok=True)  # onnx appends to an existing data file
            onnx.save_model(
                model, str(path), save_as_external_data=True, all_tensors_to_one_file=True,
                location=path.name + ".data", size_threshold=1024, convert_attribute=True,
            )
    return path


def merge_duplicate_constants(model, min_elements: int = 1024) -> int:
    """Point every user of a repeated large Constant node at its first copy; returns copies removed.

    Constants have no inputs, so the first copy (earliest in the node list) precedes every consumer of
    a later one and the graph stays topologically sorted.
    """
    from onnx import numpy_helper

    first_output: dict[tuple, str] = {}
    renamed: dict[str, str] = {}
    kept = []
    for node in model.graph.node:
        if node.op_type == "Constant" and node.attribute and node.attribute[0].name == "value":
            tensor = node.attribute[0].t
            if math.prod(tensor.dims) >= min_elements:
                array = numpy_helper.to_array(tensor)
                key = (tensor.data_type, tuple(tensor.dims), hashlib.sha256(array.tobytes()).hexdigest())
                if key in first_output:
                    renamed[node.output[0]] = first_output[key]
                    continue
                first_output[key] = node.output[0]
        for index, name in enumerate(node.input):
            if name in renamed:
                node.input[index] = renamed[name]
        kept.append(node)
    for output in model.graph.output:
        if output.name in renamed:
            raise ValueError(f"graph output {output.name} is a duplicated constant")
    del model.graph.node[:]
    model.graph.node.extend(kept)
    return len(renamed)


def convert_fp16(source: Path, target: Path) -> Path:
    """fp16 copy of a graph for CUDA: float32 inputs and outputs, precision-critical nodes in fp32."""
    import onnx
    from onnxruntime.transformers.float16 import DEFAULT_OP_BLOCK_LIST, convert_float_to_float16

    model = onnx.load(str(source))
    keep_fp32 = [node.name for node in model.graph.node if node.name.startswith(_FP32_NODE_PREFIXES)]
    half = convert_float_to_float16(
        model,
        keep_io_types=True,
        op_block_list=list(DEFAULT_OP_BLOCK_LIST) + _FP32_OP_TYPES,
        node_block_list=keep_fp32,
    )
    _drop_duplicate_nodes(half)
    _save(half, Path(target), large=Path(f"{source}.data").exists())
    return target


def _save(model, path: Path, large: bool) -> None:
    """Save a graph, with its weights in ``path.name + '.data'`` when ``large``."""
    import onnx

    Path(f"{path}.data").unlink(missing_ok=True)
    if large:
        onnx.save_model(model, str(path), save_as_external_data=True, all_tensors_to_one_file=True,
                        location=path.name + ".data", size_threshold=1024, convert_attribute=True)
    else:
        onnx.save_model(model, str(path))


def _drop_duplicate_nodes(model) -> None:
    """Remove exact duplicate nodes (same name, same everything).

    The fp16 converter inserts one identical Cast per fp32 consumer of an fp16 tensor; onnxruntime
    rejects the repeated node names.
    """
    seen: dict[str, bytes] = {}
    kept = []
    for node in model.graph.node:
        encoded = node.SerializeToString()
        if node.name in seen and seen[node.name] == encoded:
            continue
        seen.setdefault(node.name, encoded)
        kept.append(node)
    del model.graph.node[:]
    model.graph.node.extend(kept)


def quantize_int8(source: Path, target: Path) -> Path:
    """Dynamic int8 quantization of the weight matmuls for CPU (the iSTFT basis stays fp32)."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    model = onnx.load(str(source), load_external_data=False)  # node names only
    exclude = [node.name for node in model.graph.node if node.name.startswith(_FP32_NODE_PREFIXES)]
    quantize_dynamic(
        str(source),
        str(target),
        op_types_to_quantize=["MatMul", "Gemm"],
        nodes_to_exclude=exclude,
        weight_type=QuantType.QInt8,
        extra_options={"MatMulConstBOnly": True},  # activation × activation (attention) stays float
        use_external_data_format=Path(f"{source}.data").exists(),
    )
    return target
