"""Export: a trained tiny student → ONNX graphs → a voice package the runtime loads."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from distill.model import Student, make_config
from export.onnx_export import export_onnx
from export.package import ExportError, drop_variant
from export.parity import HELD_OUT_SENTENCES, open_session, run_torch, snr_db
from export.variants import VARIANT_RULE
from export.voice_export import export_voice
from steptts.errors import VoiceError
from steptts.g2p import phonemize
from steptts.graph import INPUT_NAMES
from steptts.phonemes import PhonemeVocab
from steptts.voice import load_voice, sha256_file
from tests.student_helpers import fit, one_torch_thread, synthetic_batch  # noqa: F401 (autouse fixture)

SENTENCES = ["The cat sat on the mat.", "Bring me a cup of tea.", *HELD_OUT_SENTENCES]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run folder as distill/train.py writes it, holding a tiny student trained for a few steps."""
    vocab = PhonemeVocab.build({symbol for sentence in SENTENCES for symbol in phonemize(sentence)})
    tag_vocab = {"<none>": 0, "高兴1": 1, "快速1": 2, "悲伤1": 3}
    speakers = {"joe": 0, "joe-fast": 1}
    torch.manual_seed(0)
    batch, _ = synthetic_batch(batch_size=4)
    config = make_config("tiny", len(vocab.symbol_to_id), len(tag_vocab), len(speakers))
    student = fit(Student(config), batch, 30)
    folder = tmp_path_factory.mktemp("run")
    from dataclasses import asdict

    torch.save(
        {
            "model": student.state_dict(),
            "config": asdict(config),
            "step": 30,
            "vocab": {"phoneme_vocab": vocab.to_json(), "tag_vocab": tag_vocab, "speakers": speakers,
                      "language": "en-us"},
            "provenance": {"teacher": ["synthetic-tones"], "hours": 0.001, "steps": 30, "command": "test"},
        },
        folder / "checkpoint.pt",
    )
    return folder


