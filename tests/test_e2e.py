"""The whole distillation path as a user runs it, in real processes:

data engine (40 teacher lines) → `steptts distill train --preset nano --steps 30` → `steptts export`
→ `steptts say --voice <that voice>`.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import soundfile

REPO = Path(__file__).resolve().parents[1]


def steptts(*args, timeout_s=900):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    return subprocess.run([sys.executable, "-m", "steptts", *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=timeout_s, check=False)


def test_data_train_export_say(piper_run, tmp_path):
    source, made = piper_run
    assert made.returncode == 0, made.stderr
    dataset = tmp_path / "dataset"
    shutil.copytree(source, dataset)
    run = tmp_path / "run"

    trained = steptts("distill", "train", "--data", str(dataset), "--preset", "nano", "--steps", "30",
                      "--out", str(run), "--batch-seconds", "20")
    assert trained.returncode == 0, trained.stdout[-2000:] + trained.stderr[-2000:]
    checkpoint_steps = [int(line.split(",")[0]) for line in (run / "metrics.csv").read_text().splitlines()[1:]
                        if ",train," in line]
    assert checkpoint_steps[-1] == 30

    voice = tmp_path / "voices" / "e2e-nano"
    exported = steptts("export", str(run), "--out", str(voice))
    assert exported.returncode == 0, exported.stderr[-2000:]
    config = json.loads((voice / "voice.json").read_text())
    assert config["schema_version"] == 1 and config["provenance"]["steps"] == 30
    assert config["parity"]["fp32"]["snr_db"] >= 40
    assert (voice / "model.onnx").stat().st_size < 25e6
    # A student of the en-us Piper voice says the accent symbols its teacher never spoke as it did.
    assert config["phoneme_substitutions"]["ɒ"] == "ɑ" and config["phoneme_substitutions"]["r"] == "ɹ"

    wav = tmp_path / "speech.wav"
    said = steptts("say", "--voice", str(voice), "The student speaks through its own voice.", "-o", str(wav))
    assert said.returncode == 0, said.stderr
    audio, rate = soundfile.read(wav)
    assert rate == 22050 and 0.5 < len(audio) / rate < 20
    assert np.sqrt(np.mean(audio**2)) > 1e-4
