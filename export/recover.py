"""The torch student back from its fp32 graph, for a voice whose training checkpoint is not at hand.

The parameter names are read by :func:`distill.onnx_weights.named_weights`, the one place that maps
the exporter's initializers (kept names, Identity aliases, transposed MatMul weights) back to the
state dict. Only the alignment projection is absent: it serves training alone, and the rebuilt
student gets a fresh one. ``load_state_dict`` checks every shape, so a graph of another preset fails
loudly.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from distill.model import Student, make_config
from distill.onnx_weights import TRAINING_ONLY, named_weights

__all__ = ["TRAINING_ONLY", "student_from_graph"]


def student_from_graph(graph_path: str | Path, preset: str) -> Student:
    """The student of ``preset`` whose weights the fp32 graph at ``graph_path`` holds (eval mode, CPU).

    Unlike :func:`distill.onnx_weights.student_from_graph`, which infers the config from the graph,
    this checks the graph against a named preset: a graph of another preset fails loudly.
    """
    import onnx

    weights, _ = named_weights(onnx.load(str(graph_path)))
    state = {name: torch.from_numpy(np.array(value, dtype=np.float32)) for name, value in weights.items()}
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