@pytest.fixture(scope="module")
def voice_dir(run_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("voices") / "tiny-test"
    export_voice(run_dir, out, fp16=True, int8=True, evaluation={"note": "test"})
    return out


def _student(run_dir: Path) -> Student:
    checkpoint = torch.load(run_dir / "checkpoint.pt", weights_only=False)
    from distill.model import StudentConfig

    student = Student(StudentConfig(**checkpoint["config"]))
    student.load_state_dict(checkpoint["model"])
    return student.eval()


def _feeds(ids: list[list[int]], **overrides: np.ndarray) -> dict[str, np.ndarray]:
    batch, n_tokens = len(ids), max(len(row) for row in ids)
    phoneme_ids = np.zeros((batch, n_tokens), np.int64)
    for index, row in enumerate(ids):
        phoneme_ids[index, : len(row)] = row
    feeds = {
        "phoneme_ids": phoneme_ids,
        "phoneme_lengths": np.array([len(row) for row in ids], np.int64),
        "tag_ids": np.array([[1, 2], [0, 0], [2, 0]][:batch], np.int64),
        "speaker_ids": (np.arange(batch) % 2).astype(np.int64),
        "controls": np.tile(np.array([[1.0, 0.0, 0.0]], np.float32), (batch, 1)),
        "duration_override": np.full((batch, n_tokens), -1.0, np.float32),
        "pitch_override": np.zeros((batch, n_tokens), np.float32),
    }
    feeds.update(overrides)
    return feeds


def test_voice_package_is_complete_and_verified(voice_dir: Path) -> None:
    config = json.loads((voice_dir / "voice.json").read_text(encoding="utf-8"))
    assert config["schema_version"] == 1 and config["name"] == "tiny-test"
    assert config["sample_rate"] == 22050 and config["hop_length"] == 256
    assert config["controls"] == ["speed", "pitch_semitones", "energy_db"]
    assert list(config["graph"]["inputs"]) == list(INPUT_NAMES)
    assert list(config["graph"]["outputs"]) == ["audio", "audio_lengths", "durations"]
    kept = {"fp32": "model.onnx"}
    for variant in ("fp16", "int8"):
        if config["parity"][variant]["kept"]:
            kept[variant] = f"model.{variant}.onnx"
    assert config["variants"] == kept
    assert config["tag_vocab"]["高兴1"] == 1 and config["speakers"] == {"joe": 0, "joe-fast": 1}
    assert config["provenance"]["steps"] == 30 and config["provenance"]["teacher"] == ["synthetic-tones"]
    assert config["evaluation"] == {"note": "test"}
    assert config["phoneme_substitutions"] == {}  # taught by synthetic tones, not by an en-us Piper voice
    for file_name, digest in config["files"].items():
        assert sha256_file(voice_dir / file_name) == digest
    assert set(config["files"]) == set(kept.values())
    # Parity on held-out sentences: fp32 must be faithful; variants are measured and recorded.
    assert config["parity"]["fp32"]["mel_snr_db"] >= 40.0
    assert config["parity"]["fp32"]["durations_match"] == 1.0
    # One rule keeps or drops both variants, and voice.json says why. The fp16 graph keeps everything
    # that sets the frame counts in fp32 (export/precision.py), so its durations equal torch's.
    assert config["variant_rule"] == VARIANT_RULE.to_json()
    fp16 = config["parity"]["fp16"]
    assert fp16["durations_match"] == 1.0 and fp16["reference"] == "torch student"
    assert fp16["mel_snr_db"] >= VARIANT_RULE.min_mel_snr_db and fp16["kept"] is True
    assert (voice_dir / "model.fp16.onnx").exists()
    for variant in ("fp16", "int8"):
        figures = config["parity"][variant]
        assert (figures["kept"], figures["why"]) == VARIANT_RULE.verdict(figures)
        assert (voice_dir / f"model.{variant}.onnx").exists() == figures["kept"]
        assert np.isfinite(figures["snr_db"])

    voice = load_voice(voice_dir)  # the runtime's own checks: schema and every checksum
    assert voice.tag_vocab == config["tag_vocab"]


def test_corrupt_graph_fails_checksum(voice_dir: Path, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "corrupt"
    shutil.copytree(voice_dir, copy)
    with open(copy / "model.fp16.onnx", "ab") as handle:
        handle.write(b"\0")
    with pytest.raises(VoiceError, match="checksum"):
        load_voice(copy)
    config = drop_variant(copy, "fp16")  # the hook the evaluation uses to reject a variant
    assert "fp16" not in config["variants"] and not (copy / "model.fp16.onnx").exists()
    assert config["parity"]["fp16"]["kept"] is False
    load_voice(copy)


@pytest.mark.parametrize("ids", [[[5, 9, 14, 3]], [[5, 9, 14, 3, 22, 7, 8, 30, 2], [11, 6, 2]]])
def test_onnx_matches_torch_for_batches_and_lengths(voice_dir: Path, run_dir: Path, ids) -> None:
    student = _student(run_dir)
    session = open_session(voice_dir / "model.onnx")
    feeds = _feeds(ids)
    audio, audio_lengths, durations = session.run(None, feeds)
    reference = run_torch(student, feeds)
    assert np.array_equal(durations, reference[2]) and np.array_equal(audio_lengths, reference[1])
    assert audio.shape == reference[0].shape and audio.shape[1] == durations.sum(1).max() * 256
    assert audio.dtype == np.float32 and audio_lengths.dtype == np.int64 and durations.dtype == np.int64
    assert snr_db(reference[0], audio) >= 40.0
    for row, length in enumerate(audio_lengths):
        assert not np.any(audio[row, length:])


def test_onnx_controls_and_overrides(voice_dir: Path) -> None:
    session = open_session(voice_dir / "model.onnx")
    ids = [[5, 9, 14, 3, 22, 7, 8], [11, 6, 2]]
    _, lengths, durations = session.run(None, _feeds(ids))
    assert durations.sum() > 0

    fast = _feeds(ids, controls=np.array([[2.0, 0.0, 0.0]] * 2, np.float32))
    _, fast_lengths, fast_durations = session.run(None, fast)
    assert np.all(np.abs(2 * fast_durations - durations) <= 1)  # halved, up to rounding
    assert abs(int(fast_lengths[0]) * 2 - int(lengths[0])) <= 256 * len(ids[0])

    override = np.full((2, 7), -1.0, np.float32)
    override[0] = [4, 0, 9, 1, 2, 3, 12]
    override[1, 1] = 17
    forced = _feeds(ids, duration_override=override, controls=np.array([[2.0, 0, 0]] * 2, np.float32))
    _, forced_lengths, forced_durations = session.run(None, forced)
    assert forced_durations[0].tolist() == [4, 0, 9, 1, 2, 3, 12]
    assert int(forced_durations[1, 1]) == 17 and forced_lengths[0] == 31 * 256

    plain = _feeds(ids, duration_override=override)
    base_audio = session.run(["audio"], plain)[0]
    pitch = np.zeros((2, 7), np.float32)
    pitch[0] = 76.0
    sung = session.run(["audio"], _feeds(ids, duration_override=override, pitch_override=pitch))[0]
    assert np.abs(sung[0] - base_audio[0]).max() > 1e-4 and np.array_equal(sung[1], base_audio[1])
    loud = _feeds(ids, duration_override=override, controls=np.array([[1.0, 0.0, 12.0]] * 2, np.float32))
    assert not np.array_equal(session.run(["audio"], loud)[0], base_audio)


def test_external_data_graph_runs(run_dir: Path, tmp_path: Path) -> None:
    student = _student(run_dir)
    path = export_onnx(student, tmp_path / "model.onnx", external_data=True)
    assert (tmp_path / "model.onnx.data").exists()
    assert (tmp_path / "model.onnx").stat().st_size < (tmp_path / "model.onnx.data").stat().st_size
    feeds = _feeds([[5, 9, 14, 3]])
    audio = open_session(path).run(["audio"], feeds)[0]
    assert snr_db(run_torch(student, feeds)[0], audio) >= 40.0


def test_nano_graph_fits_the_wheel(tmp_path: Path) -> None:
    student = Student(make_config("nano", 180, 24, 4))
    path = export_onnx(student, tmp_path / "model.onnx")
    assert path.stat().st_size <= 25_000_000


def test_missing_checkpoint_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="no checkpoint"):
        export_voice(tmp_path, tmp_path / "out")


def test_student_rebuilt_from_its_graph_has_the_checkpoint_weights(run_dir: Path, voice_dir: Path) -> None:
    from export.recover import TRAINING_ONLY, student_from_graph

    rebuilt = student_from_graph(voice_dir / "model.onnx", "tiny").state_dict()
    original = _student(run_dir).state_dict()
    assert set(rebuilt) == set(original)
    for name, value in original.items():
        if name not in TRAINING_ONLY:  # the alignment projection serves training only: not in the graph
            assert torch.equal(rebuilt[name], value), name
    with pytest.raises(ValueError, match="not a nano student"):
        student_from_graph(voice_dir / "model.onnx", "nano")
