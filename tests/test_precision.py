"""Mixed precision: only the chosen nodes run in fp16; the shipped fp16 graph of joe-nano holds parity."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper

from export.precision import HALF_SUFFIX, convert_to_half, node_prefix_rule
from export.variants import VARIANT_RULE

VOICE = Path(__file__).resolve().parents[1] / "voices" / "joe-nano"


def _phase_graph() -> onnx.ModelProto:
    """x → Mul(×1000) → Sin → Add(+1) → y, with the Sin output (the "phase path") also a graph output."""
    nodes = [
        helper.make_node("Mul", ["x", "scale"], ["angle"], name="keep/mul"),
        helper.make_node("Sin", ["angle"], ["phase"], name="keep/sin"),
        helper.make_node("Add", ["phase", "one"], ["y"], name="half/add"),
    ]
    graph = helper.make_graph(
        nodes, "phase",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None]),
         helper.make_tensor_value_info("phase", TensorProto.FLOAT, [None])],
        [helper.make_tensor("scale", TensorProto.FLOAT, [], [1000.0]),
         helper.make_tensor("one", TensorProto.FLOAT, [], [1.0])],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _run(model: onnx.ModelProto, x: np.ndarray) -> list[np.ndarray]:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(["y", "phase"], {"x": x})


def test_only_chosen_nodes_become_fp16_and_fp32_tensors_stay_exact() -> None:
    model = _phase_graph()
    x = np.linspace(0.1, 0.5, 257, dtype=np.float32)  # angles of 100 to 500 radians
    want_y, want_phase = _run(model, x)

    half, report = convert_to_half(model, node_prefix_rule(["half/"]))
    assert report.half_nodes == 1 and report.casts == 2  # phase → fp16 for the Add; y back to fp32
    assert [n.name for n in half.graph.node if n.op_type == "Add"] == ["half/add"]
    assert any(t.name == "one" + HALF_SUFFIX and t.data_type == TensorProto.FLOAT16 for t in half.graph.initializer)
    y, phase = _run(half, x)
    assert np.array_equal(phase, want_phase)  # the fp32 path computes exactly what it computed before
    assert np.max(np.abs(y - want_y)) < 2e-3 and y.dtype == np.float32


def test_onnxruntime_converter_rounds_between_kept_nodes() -> None:
    """Why export/precision.py exists: a node block list still rounds the tensors between kept nodes."""
    from onnxruntime.transformers.float16 import convert_float_to_float16

    model = _phase_graph()
    x = np.linspace(0.1, 0.5, 257, dtype=np.float32)
    _, want_phase = _run(model, x)
    theirs = convert_float_to_float16(model, keep_io_types=True, node_block_list=["keep/mul", "keep/sin"])
    _, phase = _run(theirs, x)
    assert np.max(np.abs(phase - want_phase)) > 0.05  # 500 rad in fp16 is ±0.125 rad: the phase drifts


def test_shipped_fp16_variant_holds_parity_and_runs_on_cpu() -> None:
    from export.parity import held_out_feeds, measure_graph_parity
    from steptts import TTS

    config = json.loads((VOICE / "voice.json").read_text(encoding="utf-8"))
    assert config["variants"]["fp16"] == "model.fp16.onnx"
    recorded = config["parity"]["fp16"]
    assert recorded["kept"] and recorded["mel_snr_db"] >= 30.0 and recorded["durations_match"] == 1.0
    assert recorded["reference"].startswith("torch student")  # rebuilt from model.onnx (export/recover.py)
    listening = recorded["listening"]  # bench/bench_variants.py on the dev lines
    assert listening["wer_increase"] <= VARIANT_RULE.max_wer_increase
    assert listening["dnsmos_drop"] <= VARIANT_RULE.max_dnsmos_drop
    assert config["variant_rule"]["min_mel_snr_db"] == VARIANT_RULE.min_mel_snr_db
    for variant, figures in config["parity"].items():  # one rule, and its verdict, for every variant
        if variant != "fp32":
            assert (figures["kept"], figures["why"]) == VARIANT_RULE.verdict(figures, figures.get("listening"))
            assert figures["kept"] == (variant in config["variants"])

    feeds = held_out_feeds(config["phoneme_vocab"], config["tag_vocab"], len(config["speakers"]))
    measured = measure_graph_parity(VOICE / "model.onnx", VOICE / "model.fp16.onnx", feeds)
    assert measured.durations_match == 1.0
    # Recorded between the plain graphs; both are compacted now (export/compact.py), so they share the
    # same fp16-rounded weights and differ only in activation precision: closer than recorded.
    assert measured.mel_snr_db >= recorded["mel_snr_db_against_fp32_graph"] - 0.05

    half = TTS(voice=VOICE, provider="cpu", variant="fp16", threads=1)
    assert half.variant == "fp16" and half.provider == "CPUExecutionProvider"
    full = TTS(voice=VOICE, provider="cpu", threads=1)
    assert full.variant == "fp32"  # auto picks fp16 only on CUDA
    text = "The fp16 graph speaks too."
    a, b = full.synthesize(text), half.synthesize(text)
    assert a.samples.shape == b.samples.shape and np.all(np.isfinite(b.samples))
