"""Throughput of the data engine with the Piper teacher on this machine (not a test).

    python bench/bench_data.py [--lines 60] [--workers 2] [--tag-plan default]

Runs ``steptts distill data`` in-process into a temporary folder and prints utterances per second
(wall clock) and audio hours per CPU hour. CPU time is ``resource.getrusage`` of this process plus
its children (the workers, counted once they have been joined), so it includes each worker's
one-time model load; ``--lines`` large enough makes that negligible.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from distill.data_engine import DataConfig, run_datagen

DATA = REPO.parent / "shared" / "data"


def cpu_seconds() -> float:
    """User + system CPU of this process and its joined children."""
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        usage = resource.getrusage(who)
        total += usage.ru_utime + usage.ru_stime
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=60, help="corpus lines to render")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--tag-plan", default="default", help="default, none or a JSON file")
    parser.add_argument("--texts", nargs="+", default=[str(DATA / "arctic_prompts.tsv")])
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-data-") as out:
        config = DataConfig(
            texts=[Path(t) for t in args.texts],
            out_dir=Path(out) / "dataset",
            teacher="piper",
            limit=args.lines,
            workers=args.workers,
            tag_plan=args.tag_plan,
            progress=False,
        )
        cpu_before, wall_before = cpu_seconds(), time.perf_counter()
        report = run_datagen(config)
        wall_s = time.perf_counter() - wall_before
        cpu_s = cpu_seconds() - cpu_before

    audio_h = report.written_audio_s / 3600
    print(f"piper teacher, tag plan '{args.tag_plan}', {args.workers} workers, {args.lines} lines")
    print(
        f"  written      {report.written} utterances, {report.written_audio_s:.1f} s of audio, "
        f"{sum(report.failures.values())} failures"
    )
    print(
        f"  wall         {wall_s:.1f} s  -> {report.written / wall_s:.2f} utterances/s, "
        f"{report.written_audio_s / wall_s:.1f} s of audio per second"
    )
    print(
        f"  cpu          {cpu_s:.1f} s (parent + workers) -> {audio_h / (cpu_s / 3600):.1f} audio hours per CPU hour"
    )


if __name__ == "__main__":
    main()
