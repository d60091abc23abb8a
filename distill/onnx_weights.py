"""A shipped voice's ONNX graph → the torch student it was exported from (weights and config).

The torch checkpoint of a shipped voice is not in git; its fp32 ``model.onnx`` is. Cloning starts from
that graph, so this module reads its initializers back into :class:`distill.model.Student`:

- most parameters keep their state_dict names in the graph (``encoder.layers.0.ffn_in.weight``);
- the TorchScript exporter turns every ``nn.Linear`` on a 3-D input into ``MatMul`` + ``Add`` and
  stores the weight transposed ([in, out]) under a generated name (``onnx::MatMul_2398``). The
  MatMul node keeps the module's scope in its name (``/encoder/layers.0/qkv/MatMul``), so the
  weight is found deterministically: scope ``encoder.layers.0.qkv`` → ``encoder.layers.0.qkv.weight``,
  transposed back. ``Gemm`` nodes (2-D inputs) are read with their ``transB`` attribute;
- parameters that only training uses (:data:`TRAINING_ONLY`, the alignment projection) are not in
  the graph: they keep the fresh model's initial values and are listed in :attr:`GraphWeights.missing`.

The config is read from the same file: every size from the weights' shapes, the attention heads
from the attention's reshape, the vocoder's log-magnitude clip from its ``Clip`` node, the sample
rate and hop from the voice's ``voice.json``; fields that only training reads take their defaults.
A later export may store the config as metadata (:data:`CONFIG_METADATA_KEY`); it is then used as is.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
import torch

from distill.model import Student, StudentConfig
from steptts.errors import StepTTSError

CONFIG_METADATA_KEY = "steptts.student_config"
"""ONNX ``metadata_props`` key of a graph's StudentConfig as JSON (written by exports that store it)."""
TRAINING_ONLY = ("align_projection.weight", "align_projection.bias")
"""State-dict entries that the inference graph does not hold (monotonic alignment search only)."""


class GraphWeightsError(StepTTSError):
    """An ONNX graph's weights do not map onto a student (not a steptts graph, or a different layout)."""


@dataclass(frozen=True)
class GraphWeights:
    """A student rebuilt from an exported graph."""

    student: Student
    """The torch student in eval mode, float32 on the CPU, with every weight the graph holds."""
    missing: tuple[str, ...]
    """State-dict names the graph does not hold (kept at their initial values)."""
    transposed: tuple[str, ...]
    """State-dict names read from a generated ``onnx::MatMul_*`` initializer (transposed back)."""


