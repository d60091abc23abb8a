"""Shared by the trainer's tests: a tiny real dataset and the command lines that train on it.

The dataset is rendered once per pytest run by the Piper teacher through ``distill.data_engine``
(with the default tag plan, so records carry tags and audio edits), by whichever xdist worker needs it
first (tests/shared_build.py), and copied into each worker's base temp folder; the trainer's test
files reuse that copy, feature cache included.
"""

from __future__ import annotations

import csv
import os
import shutil
import sys
from pathlib import Path

from shared_build import built_once, shared_root

REPO = Path(__file__).resolve().parents[1]

SENTENCES = [
    "The cat sat on the mat.",
    "Open the window, please.",
    "We walked home in the rain.",
    "She sells sea shells.",
    "Bring me a cup of tea.",
    "The train leaves at noon.",
    "Birds sing in the morning.",
    "He found a small red box.",
    "Turn left at the bridge.",
    "My brother plays the drums.",
    "Clouds drift over the hills.",
    "Keep the door shut tonight.",
    "A dog barked far away.",
    "The soup is very hot.",
    "Read the last page again.",
    "Stars shine above the lake.",
]

# Small enough for seconds per run on 2 cores: ~4 utterances per global batch, tiny preset.
TRAIN_ARGS = ["--preset", "tiny", "--batch-seconds", "8", "--threads", "1"]


def _complete(folder: Path) -> bool:
    from distill.dataset_store import read_manifest

    return (folder / "manifest.jsonl").exists() and len(read_manifest(folder)) == len(SENTENCES)


def tiny_dataset(base: Path) -> Path:
    """``base/train-dataset``: 16 Piper utterances (~26 s), rendered on first use in the run and copied
    here, so that the feature cache each worker writes into it is its own."""
    from distill.data_engine import DataConfig, run_datagen

    folder = base / "train-dataset"
    if _complete(folder):
        return folder
    with built_once(shared_root(base), "train-dataset-rendered") as rendered:
        if not _complete(rendered):
            texts = rendered.parent / "train-texts.txt"
            texts.write_text("\n".join(SENTENCES) + "\n", encoding="utf-8")
            report = run_datagen(DataConfig(texts=[texts], out_dir=rendered, workers=2, progress=False))
            assert report.total_records == len(SENTENCES), report
    shutil.copytree(rendered, folder, dirs_exist_ok=True)
    return folder


def subprocess_env() -> dict[str, str]:
    """Environment of a training subprocess: the checkout importable, one thread per process."""
    return os.environ | {"PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}


def train_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "distill", "train", *args]


def torchrun_command(n_processes: int, *args: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc_per_node={n_processes}",
        "-m",
        "distill",
        "train",
        *args,
    ]


def read_metrics(run_dir: Path, split: str = "train") -> list[dict]:
    """Rows of ``run_dir/metrics.csv`` of one split, values of loss columns as floats (None where a row
    has none: a loss that joins later, such as the adversarial phase's)."""
    with open(run_dir / "metrics.csv", newline="") as file:
        rows = [row for row in csv.DictReader(file) if row["split"] == split]
    return [
        {key: (float(value) if value else None) if key.startswith("loss_") else value for key, value in row.items()}
        for row in rows
    ]
