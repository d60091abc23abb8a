"""What does the adversarial phase cost per training step on this CPU? The same run with and without it.

Two short runs of the trainer on one dataset, the same seed and data order: one plain, one with
``--adversarial-from 0``. Each step's wall time is recovered exactly from the ``steps_per_s`` column of
``metrics.csv`` (an exponential average, 0.9 old + 0.1 new, undone step by step); the first steps are
dropped as warm-up. Checkpoints and validation come only after the last step, so they are not timed.

    PYTHONPATH=$PWD nice -n 10 python bench/bench_adversarial.py --data DATASET [--preset nano] [--steps 10]
"""

from __future__ import annotations

import argparse
import csv
import itertools
import statistics
import tempfile
from pathlib import Path

WARMUP_STEPS = 2  # steps left out of the figures (allocator, caches, first conv plans)


def step_seconds(run_dir: Path) -> list[float]:
    """Wall seconds of each training step of a run, from its metrics.csv."""
    with open(run_dir / "metrics.csv", newline="") as file:
        rates = [float(row["steps_per_s"]) for row in csv.DictReader(file) if row["split"] == "train"]
    instant = [rates[0]] + [(now - 0.9 * before) / 0.1 for before, now in itertools.pairwise(rates)]
    return [1.0 / rate for rate in instant]


def main() -> None:
    from distill.train import TrainConfig, train

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="dataset folder (manifest.jsonl + FLAC)")
    parser.add_argument("--preset", default="nano")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--batch-seconds", type=float, default=16.0)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    figures = {}
    with tempfile.TemporaryDirectory() as folder:
        for name, from_step in (("plain", None), ("adversarial", 0)):
            out = Path(folder) / name
            train(TrainConfig(
                data_dirs=[args.data], out_dir=str(out), preset=args.preset, steps=args.steps,
                batch_seconds=args.batch_seconds, threads=args.threads, checkpoint_every=10**9,
                val_every=10**9, adversarial_from_step=from_step,
            ))
            seconds = step_seconds(out)[WARMUP_STEPS:]
            figures[name] = statistics.median(seconds)
            print(f"{name}: median {figures[name]:.3f} s/step over {len(seconds)} steps "
                  f"(min {min(seconds):.3f}, max {max(seconds):.3f})", flush=True)
    print(f"the adversarial phase costs {figures['adversarial'] / figures['plain']:.2f}x a plain step "
          f"({args.preset}, {args.batch_seconds:g} s batches, {args.threads} threads)")


if __name__ == "__main__":
    main()
