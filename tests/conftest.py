"""Shared fixtures: a real (tiny) voice, distilled and exported by the tests themselves.

The pipeline is the one users run: Piper teacher → data engine → trainer → ONNX export. It takes
well under a minute on 2 cores and is made once per test run, by whichever pytest-xdist worker needs
it first (tests/shared_build.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from shared_build import built_once, shared_root

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # distill/ and export/ run from the checkout
    sys.path.insert(0, str(REPO))

VOICE_TRAIN_STEPS = 30
ARCTIC = REPO.parent / "shared" / "data" / "arctic_prompts.tsv"


@pytest.fixture(scope="session")
def piper_run(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    """`steptts distill data` on 40 ARCTIC lines with the Piper teacher and the default tag plan: its
    dataset folder (tests only read it) and the finished process."""
    with built_once(shared_root(tmp_path_factory.getbasetemp()), "piper") as folder:
        out, finished = folder / "dataset", folder / "process.json"
        if not finished.exists():
            folder.mkdir(exist_ok=True)  # a run killed before it finished left it
            env = dict(os.environ)
            env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
            env.pop("STEPFUN_API_KEY", None)
            result = subprocess.run(
                [sys.executable, "-m", "steptts", "distill", "data", "--teacher", "piper", "--texts",
                 str(ARCTIC), "--limit", "40", "--out", str(out), "--workers", "2"],
                cwd=REPO, env=env, capture_output=True, text=True, timeout=900, check=False)
            finished.write_text(json.dumps({"args": result.args, "returncode": result.returncode,
                                            "stdout": result.stdout, "stderr": result.stderr}))
        return out, subprocess.CompletedProcess(**json.loads(finished.read_text()))


@pytest.fixture(scope="session")
def voice_dir(tmp_path_factory) -> Path:
    """A voice package exported from a tiny student trained for a few steps on 16 teacher lines."""
    from train_helpers import tiny_dataset

    from distill.train import TrainConfig, train
    from export.voice_export import export_voice

    base = tmp_path_factory.getbasetemp()
    with built_once(shared_root(base), "voices") as voices:
        out = voices / "tiny-test"
        if not (out / "voice.json").exists():
            run = base / "voice-run"
            train(TrainConfig(data_dirs=[str(tiny_dataset(base))], out_dir=str(run), preset="tiny",
                              steps=VOICE_TRAIN_STEPS, batch_seconds=8.0, threads=1, val_every=10_000,
                              checkpoint_every=10_000, command=["tests/conftest.py"]))
            export_voice(run, out, name="tiny-test")
    return out
