"""The vocoder's adversarial phase: it trains, touches only the vocoder, resumes exactly, and a run without
it is the run it always was.

Real data (the Piper teacher's tiny dataset of train_helpers), the real tiny student and trainer.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from train_helpers import TRAIN_ARGS, read_metrics, tiny_dataset

from distill import adversarial
from distill import training_data as data
from distill.discriminators import DiscriminatorConfig
from distill.model import VOCODER_GENERATED, VOCODER_TARGET, Student, make_config
from distill.train import TrainConfig, train

STEPS = 6
PHASE_FROM = 3  # optimizer steps 0..2 plain (metrics rows 1..3), 3..5 adversarial
ADVERSARIAL_LOSSES = ("loss_adversarial", "loss_feature_matching", "loss_discriminator")
SMALL = adversarial.AdversarialConfig(  # seconds, not minutes, on a shared CPU
    discriminators=DiscriminatorConfig(
        periods=(2, 3), period_channels=(4, 8, 8), resolutions=((512, 128, 512),), resolution_channels=4,
        resolution_layers=2,
    )
)


def _config(dataset: Path, out: Path, **overrides) -> TrainConfig:
    # A flat learning rate after one warm-up step and the preset's vocoder schedule: the steps taken
    # do not depend on --steps, so a run stopped at step 4 and resumed to 6 is the 6-step run.
    options = {
        "preset": "tiny", "steps": STEPS, "batch_seconds": 8, "threads": 1, "seed": 0, "checkpoint_every": 100,
        "val_every": 100, "min_lr_ratio": 1.0, "vocoder_predicted_from": None, "adversarial_config": SMALL,
    }
    return TrainConfig(data_dirs=[str(dataset)], out_dir=str(out), **(options | overrides))


def _checkpoint(run_dir: Path) -> dict:
    return torch.load(run_dir / "checkpoint.pt", map_location="cpu", weights_only=False)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    return tiny_dataset(tmp_path_factory.getbasetemp())


@pytest.fixture(scope="module")
def plain_run(dataset, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("plain")
    train(_config(dataset, out))
    return out


@pytest.fixture(scope="module")
def adversarial_run(dataset, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("adversarial")
    train(_config(dataset, out, adversarial_from_step=PHASE_FROM))
    return out


def _fresh_discriminators(seed: int = 0) -> dict[str, torch.Tensor]:
    adversary = adversarial.Adversary(SMALL, 0, torch.device("cpu"), seed)
    return adversary.discriminators.state_dict()


def test_the_phase_trains_and_leaves_the_run_before_it_unchanged(plain_run, adversarial_run):
    plain, phased = read_metrics(plain_run), read_metrics(adversarial_run)
    assert [int(row["step"]) for row in phased] == list(range(1, STEPS + 1))
    # Before the phase: the plain run's losses, bit for bit (building the discriminators draws no
    # number from the run's RNG). A run without the flag logs and saves nothing of the phase.
    for row, expected in zip(phased[:PHASE_FROM], plain[:PHASE_FROM]):
        assert {key: row[key] for key in expected if key.startswith("loss_")} == {
            key: value for key, value in expected.items() if key.startswith("loss_")
        }
        assert all(row[key] is None for key in ADVERSARIAL_LOSSES)
    assert not any(key in plain[0] for key in ADVERSARIAL_LOSSES)
    assert "adversarial" not in _checkpoint(plain_run)

    # In the phase: finite losses of both players, the total includes the generator's, and the
    # discriminators have moved from their initial weights.
    for row, unphased in zip(phased[PHASE_FROM:], plain[PHASE_FROM:]):
        assert all(np.isfinite(row[key]) and row[key] > 0 for key in ADVERSARIAL_LOSSES), row
        assert row["loss_total"] != unphased["loss_total"]
    state = _checkpoint(adversarial_run)["adversarial"]
    assert state["from_step"] == PHASE_FROM and state["optimizer"]["state"]
    fresh = _fresh_discriminators()
    assert set(state["discriminators"]) == set(fresh)
    assert all(not torch.equal(state["discriminators"][k], fresh[k]) for k in fresh)


def test_adversarial_losses_reach_the_vocoder_alone(dataset):
    records = data.read_records([dataset])
    vocab = data.build_vocabularies(records)
    utterances = data.load_utterances(records[:3], vocab, workers=1, progress=False)
    torch.manual_seed(0)
    student = Student(make_config("tiny", len(vocab.phoneme_vocab.symbol_to_id), len(vocab.tag_vocab), 1))
    adversary = adversarial.Adversary(adversarial.AdversarialConfig(), 0, torch.device("cpu"), seed=0)
    before = {k: v.clone() for k, v in adversary.discriminators.state_dict().items()}

    losses = student.training_losses(data.collate(utterances, torch.device("cpu")), 0, vocoder_audio=True)
    assert losses[VOCODER_GENERATED].shape == losses[VOCODER_TARGET].shape
    assert losses[VOCODER_GENERATED].shape[0] == 3
    losses = adversary.step(losses, share=1.0, world_size=1)
    assert VOCODER_GENERATED not in losses and VOCODER_TARGET not in losses
    assert all(losses[name].dim() == 0 for name in losses)
    after = adversary.discriminators.state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before)  # one discriminator step taken

    (losses["adversarial"] + losses["feature_matching"]).backward()
    reached = {name for name, p in student.named_parameters() if p.grad is not None and p.grad.abs().sum() > 0}
    assert reached and all(name.startswith("vocoder.") for name in reached), reached
    assert all(p.grad is None for p in adversary.discriminators.parameters())  # the generator's losses
    assert all(p.requires_grad for p in adversary.discriminators.parameters())  # … and still trainable


def test_resume_restores_the_discriminators_exactly(dataset, adversarial_run, tmp_path):
    out = tmp_path / "stopped"
    train(_config(dataset, out, steps=4, adversarial_from_step=PHASE_FROM))
    halfway = _checkpoint(out)
    restored = adversarial.for_run(
        adversarial.AdversarialConfig(), PHASE_FROM, halfway, torch.device("cpu"), seed=0
    )
    saved = halfway["adversarial"]
    assert all(torch.equal(v, saved["discriminators"][k]) for k, v in restored.discriminators.state_dict().items())
    assert restored.optimizer.state_dict()["state"].keys() == saved["optimizer"]["state"].keys()

    train(_config(dataset, out, steps=STEPS, adversarial_from_step=PHASE_FROM, resume=True))
    rows, reference = read_metrics(out), read_metrics(adversarial_run)
    assert [int(row["step"]) for row in rows] == list(range(1, STEPS + 1))
    for row, expected in zip(rows, reference):
        for key in (key for key in expected if key.startswith("loss_") and expected[key] is not None):
            assert row[key] == pytest.approx(expected[key], rel=1e-5, abs=1e-7), (row["step"], key)
    resumed, uninterrupted = _checkpoint(out)["adversarial"], _checkpoint(adversarial_run)["adversarial"]
    for key, value in uninterrupted["discriminators"].items():
        torch.testing.assert_close(resumed["discriminators"][key], value, rtol=1e-5, atol=1e-7)
    for index, moments in uninterrupted["optimizer"]["state"].items():
        for name, value in moments.items():
            torch.testing.assert_close(resumed["optimizer"]["state"][index][name], value, rtol=1e-5, atol=1e-7)


def test_an_old_checkpoint_or_init_from_starts_the_discriminators_fresh(dataset, plain_run, tmp_path):
    from typer.testing import CliRunner

    from distill.cli import app

    # A run saved without the phase, resumed with it (through the CLI): fresh discriminators, trained.
    out = tmp_path / "resumed"
    out.mkdir()
    for name in ("checkpoint.pt", "metrics.csv"):
        shutil.copy(plain_run / name, out / name)
    result = CliRunner().invoke(app, ["train", "--data", str(dataset), "--out", str(out), *TRAIN_ARGS,
                                      "--steps", str(STEPS + 1), "--resume", "--adversarial-from", "0",
                                      "--val-every", "100"])
    assert result.exit_code == 0, result.output
    assert all(np.isfinite(read_metrics(out)[-1][key]) for key in ADVERSARIAL_LOSSES)
    assert _checkpoint(out)["adversarial"]["optimizer"]["state"]

    # A new run from that checkpoint's weights: the discriminators start as a fresh run's (the phase
    # is not reached here, so they are saved as built).
    fresh_out = tmp_path / "init"
    train(_config(dataset, fresh_out, steps=1, init_from=str(out / "checkpoint.pt"), adversarial_from_step=5))
    saved = _checkpoint(fresh_out)["adversarial"]
    assert not saved["optimizer"]["state"]
    fresh = _fresh_discriminators()
    assert all(torch.equal(saved["discriminators"][k], fresh[k]) for k in fresh)
