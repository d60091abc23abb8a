"""Mixed precision for an ONNX graph: the nodes it is told to convert run in fp16, all others in fp32.

Why not onnxruntime's ``convert_float_to_float16`` with a node block list: it types every float
tensor of the graph as fp16 and wraps each blocked node in casts, so a tensor passed from one blocked
node to the next is still rounded to fp16 on the way (``tests/test_precision.py`` shows it). The
student's pulse train runs its phase from the frame pitch, and its position encodings take angles of
hundreds of radians: rounded between two fp32 nodes, they drift (joe-nano's fp16 graph fell to 7.5 dB
of mel SNR that way).

This pass works the other way round. Only the nodes chosen are converted; every tensor keeps its
producer's precision. An fp32 tensor read by an fp16 node gets one fp16 twin (a cast, or for a
constant an fp16 copy stored in the graph), and an fp16 tensor read by an fp32 node or leaving the
graph gets one fp32 twin (an exact cast). Between two fp32 nodes nothing changes, so the fp32 part of
the graph computes exactly what it computed before.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

FLOAT, FLOAT16 = 1, 10  # onnx.TensorProto.FLOAT, FLOAT16
_FP16_MAX = 65504.0
HALF_SUFFIX = "/fp16"
"""Suffix of the fp16 twin of a tensor name."""

STUDENT_HALF_PREFIXES = (
    "/decoder/layers.", "/decoder/norm/", "/frame_out/",
    "/vocoder/embed/", "/vocoder/embed_norm/", "/vocoder/blocks.", "/vocoder/final_norm/", "/vocoder/head/",
)
"""The student's nodes that run in fp16: the frame-rate transformer blocks, the mel/pitch/voicing
head and the vocoder's ConvNeXt body, nearly all of its compute. Everything that sets the integer
frame counts (encoder, predictors), the pitch and energy values, the position encodings, the pulse
train, the minimum phase and both (i)STFTs stays fp32: the frame pitch is fp32 from the add of the
token pitch onwards, so the phase never sees an fp16 rounding."""

_MOVEMENT_OPS = frozenset({"Transpose", "Reshape", "Squeeze", "Unsqueeze", "Flatten", "Identity"})
"""Ops that move values without arithmetic: fed by fp16, they stay fp16 (exact, and no casts)."""
_FP32_ONLY_INPUTS = {"Resize": (1, 2), "Upsample": (1,)}
"""Inputs that the ONNX schema types as fp32 whatever the data's type."""


@dataclass(frozen=True)
class HalfReport:
    """What a conversion did."""

    half_nodes: int
    """Nodes now computing in fp16."""
    fp32_nodes: int
    """Nodes left in fp32 (constants and shape arithmetic included)."""
    casts: int
    """Cast nodes inserted at the boundaries between the two precisions."""
    half_weights: int
    """Float constants and initializers stored as fp16 (copies when an fp32 node also reads them)."""


def node_prefix_rule(prefixes: Iterable[str]) -> Callable[[object], bool]:
    """A rule choosing the nodes whose name starts with one of ``prefixes``."""
    prefixes = tuple(prefixes)
    return lambda node: node.name.startswith(prefixes)


def _float_types(model) -> dict[str, int]:
    """Element type of every tensor whose type is known (inferred with onnx's shape inference)."""
    import onnx

    inferred = onnx.shape_inference.infer_shapes(model)
    types: dict[str, int] = {}
    graph = inferred.graph
    for info in [*graph.input, *graph.output, *graph.value_info]:
        types[info.name] = info.type.tensor_type.elem_type
    for tensor in graph.initializer:
        types[tensor.name] = tensor.data_type
    for node in graph.node:
        value = _constant_value(node)
        if value is not None:
            types[node.output[0]] = value.data_type
    return types


def _constant_value(node):
    """The tensor of a Constant node's ``value`` attribute (a TensorProto), or None."""
    if node.op_type == "Constant" and node.attribute and node.attribute[0].name == "value":
        return node.attribute[0].t
    return None


def _admits_half(op_type: str, domain: str, opset: int) -> bool:
    """Whether the op's schema allows fp16 wherever it allows fp32."""
    import onnx

    try:
        schema = onnx.defs.get_schema(op_type, opset, domain)
    except onnx.defs.SchemaError:
        return False
    for constraint in schema.type_constraints:
        allowed = set(constraint.allowed_type_strs)
        if "tensor(float)" in allowed and "tensor(float16)" not in allowed:
            return False
    return True


def _choose_half_nodes(graph, types: dict[str, int], rule: Callable[[object], bool], opset: int) -> set[int]:
    """Indices of the nodes to convert: chosen by ``rule``, touching a float tensor, fp16 in their schema.

    Data-movement nodes fed by a converted node join them (see ``_MOVEMENT_OPS``).
    """
    half: set[int] = set()
    produced_half: set[str] = set()
    for index, node in enumerate(graph.node):
        if node.op_type == "Constant":
            continue  # constants follow their readers (fp16 copies), never a node's own choice
        floats = [name for name in [*node.input, *node.output] if types.get(name) == FLOAT]
        if not floats and not (node.op_type == "Cast" and _cast_target(node) == FLOAT):
            continue
        chosen = rule(node) or (node.op_type in _MOVEMENT_OPS and node.input[0] in produced_half)
        if chosen and _admits_half(node.op_type, node.domain, opset):
            half.add(index)
            produced_half.update(name for name in node.output if types.get(name) == FLOAT)
    return half