def _initializers(model) -> dict[str, np.ndarray]:
    """Name → array of every initializer.

    A weight stored in fp16 and widened by a Cast at load (a compacted graph, export/compact.py)
    reads as the fp32 tensor that the Cast makes, under the Cast's output name.
    """
    from onnx import numpy_helper

    values = {tensor.name: numpy_helper.to_array(tensor) for tensor in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type != "Cast" or len(node.input) != 1 or node.input[0] not in values:
            continue
        to = next((attribute.i for attribute in node.attribute if attribute.name == "to"), None)
        if to == 1 and values[node.input[0]].dtype == np.float16:  # 1: onnx.TensorProto.FLOAT
            values[node.output[0]] = values.pop(node.input[0]).astype(np.float32)
    return values


def _constants(model) -> dict[str, np.ndarray]:
    """Output name → value of every ``Constant`` node."""
    from onnx import numpy_helper

    values = {}
    for node in model.graph.node:
        if node.op_type == "Constant" and node.attribute and node.attribute[0].name == "value":
            values[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
    return values


def _module_scope(node_name: str) -> str:
    """``/encoder/layers.0/qkv/MatMul`` → ``encoder.layers.0.qkv``."""
    return ".".join(part for part in node_name.split("/")[:-1] if part)


def named_weights(model) -> tuple[dict[str, np.ndarray], tuple[str, ...]]:
    """State-dict name → array for every parameter the graph holds, and the names read via MatMul/Gemm.

    Args:
        model: an ``onnx.ModelProto`` exported from a Student.
    """
    initializers = _initializers(model)
    for node in model.graph.node:
        # The exporter keeps one copy of identical tensors (the LayerNorms of an untrained student all
        # hold ones) and names the others through Identity nodes.
        if node.op_type == "Identity" and node.input[0] in initializers:
            initializers[node.output[0]] = initializers[node.input[0]]
    # Generated names (onnx::MatMul_*) are read through their MatMul below; names of graph tensors
    # ("/vocoder/analysis/Constant_37_output_0", a constant a compacted graph stores) are no parameters.
    weights = {name: value for name, value in initializers.items() if not name.startswith(("onnx::", "/"))}
    transposed = []
    for node in model.graph.node:
        if node.op_type not in ("MatMul", "Gemm") or len(node.input) < 2:
            continue
        source = node.input[1]
        if source not in initializers or not source.startswith("onnx::"):
            continue
        trans_b = next((attribute.i for attribute in node.attribute if attribute.name == "transB"), 0)
        # MatMul stores [in, out]; nn.Linear holds [out, in], as a Gemm with transB does.
        value = initializers[source] if node.op_type == "Gemm" and trans_b else initializers[source].T
        name = f"{_module_scope(node.name)}.weight"
        if name in weights and not np.array_equal(weights[name], value):
            raise GraphWeightsError(f"two different initializers map to {name}")
        weights[name] = np.ascontiguousarray(value)
        transposed.append(name)
    return weights, tuple(dict.fromkeys(transposed))


def _heads(model, d_model: int) -> int:
    """Attention heads, from the first encoder block's reshape to [B, L, 3, heads, d_model / heads]."""
    constants = _constants(model)
    for node in model.graph.node:
        if node.op_type == "Concat" and node.name == "/encoder/layers.0/Concat" and len(node.input) == 5:
            three, heads = constants.get(node.input[2]), constants.get(node.input[3])
            if three is not None and heads is not None and int(three.reshape(-1)[0]) == 3:
                value = int(heads.reshape(-1)[0])
                if value > 0 and d_model % value == 0:
                    return value
    raise GraphWeightsError("cannot find the attention heads in the graph (/encoder/layers.0/Concat)")


def _max_log_magnitude(model) -> float:
    constants = _constants(model)
    for node in model.graph.node:
        is_clip = node.op_type == "Clip" and node.name == "/vocoder/Clip"
        if is_clip and len(node.input) == 3 and node.input[2] in constants:
            return float(constants[node.input[2]].reshape(-1)[0])
    raise GraphWeightsError("cannot find the vocoder's log-magnitude clip in the graph (/vocoder/Clip)")


def _count_layers(weights: dict[str, np.ndarray], prefix: str) -> int:
    count = 0
    while f"{prefix}.{count}.attention_norm.weight" in weights or f"{prefix}.{count}.norm.weight" in weights:
        count += 1
    return count


def config_from_graph(model, sample_rate_hz: int, hop_length: int) -> StudentConfig:
    """The StudentConfig of an exported graph: metadata when the export stored it, else inferred.

    Args:
        model: ``onnx.ModelProto`` of a student. sample_rate_hz, hop_length: from the voice.json.
    """
    for prop in model.metadata_props:
        if prop.key == CONFIG_METADATA_KEY:
            stored = json.loads(prop.value)
            known = {field.name for field in fields(StudentConfig)}
            return StudentConfig(**{key: value for key, value in stored.items() if key in known})
    weights, _ = named_weights(model)
    try:
        n_symbols, d_model = weights["phoneme_embedding.weight"].shape
        ffn = weights.get("encoder.layers.0.ffn_in.weight")
        if ffn is not None:
            ffn_hidden, _, ffn_kernel = ffn.shape
        else:
            ffn_hidden, ffn_kernel = weights["encoder.layers.0.ffn_in_linear.weight"].shape[0], 1
        predictor_channels, _, predictor_kernel = weights["duration_predictor.conv1.weight"].shape
        vocoder_dim, vocoder_channels, _ = weights["vocoder.embed.weight"].shape
        return StudentConfig(
            n_symbols=int(n_symbols),
            n_tags=int(weights["tag_embedding.weight"].shape[0]),
            n_speakers=int(weights["speaker_embedding.weight"].shape[0]),
            d_model=int(d_model),
            n_heads=_heads(model, int(d_model)),
            n_encoder_layers=_count_layers(weights, "encoder.layers"),
            n_decoder_layers=_count_layers(weights, "decoder.layers"),
            ffn_mult=int(ffn_hidden) // int(d_model),
            ffn_kernel=int(ffn_kernel),
            predictor_channels=int(predictor_channels),
            predictor_kernel=int(predictor_kernel),
            vocoder_dim=int(vocoder_dim),
            vocoder_hidden=int(weights["vocoder.blocks.0.pointwise_in.weight"].shape[0]),
            vocoder_layers=_count_layers(weights, "vocoder.blocks"),
            vocoder_kernel=int(weights["vocoder.blocks.0.depthwise.weight"].shape[-1]),
            n_mels=int(vocoder_channels) - 2,
            n_fft=2 * (int(weights["vocoder.head.bias"].shape[0]) // 2 - 1),
            hop_length=int(hop_length),
            sample_rate=int(sample_rate_hz),
            max_log_magnitude=_max_log_magnitude(model),
        )
    except KeyError as error:
        raise GraphWeightsError(f"the graph lacks {error.args[0]}: not a steptts student graph") from None


def student_from_graph(path: str | Path, sample_rate_hz: int, hop_length: int) -> GraphWeights:
    """Rebuild the torch student of an fp32 graph file (weights inline, or in ``path.name + '.data'``).

    Raises:
        GraphWeightsError: a weight the student needs is absent (beyond :data:`TRAINING_ONLY`), has
            another shape, or the graph holds a parameter that the student does not have.
    """
    import onnx

    try:
        model = onnx.load(str(path), load_external_data=True)
    except (OSError, ValueError, onnx.onnx_cpp2py_export.checker.ValidationError) as error:
        raise GraphWeightsError(f"cannot read the graph {path}: {error}") from None
    config = config_from_graph(model, sample_rate_hz, hop_length)
    weights, transposed = named_weights(model)
    student = Student(config)
    state = student.state_dict()
    unexpected = sorted(name for name in weights if name not in state)
    if unexpected:
        raise GraphWeightsError(
            f"{path}: the graph holds weights the student lacks: {', '.join(unexpected[:5])}"
        )
    missing = tuple(name for name in state if name not in weights)
    absent = [name for name in missing if name not in TRAINING_ONLY]
    if absent:
        raise GraphWeightsError(
            f"{path}: the graph lacks {len(absent)} weights, e.g. {', '.join(absent[:5])}"
        )
    for name, value in weights.items():
        if tuple(value.shape) != tuple(state[name].shape):
            raise GraphWeightsError(
                f"{path}: {name} has shape {list(value.shape)} in the graph, "
                f"{list(state[name].shape)} in the student"
            )
        state[name] = torch.from_numpy(np.array(value, dtype=np.float32))
    student.load_state_dict(state)
    return GraphWeights(student=student.eval(), missing=missing, transposed=transposed)


def student_from_voice(voice: str | Path | None = None) -> tuple[GraphWeights, object]:
    """The torch student of a voice (verified first), and the :class:`steptts.voice.Voice` itself.

    Args:
        voice: a voice name or folder; the default voice when None.
    """
    from steptts.voice import load_voice

    loaded = load_voice(voice)
    weights = student_from_graph(loaded.model_path("fp32"), loaded.sample_rate_hz, loaded.hop_length)
    return weights, loaded
