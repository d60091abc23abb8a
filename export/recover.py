"""The torch student back from its fp32 graph, for a voice whose training checkpoint is not at hand.

The exporter keeps most parameter names as initializer names. The weights of ``nn.Linear`` layers are
stored transposed under anonymous names (``onnx::MatMul_…``); the MatMul node that reads each one is
named after its module (``/decoder/layers.0/qkv/MatMul`` → ``decoder.layers.0.qkv.weight``). Only
the alignment projection is absent: it serves training alone, and the rebuilt student gets a fresh
one. ``load_state_dict`` checks every shape, so a graph of another preset fails loudly.
"""

from __future__ import annotations

from pathlib import Path

import torch

from distill.model import Student, make_config

TRAINING_ONLY = ("align_projection.weight", "align_projection.bias")
"""Parameters the inference graph does not contain."""


def _state_from_graph(model) -> dict[str, torch.Tensor]:
    """Parameter name → tensor, for every parameter the graph holds."""
    from onnx import numpy_helper

    initializers = {tensor.name: tensor for tensor in model.graph.initializer}
    state: dict[str, torch.Tensor] = {}
    for name, tensor in initializers.items():
        if not name.startswith("onnx::"):
            state[name] = torch.from_numpy(numpy_helper.to_array(tensor).copy())
    for node in model.graph.node:
        if node.op_type != "MatMul" or len(node.input) < 2 or not node.input[1].startswith("onnx::"):
            continue
        weight = initializers.get(node.input[1])
        if weight is None:
            continue
        module = node.name.strip("/").rsplit("/", 1)[0].replace("/", ".")
        state[f"{module}.weight"] = torch.from_numpy(numpy_helper.to_array(weight).T.copy())
    return state


def student_from_graph(graph_path: str | Path, preset: str) -> Student:
    """The student of ``preset`` whose weights the fp32 graph at ``graph_path`` holds (eval mode, CPU)."""
    import onnx

    state = _state_from_graph(onnx.load(str(graph_path)))
    config = make_config(
        preset,
        n_symbols=state["phoneme_embedding.weight"].shape[0],
        n_tags=state["tag_embedding.weight"].shape[0],
        n_speakers=state["speaker_embedding.weight"].shape[0],
    )
    student = Student(config)
    try:
        result = student.load_state_dict(state, strict=False)
    except RuntimeError as error:  # a shape that differs: another preset
        raise ValueError(f"{graph_path} is not a {preset} student's graph: {str(error)[:300]}") from None
    missing = sorted(set(result.missing_keys) - set(TRAINING_ONLY))
    if missing or result.unexpected_keys:
        raise ValueError(f"{graph_path} is not a {preset} student's graph: missing {missing[:5]}, "
                         f"unexpected {result.unexpected_keys[:5]}")
    return student.eval()
