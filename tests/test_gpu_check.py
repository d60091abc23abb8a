"""bench/gpu_check.py on a machine without CUDA: one line, exit 0 (no test depends on a GPU)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import onnxruntime as ort
import pytest
import torch

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(torch.cuda.is_available() or "CUDAExecutionProvider" in ort.get_available_providers(),
                    reason="this machine has CUDA: gpu_check measures instead")
def test_gpu_check_says_no_cuda_in_one_line(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, str(REPO / "bench" / "gpu_check.py"), "--out", str(tmp_path / "r.json")],
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("gpu_check: no CUDA on this machine"), result.stdout
    assert result.stderr == "" and not (tmp_path / "r.json").exists()
