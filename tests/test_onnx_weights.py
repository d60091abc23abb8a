"""The shipped voice's graph loads back into the torch student, and computes what onnxruntime computes."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch

from distill.model import Student, make_config
from distill.onnx_weights import TRAINING_ONLY, GraphWeightsError, student_from_graph, student_from_voice
from export.onnx_export import INPUT_NAMES, export_onnx
from export.parity import held_out_feeds, measure_parity, mel_snr_db, open_session, run_torch, snr_db
from steptts.g2p import phonemize
from tests.conftest import REPO
from tests.student_helpers import one_torch_thread  # noqa: F401 (autouse fixture)

JOE_NANO = REPO / "voices" / "joe-nano"
ARCHITECTURE = (
    "n_symbols", "n_tags", "n_speakers", "d_model", "n_heads", "n_encoder_layers", "n_decoder_layers", "ffn_mult",
    "ffn_kernel", "predictor_channels", "predictor_kernel", "vocoder_dim", "vocoder_hidden", "vocoder_layers",
    "vocoder_kernel", "n_mels", "n_fft", "hop_length", "sample_rate", "max_log_magnitude",
)
"""StudentConfig fields that shape the graph (the rest only steer training)."""


@pytest.fixture(scope="module")
def joe_nano():
    return student_from_voice(JOE_NANO)


def test_joe_nano_weights_match_onnxruntime_on_a_sentence(joe_nano) -> None:
    weights, voice = joe_nano
    assert weights.missing == TRAINING_ONLY
    assert len(weights.transposed) == 41  # every nn.Linear of the nano student's inference path
    ids, _ = voice.phoneme_vocab.encode(phonemize("Voices are cloned only with their speaker's consent."))
    n_tokens = len(ids)
    feeds = {
        "phoneme_ids": np.array([ids], np.int64),
        "phoneme_lengths": np.array([n_tokens], np.int64),
        "tag_ids": np.zeros((1, 1), np.int64),
        "speaker_ids": np.zeros(1, np.int64),
        "controls": np.array([[1.0, 0.0, 0.0]], np.float32),
        "duration_override": np.full((1, n_tokens), -1.0, np.float32),
        "pitch_override": np.zeros((1, n_tokens), np.float32),
    }
    session = open_session(voice.model_path())
    onnx_audio, onnx_lengths, onnx_durations = session.run(None, feeds)
    torch_durations = run_torch(weights.student, feeds)[2]
    np.testing.assert_array_equal(torch_durations, onnx_durations)  # predicted durations agree exactly

    forced = {**feeds, "duration_override": onnx_durations.astype(np.float32)}
    torch_audio, torch_lengths, _ = run_torch(weights.student, forced)
    assert int(torch_lengths[0]) == int(onnx_lengths[0])
    length = int(onnx_lengths[0])
    assert snr_db(onnx_audio[0, :length], torch_audio[0, :length]) >= 30.0
    assert mel_snr_db([onnx_audio[0, :length]], [torch_audio[0, :length]]) >= 30.0


def test_joe_nano_parity_on_held_out_batch(joe_nano) -> None:
    """The same figures the exporter recorded in voice.json (tags, speed, overrides, ragged batch)."""
    weights, voice = joe_nano
    feeds = held_out_feeds(voice.phoneme_vocab.symbol_to_id, voice.tag_vocab, len(voice.speakers))
    parity = measure_parity(weights.student, voice.model_path(), feeds)
    assert parity.durations_match == 1.0
    assert parity.snr_db >= 30.0
    assert parity.mel_snr_db >= 40.0


def test_round_trip_of_another_layout_is_exact(tmp_path) -> None:
    """A tiny student with 3 speakers: export, read back, and every weight is bit-identical."""
    torch.manual_seed(3)
    student = Student(make_config("tiny", n_symbols=20, n_tags=5, n_speakers=3)).eval()
    path = export_onnx(student, tmp_path / "model.onnx")
    loaded = student_from_graph(path, sample_rate_hz=22050, hop_length=256)
    assert loaded.student.config == student.config  # from the export's metadata
    original = student.state_dict()
    for name, value in loaded.student.state_dict().items():
        if name not in TRAINING_ONLY:
            assert torch.equal(value, original[name]), name
    inputs = dict(zip(INPUT_NAMES, (t.numpy() for t in _example(student))))
    np.testing.assert_array_equal(run_torch(loaded.student, inputs)[0], run_torch(student, inputs)[0])


def test_a_graph_that_is_not_a_student_is_refused(tmp_path) -> None:
    graph = onnx.helper.make_graph(
        [onnx.helper.make_node("Identity", ["x"], ["y"])], "other",
        [onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1])],
        [onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1])],
    )
    path = tmp_path / "other.onnx"
    onnx.save(onnx.helper.make_model(graph), str(path))
    with pytest.raises(GraphWeightsError, match="not a steptts student graph"):
        student_from_graph(path, sample_rate_hz=22050, hop_length=256)


def _example(student: Student):
    from export.onnx_export import example_inputs

    return example_inputs(student)


def test_a_new_export_carries_its_config_and_the_graph_alone_still_gives_it(tmp_path) -> None:
    from distill.onnx_weights import CONFIG_METADATA_KEY, config_from_graph

    student = Student(make_config("tiny", n_symbols=12, n_tags=3, n_speakers=2)).eval()
    model = onnx.load(str(export_onnx(student, tmp_path / "model.onnx")))
    assert config_from_graph(model, 22050, 256) == student.config  # training fields too, from the metadata
    del model.metadata_props[:]
    inferred = config_from_graph(model, 22050, 256)  # as from a graph exported before the metadata
    for field in ARCHITECTURE:  # read from shapes and nodes, shared LayerNorm weights included
        assert getattr(inferred, field) == getattr(student.config, field), field
    assert inferred.vocoder_segment_frames != student.config.vocoder_segment_frames  # a default, not stored
    assert CONFIG_METADATA_KEY == "steptts.student_config"
