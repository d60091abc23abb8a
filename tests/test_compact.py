"""fp16-stored weights (export/compact.py): half the file, fp32 arithmetic, the same voice."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

from export.compact import MIN_ELEMENTS, STORED_SUFFIX, compact_voice, store_weights_half
from steptts.voice import sha256_file

JOE_NANO = Path(__file__).resolve().parents[1] / "voices" / "joe-nano"


def _matmul_graph(weights: dict[str, np.ndarray]) -> onnx.ModelProto:
    """y = ((x @ big) @ small) * scale; any further weights ride along unread."""
    nodes = [
        helper.make_node("MatMul", ["x", "big"], ["h"], name="first"),
        helper.make_node("MatMul", ["h", "small"], ["g"], name="second"),
        helper.make_node("Mul", ["g", "scale"], ["y"], name="third"),
    ]
    graph = helper.make_graph(
        nodes, "weights",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 64])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 4])],
        [numpy_helper.from_array(array, name) for name, array in weights.items()],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _session(model: onnx.ModelProto, optimized: Path | None = None) -> ort.InferenceSession:
    options = ort.SessionOptions()
    if optimized is not None:
        options.optimized_model_filepath = str(optimized)
    return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])


def test_large_weights_are_stored_half_and_folded_back_to_fp32(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    weights = {
        "big": rng.standard_normal((64, 32)).astype(np.float32),      # 2,048 values: stored in fp16
        "small": rng.standard_normal((32, 4)).astype(np.float32),     # 128 values: under MIN_ELEMENTS
        "scale": np.full((1, 4), 3.0, np.float32),                    # 4 values
        "huge_table": np.full((MIN_ELEMENTS,), 1e6, np.float32),      # beyond fp16's range: stays fp32
    }
    model = _matmul_graph(weights)
    report = store_weights_half(model)
    assert (report.tensors_stored_half, report.tensors_kept_fp32) == (1, 1)
    stored = {t.name: t.data_type for t in model.graph.initializer}
    assert stored["big" + STORED_SUFFIX] == TensorProto.FLOAT16 and "big" not in stored
    assert stored["small"] == stored["scale"] == stored["huge_table"] == TensorProto.FLOAT
    onnx.checker.check_model(model)

    x = rng.standard_normal((3, 64)).astype(np.float32)
    optimized = tmp_path / "optimized.onnx"
    (y,) = _session(model, optimized).run(["y"], {"x": x})
    rounded = weights["big"].astype(np.float16).astype(np.float32)
    expected = ((x @ rounded) @ weights["small"]) * weights["scale"]
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-2)
    # onnxruntime folded the widening cast: the session holds fp32 weights and no Cast runs per call.
    assert not [node for node in onnx.load(str(optimized)).graph.node if node.op_type == "Cast"]


def _expanded_copy(voice: Path, out: Path) -> Path:
    """A copy of a compacted voice whose graphs hold their weights as plain fp32 initializers again."""
    shutil.copytree(voice, out)
    config = json.loads((out / "voice.json").read_text(encoding="utf-8"))
    for variant, name in config["variants"].items():
        model = onnx.load(str(out / name))
        stored = {t.name: t for t in model.graph.initializer if t.name.endswith(STORED_SUFFIX)}
        widen = [n for n in model.graph.node if n.op_type == "Cast" and n.input[0] in stored]
        for node in widen:
            plain = numpy_helper.to_array(stored.pop(node.input[0])).astype(np.float32)
            model.graph.initializer.append(numpy_helper.from_array(plain, node.output[0]))
            model.graph.node.remove(node)
        kept = [t for t in model.graph.initializer if not t.name.endswith(STORED_SUFFIX)]
        del model.graph.initializer[:]
        model.graph.initializer.extend(kept)
        onnx.save(model, str(out / name))
        config["files"][name] = sha256_file(out / name)
        config["parity"][variant].pop("weights_fp16", None)
    (out / "voice.json").write_text(json.dumps(config, ensure_ascii=False), encoding="utf-8")
    return out


def test_the_shipped_joe_nano_is_compacted_and_compaction_round_trips(tmp_path: Path) -> None:
    """joe-nano ships compacted (both graphs about 12 MB, the verdict and its listening figures on
    record); expanded back to plain fp32 and compacted again, it is half the size and says every
    sample as the shipped voice does (the fp16-stored values are exact in fp32)."""
    from steptts import TTS

    config = json.loads((JOE_NANO / "voice.json").read_text(encoding="utf-8"))
    for variant in ("fp32", "fp16"):
        record = config["parity"][variant]["weights_fp16"]
        assert record["kept"] and record["durations_match"] == 1.0 and record["mel_snr_db"] >= 30
        assert (JOE_NANO / config["variants"][variant]).stat().st_size <= 12_000_000
    listening = config["parity"]["fp32"]["weights_fp16"]["listening"]
    assert listening["wer_increase"] <= 0.01 and listening["dnsmos_drop"] <= 0.05
    assert compact_voice(_copy(JOE_NANO, tmp_path / "again")) == {}  # already compacted: nothing to do

    plain = _expanded_copy(JOE_NANO, tmp_path / "plain")
    before = (plain / "model.onnx").stat().st_size
    results = compact_voice(plain)
    assert results["fp32"]["kept"] and results["fp16"]["kept"], results
    assert results["fp32"]["mel_snr_db"] > 100  # lossless: the weights were fp16 values already
    assert (plain / "model.onnx").stat().st_size < 0.55 * before

    text = "The compact graph reads the same sentence."
    shipped = TTS(voice=JOE_NANO, provider="cpu", threads=1).synthesize(text).samples
    again = TTS(voice=plain, provider="cpu", threads=1).synthesize(text).samples  # checksums verified
    np.testing.assert_array_equal(again, shipped)


def _copy(voice: Path, out: Path) -> Path:
    shutil.copytree(voice, out)
    return out
