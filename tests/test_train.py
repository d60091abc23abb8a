"""The student trainer on one process: it learns, logs, checkpoints, validates and resumes exactly.

Real data (the Piper teacher through distill.data_engine), the real tiny student, real subprocesses
killed with real signals.
"""

from __future__ import annotations

import itertools
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch
from train_helpers import TRAIN_ARGS, read_metrics, subprocess_env, tiny_dataset, train_command

from distill import training_data as data
from distill.dataset_store import DatasetError
from distill.model import Student, StudentConfig
from distill.train import TrainConfig, learning_rate, train

STEPS = 16
RUN_ARGS = [*TRAIN_ARGS, "--steps", str(STEPS), "--seed", "0", "--checkpoint-every", "4", "--val-every", "8"]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    return tiny_dataset(tmp_path_factory.getbasetemp())


@pytest.fixture(scope="module")
def reference_run(dataset, tmp_path_factory) -> Path:
    """An uninterrupted single-process run with RUN_ARGS' settings, in this process."""
    out = tmp_path_factory.mktemp("reference")
    train(
        TrainConfig(
            data_dirs=[str(dataset)],
            out_dir=str(out),
            preset="tiny",
            steps=STEPS,
            batch_seconds=8,
            threads=1,
            seed=0,
            checkpoint_every=4,
            val_every=8,
        )
    )
    return out


def test_single_process_training_learns_and_writes_its_run(reference_run, dataset):
    rows = read_metrics(reference_run)
    assert [int(row["step"]) for row in rows] == list(range(1, STEPS + 1))
    totals = [row["loss_total"] for row in rows]
    assert all(np.isfinite(totals))
    assert np.mean(totals[-4:]) < 0.8 * np.mean(totals[:4]), totals

    checkpoint = torch.load(reference_run / "checkpoint.pt", map_location="cpu", weights_only=False)
    assert checkpoint["step"] == STEPS
    assert {"model", "optimizer", "scheduler", "rng", "data", "config", "train_config"} <= set(checkpoint)
    vocab = checkpoint["vocab"]
    assert vocab["language"] == "en-us" and vocab["speakers"] == {"joe": 0}
    assert vocab["tag_vocab"]["<none>"] == 0 and len(vocab["tag_vocab"]) > 1  # the default plan adds tags
    assert {"^", "$", "_"} <= set(vocab["phoneme_vocab"])
    provenance = checkpoint["provenance"]
    assert provenance["steps"] == STEPS and provenance["hours"] > 0
    assert provenance["teacher"][0].startswith("piper") and provenance["datasets"] == [str(dataset.resolve())]
    # What export needs: the config and weights rebuild the student without the trainer.
    student = Student(StudentConfig(**checkpoint["config"]))
    student.load_state_dict(checkpoint["model"])

    # Validation: held-out losses and wavs rendered through the inference graph at steps 8 and 16.
    assert [int(row["step"]) for row in read_metrics(reference_run, "val")] == [8, STEPS]
    for step in (8, STEPS):
        wavs = sorted((reference_run / "val" / f"step_{step:06d}").glob("*.wav"))
        assert wavs
        audio, sample_rate_hz = soundfile.read(wavs[0])
        assert sample_rate_hz == 22050 and len(audio) > 256 and np.abs(audio).max() > 0

    # The feature cache holds every utterance, and a second load reads it instead of recomputing.
    records = data.read_records([dataset])
    stamps = {record.id: record.feature_path.stat().st_mtime_ns for record in records}
    assert len(stamps) == 16
    vocabularies = data.Vocabularies.from_json(vocab)
    utterances = data.load_utterances(records, vocabularies, workers=1, progress=False)
    assert {record.id: record.feature_path.stat().st_mtime_ns for record in records} == stamps
    assert all(u.n_frames * 256 == len(u.audio) and u.durations.sum() == u.n_frames for u in utterances)


