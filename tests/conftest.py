"""Shared fixtures: a real (tiny) voice, distilled and exported by the tests themselves.

The pipeline is the one users run: Piper teacher → data engine → trainer → ONNX export. It takes
well under a minute on 2 cores and is made once per test session.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # distill/ and export/ run from the checkout
    sys.path.insert(0, str(REPO))

VOICE_TRAIN_STEPS = 30
ARCTIC = REPO.parent / "shared" / "data" / "arctic_prompts.tsv"


@pytest.fixture(scope="session")
def piper_run(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    """`steptts distill data` on 40 ARCTIC lines with the Piper teacher and the default tag plan."""
    out = tmp_path_factory.mktemp("piper") / "dataset"
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    env.pop("STEPFUN_API_KEY", None)
    result = subprocess.run(
        [sys.executable, "-m", "steptts", "distill", "data", "--teacher", "piper", "--texts", str(ARCTIC),
         "--limit", "40", "--out", str(out), "--workers", "2"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=900, check=False)
    return out, result


@pytest.fixture(scope="session")
def voice_dir(tmp_path_factory) -> Path:
    """A voice package exported from a tiny student trained for a few steps on 16 teacher lines."""
    from train_helpers import tiny_dataset

    from distill.train import TrainConfig, train
    from export.voice_export import export_voice

    base = tmp_path_factory.getbasetemp()
    dataset = tiny_dataset(base)
    run = base / "voice-run"
    if not (run / "checkpoint.pt").exists():
        train(TrainConfig(data_dirs=[str(dataset)], out_dir=str(run), preset="tiny",
                          steps=VOICE_TRAIN_STEPS, batch_seconds=8.0, threads=1, val_every=10_000,
                          checkpoint_every=10_000, command=["tests/conftest.py"]))
    out = base / "voices" / "tiny-test"
    if not (out / "voice.json").exists():
        export_voice(run, out, name="tiny-test")
    return out
