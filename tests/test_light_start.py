"""The light start of large presets (distill/distributed.py) under ``torchrun --nproc_per_node 2`` (gloo).

The ``base`` preset takes a training step twice through ``distill.step_probe``: built whole on every
rank and then sharded (the full start), and built unit by unit on the meta device with only each
rank's shard materialised (the light start). The weights are the same, so the losses are too, and the
light start's peak host memory per rank is lower.

Both runs fix glibc's mmap threshold: by default it rises after the first large free, so the freed
reference copies of base's units (each under 32 MB) would stay in the heap and blur the comparison.
Tensors of 32 MB or more, those of ``3b``, are always mmapped and returned.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from train_helpers import subprocess_env


def _probe(build: str, out: Path) -> dict:
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
               "-m", "distill.step_probe", "--preset", "base", "--build", build, "--steps", "1",
               "--tokens", "8", "--batch-size", "1", "--json", str(out)]
    env = subprocess_env() | {"MALLOC_MMAP_THRESHOLD_": "131072"}
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(out.read_text(encoding="utf-8"))


def test_light_start_matches_full_start_with_less_host_memory(tmp_path: Path) -> None:
    full = _probe("full", tmp_path / "full.json")
    light = _probe("light", tmp_path / "light.json")
    assert full["world_size"] == light["world_size"] == 2
    for rank, (whole, sharded) in enumerate(zip(full["ranks"], light["ranks"])):
        assert sharded["parameters"] == whole["parameters"]
        # The same weights, batch and random stream: the same losses, to the last bit.
        assert sharded["losses"] == whole["losses"], rank
        print(f"rank {rank}: peak host memory after setup {whole['peak_host_mb_after_setup']:.0f} MB (full) → "
              f"{sharded['peak_host_mb_after_setup']:.0f} MB (light), "
              f"{whole['host_mb_before_setup']:.0f} MB before setup")
        assert sharded["peak_host_mb_after_setup"] < whole["peak_host_mb_after_setup"] - 20
    assert light["ranks"][0]["losses"][0]["total"] == pytest.approx(full["ranks"][1]["losses"][0]["total"])