def _wait_for_new_checkpoint(path: Path, process: subprocess.Popen, previous_inode: int | None) -> None:
    """Block until ``path`` is a checkpoint other than ``previous_inode`` (each save is a rename)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if path.exists() and path.stat().st_ino != previous_inode:
            return
        assert process.poll() is None, process.communicate()
        time.sleep(0.02)
    raise AssertionError("no checkpoint appeared")


def _step_of(checkpoint_path: Path) -> int:
    return torch.load(checkpoint_path, map_location="cpu", weights_only=False)["step"]


def test_resume_after_sigkill_and_sigterm_continues_the_same_curve(reference_run, dataset, tmp_path):
    out = tmp_path / "run"
    command = train_command("--data", str(dataset), "--out", str(out), *RUN_ARGS)
    checkpoint = out / "checkpoint.pt"

    # 1. Killed without warning right after its first checkpoint.
    first = subprocess.Popen(command, env=subprocess_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _wait_for_new_checkpoint(checkpoint, first, None)
    first.send_signal(signal.SIGKILL)
    first.wait()
    killed_at = _step_of(checkpoint)
    assert killed_at < STEPS

    # 2. Resumed, then stopped politely: SIGTERM saves a checkpoint at the step it reached.
    second = subprocess.Popen(
        [*command, "--resume"],
        env=subprocess_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    _wait_for_new_checkpoint(checkpoint, second, checkpoint.stat().st_ino)
    second.send_signal(signal.SIGTERM)
    _, stderr = second.communicate(timeout=120)
    stopped_at = _step_of(checkpoint)
    assert second.returncode != 0 and f"stopped by a signal at step {stopped_at}" in stderr
    assert killed_at < stopped_at < STEPS

    # 3. Resumed to the end.
    third = subprocess.run(
        [*command, "--resume"], env=subprocess_env(), capture_output=True, text=True, timeout=300, check=False
    )
    assert third.returncode == 0, third.stderr
    assert _step_of(checkpoint) == STEPS

    # Every step exactly once, and the curve is the uninterrupted run's: same data order, same RNG.
    rows = read_metrics(out)
    assert [int(row["step"]) for row in rows] == list(range(1, STEPS + 1))
    reference = read_metrics(reference_run)
    for row, expected in zip(rows, reference):
        for key in (key for key in expected if key.startswith("loss_")):
            assert row[key] == pytest.approx(expected[key], rel=1e-5, abs=1e-7), (row["step"], key)
    assert [int(row["step"]) for row in read_metrics(out, "val")] == [8, STEPS]


def test_data_order_is_seeded_and_independent_of_world_size():
    durations_s = list(np.random.default_rng(7).uniform(0.5, 8.0, 200))
    plan = data.plan_epoch(durations_s, batch_seconds=20, seed=1, epoch=0)
    assert plan == data.plan_epoch(durations_s, batch_seconds=20, seed=1, epoch=0)
    assert plan != data.plan_epoch(durations_s, batch_seconds=20, seed=2, epoch=0)
    assert plan != data.plan_epoch(durations_s, batch_seconds=20, seed=1, epoch=1)
    # An epoch is every utterance once, each batch within its padded-seconds budget (or a lone
    # utterance), with similar lengths together.
    assert sorted(i for batch in plan for i in batch) == list(range(200))
    for batch in plan:
        longest = max(durations_s[i] for i in batch)
        assert len(batch) == 1 or longest * len(batch) <= 20
    # Each rank's shard: together they are the global batch, whatever the world size.
    for world_size in (1, 2, 3):
        for batch in plan:
            shards = [data.shard(batch, rank, world_size) for rank in range(world_size)]
            assert sorted(i for part in shards for i in part) == sorted(batch)


def test_learning_rate_warms_up_then_decays_to_its_floor():
    config = TrainConfig(data_dirs=[], out_dir="", steps=1000, lr=1e-3, warmup_steps=50, min_lr_ratio=0.1)
    rates = [learning_rate(step, config) for step in range(1000)]
    assert rates[0] == pytest.approx(1e-3 / 50) and rates[49] == pytest.approx(1e-3)
    assert all(a >= b for a, b in itertools.pairwise(rates[49:]))  # never rises after the warm-up
    assert rates[-1] == pytest.approx(1e-4, rel=1e-3)


def test_validation_split_is_stable(dataset):
    records = data.read_records([dataset])
    vocab = data.build_vocabularies(records)
    utterances = data.load_utterances(records, vocab, workers=1, progress=False)
    train_set, val_set = data.split_validation(utterances, 2)
    _, again_val = data.split_validation(list(reversed(utterances)), 2)
    assert len(val_set) == 2 and {u.id for u in val_set} == {u.id for u in again_val}
    assert not {u.id for u in val_set} & {u.id for u in train_set}


def test_vocabularies_come_from_the_data(dataset):
    records = data.read_records([dataset, dataset])  # a dataset named twice counts once
    assert len(records) == 16
    vocab = data.build_vocabularies(records)
    seen_tags = sorted({key for record in records for key in record.fields["tags"]})
    assert list(vocab.tag_vocab) == ["<none>", *seen_tags]
    assert list(vocab.tag_vocab.values()) == list(range(len(seen_tags) + 1))
    symbols = {symbol for record in records for symbol in record.fields["phonemes"]}
    assert symbols <= set(vocab.phoneme_vocab.symbol_to_id)
    bad = data.Record(dict(records[0].fields, tags=["nonsense"]), dataset)
    with pytest.raises(DatasetError, match="nonsense"):
        data.build_vocabularies([bad])


def test_user_mistakes_are_one_line_errors(dataset, tmp_path):
    from typer.testing import CliRunner

    from distill.cli import app

    runner = CliRunner()
    result = runner.invoke(app, ["train", "--data", str(tmp_path), "--out", str(tmp_path / "run")])
    assert result.exit_code == 2 and "manifest.jsonl" in result.output
    result = runner.invoke(app, ["train", "--data", str(dataset), "--out", str(tmp_path / "run"), "--resume"])
    assert result.exit_code == 2 and "--resume" in result.output
    result = runner.invoke(
        app, ["train", "--data", str(dataset), "--out", str(tmp_path / "run"), "--preset", "huge"]
    )
    assert result.exit_code == 2 and "huge" in result.output
    assert "Traceback" not in result.output


def test_init_from_starts_a_new_run_from_another_runs_weights(reference_run, dataset, tmp_path):
    source = reference_run / "checkpoint.pt"
    out = tmp_path / "finetune"
    result = subprocess.run(
        train_command(*TRAIN_ARGS, "--data", str(dataset), "--out", str(out), "--steps", "2",
                      "--init-from", str(source), "--checkpoint-every", "100", "--val-every", "100"),
        env=subprocess_env(), capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr
    fresh_first = read_metrics(reference_run)[0]["loss_total"]
    trained_last = read_metrics(reference_run)[-1]["loss_total"]
    first = read_metrics(out)[0]["loss_total"]
    # It starts where the source run ended, not from scratch (a new schedule, so not equal).
    assert abs(first - trained_last) < abs(first - fresh_first), (first, trained_last, fresh_first)
    checkpoint = torch.load(out / "checkpoint.pt", map_location="cpu", weights_only=False)
    assert checkpoint["step"] == 2
    assert checkpoint["provenance"]["initialized_from"]["checkpoint"] == str(source.resolve())
    assert checkpoint["provenance"]["initialized_from"]["provenance"]["steps"] == STEPS
    assert checkpoint["vocab"] == torch.load(source, map_location="cpu", weights_only=False)["vocab"]
    resumed = subprocess.run(  # a later sitting still says where the run's weights came from
        train_command(*TRAIN_ARGS, "--data", str(dataset), "--out", str(out), "--resume", "--steps", "3",
                      "--checkpoint-every", "100", "--val-every", "100"),
        env=subprocess_env(), capture_output=True, text=True, timeout=600,
    )
    assert resumed.returncode == 0, resumed.stderr
    checkpoint = torch.load(out / "checkpoint.pt", map_location="cpu", weights_only=False)
    assert checkpoint["step"] == 3
    assert checkpoint["provenance"]["initialized_from"]["checkpoint"] == str(source.resolve())

    both = subprocess.run(
        train_command(*TRAIN_ARGS, "--data", str(dataset), "--out", str(out), "--resume", "--init-from", str(source)),
        env=subprocess_env(), capture_output=True, text=True, timeout=600,
    )
    missing = subprocess.run(
        train_command(*TRAIN_ARGS, "--data", str(dataset), "--out", str(tmp_path / "x"),
                      "--init-from", str(tmp_path / "nope.pt")),
        env=subprocess_env(), capture_output=True, text=True, timeout=600,
    )
    for run, needle in ((both, "only one"), (missing, "nope.pt")):
        assert run.returncode == 2 and needle in run.stderr, run.stderr
        assert "Traceback" not in run.stderr and len(run.stderr.strip().splitlines()) == 1


def test_a_long_lead_of_silence_is_cut_at_load_time(dataset: Path, tmp_path: Path) -> None:
    """A record whose start marker holds 0.5 s of silence (as Kokoro's do) loads with
    MAX_LEADING_SILENCE_FRAMES of it: audio, features and durations cut alike; the file stays."""
    import json
    import shutil

    padded = tmp_path / "padded"
    shutil.copytree(dataset, padded, ignore=shutil.ignore_patterns(data.FEATURES_DIR))
    [first, *_] = [json.loads(line) for line in (padded / "manifest.jsonl").read_text().splitlines()]
    extra = 43  # frames of leading silence added
    audio, rate = soundfile.read(padded / first["path"], dtype="int16")
    soundfile.write(padded / first["path"], np.concatenate([np.zeros(extra * 256, np.int16), audio]), rate)
    first["durations"][0] += extra
    (padded / "manifest.jsonl").write_text(json.dumps(first) + "\n", encoding="utf-8")

    [record] = data.read_records([padded])
    [plain_record] = [r for r in data.read_records([dataset]) if r.id == record.id]
    vocab = data.build_vocabularies([record])
    [loaded] = data.load_utterances([record], vocab, workers=1, progress=False)
    [plain] = data.load_utterances([plain_record], vocab, workers=1, progress=False)
    assert plain.durations[0] <= data.MAX_LEADING_SILENCE_FRAMES < plain.durations[0] + extra
    cut = plain.durations[0] + extra - data.MAX_LEADING_SILENCE_FRAMES
    assert loaded.durations[0] == data.MAX_LEADING_SILENCE_FRAMES
    assert np.array_equal(loaded.durations[1:], plain.durations[1:])
    assert loaded.n_frames == plain.n_frames + extra - cut == int(loaded.durations.sum())
    assert len(loaded.audio) == loaded.n_frames * 256 and len(loaded.f0_hz) == loaded.n_frames
    assert np.array_equal(loaded.audio[-len(plain.audio) + 256:], plain.audio[256:])  # the speech itself
    assert soundfile.info(padded / first["path"]).frames >= (extra * 256)  # the dataset is not rewritten