def _cast_target(node) -> int | None:
    for attribute in node.attribute:
        if attribute.name == "to":
            return attribute.i
    return None


def _half_array(array: np.ndarray) -> np.ndarray:
    """fp32 → fp16, finite values clipped to fp16's range (an attention mask's -3.4e38 becomes -65504)."""
    finite = np.isfinite(array)
    clipped = np.where(finite, np.clip(array, -_FP16_MAX, _FP16_MAX), array)
    return clipped.astype(np.float16)


def _static_float_tensors(graph) -> dict[str, np.ndarray]:
    """fp32 initializers and Constant-node values by tensor name."""
    from onnx import numpy_helper

    static = {t.name: numpy_helper.to_array(t) for t in graph.initializer if t.data_type == FLOAT}
    for node in graph.node:
        value = _constant_value(node)
        if value is not None and value.data_type == FLOAT:
            static[node.output[0]] = numpy_helper.to_array(value)
    return static


def convert_to_half(model, rule: Callable[[object], bool]):
    """Mixed-precision copy of ``model`` (an ``onnx.ModelProto``): nodes chosen by ``rule`` run in fp16.

    Graph inputs and outputs keep their types. The model must hold its weights in memory (load
    external data first).

    Returns:
        (the converted ``ModelProto``, :class:`HalfReport`).
    """
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.ModelProto.FromString(model.SerializeToString())
    graph = model.graph
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 17)
    types = _float_types(model)
    half_indices = _choose_half_nodes(graph, types, rule, opset)
    home_half = {name for i in half_indices for name in graph.node[i].output if types.get(name) == FLOAT}
    need_half: list[str] = []  # fp32-home tensors read by fp16 nodes
    need_float: list[str] = []  # fp16-home tensors read by fp32 nodes or graph outputs

    for index, node in enumerate(graph.node):
        if index in half_indices:
            keep = _FP32_ONLY_INPUTS.get(node.op_type, ())
            for position, name in enumerate(node.input):
                if types.get(name) != FLOAT:
                    continue
                if position in keep:
                    if name in home_half:
                        need_float.append(name)
                    continue
                if name not in home_half:
                    need_half.append(name)
                node.input[position] = name + HALF_SUFFIX
            for position, name in enumerate(node.output):
                if types.get(name) == FLOAT:
                    node.output[position] = name + HALF_SUFFIX
            _retype_attributes(node)
        else:
            need_float.extend(name for name in node.input if name in home_half)
    need_float.extend(output.name for output in graph.output if output.name in home_half)

    static = _static_float_tensors(graph)
    casts_after: dict[str, list] = {}  # producer output name ("" for graph inputs) → casts to insert
    half_weights = 0
    for name in dict.fromkeys(need_half):
        if name in static:
            graph.initializer.append(numpy_helper.from_array(_half_array(static[name]), name + HALF_SUFFIX))
            half_weights += 1
        else:
            casts_after.setdefault(name, []).append(
                helper.make_node("Cast", [name], [name + HALF_SUFFIX], name=f"{name}/to_fp16", to=FLOAT16))
    for name in dict.fromkeys(need_float):
        casts_after.setdefault(name + HALF_SUFFIX, []).append(
            helper.make_node("Cast", [name + HALF_SUFFIX], [name], name=f"{name}/to_fp32", to=FLOAT))

    ordered = [cast for name in [i.name for i in graph.input] for cast in casts_after.pop(name, [])]
    for node in graph.node:
        ordered.append(node)
        for output in node.output:
            ordered.extend(casts_after.pop(output, []))
    if casts_after:
        raise ValueError(f"no producer for {sorted(casts_after)[:3]} in the graph")
    n_casts = len(ordered) - len(graph.node)
    del graph.node[:]
    graph.node.extend(ordered)
    _drop_unread(graph)
    del graph.value_info[:]  # stale types; onnxruntime infers them again
    onnx.checker.check_model(model)
    report = HalfReport(
        half_nodes=len(half_indices), fp32_nodes=len(graph.node) - len(half_indices) - n_casts,
        casts=n_casts, half_weights=half_weights,
    )
    return model, report


def _retype_attributes(node) -> None:
    """A converted node's float attributes that set its output type: Cast's ``to``, ConstantOfShape's value."""
    from onnx import numpy_helper

    for attribute in node.attribute:
        if node.op_type == "Cast" and attribute.name == "to" and attribute.i == FLOAT:
            attribute.i = FLOAT16
        if node.op_type == "ConstantOfShape" and attribute.name == "value" and attribute.t.data_type == FLOAT:
            value = _half_array(numpy_helper.to_array(attribute.t))
            attribute.t.CopyFrom(numpy_helper.from_array(value, attribute.t.name))


def _drop_unread(graph) -> None:
    """Remove initializers and Constant nodes that nothing reads any more (their fp16 copies replaced them)."""
    read = {name for node in graph.node for name in node.input} | {o.name for o in graph.output}
    kept_initializers = [t for t in graph.initializer if t.name in read]
    del graph.initializer[:]
    graph.initializer.extend(kept_initializers)
    kept_nodes = [n for n in graph.node if n.op_type != "Constant" or any(o in read for o in n.output)]
    del graph.node[:]
    graph.node.extend(kept_nodes)

