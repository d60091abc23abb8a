"""One script for a lent GPU: the voice on CUDA, the onnxruntime-gpu install path, FSDP2 training steps.

    python bench/gpu_check.py [--voice voices/joe-nano] [--out gpu_check.json] [--skip-training]
    python bench/gpu_check.py --cpu-rehearsal --out rehearsal.json   # every section on the CPU (tests)

On a machine without CUDA (neither onnxruntime's CUDA execution provider nor a torch CUDA device) it
says so in one line and exits 0. With CUDA, in about 5 minutes, it measures and writes to ``--out``:

- ``voice``: for the fp32 and fp16 graphs on the CUDA execution provider, RTF at batch 1 (``TTS``
  sentence by sentence over bench_speed's lines) and at batch 16 (one padded graph call), first-chunk
  latency (median of 5, two-sentence text) and parity against the fp32 graph on the CPU provider
  (``export.parity.measure_graph_parity``: durations, mel SNR);
- ``install``: ``steptts info`` with the GPU hidden (``CUDA_VISIBLE_DEVICES=``): one warning, no
  onnxruntime log lines; with the CPU onnxruntime installed instead, the error that names both extras;
- ``training``: one warm-up and two timed FSDP2 steps of ``base`` and ``3b`` under
  ``torchrun --nproc_per_node 1`` (``distill.step_probe``, light start): step time, peak GPU memory,
  peak host memory.

Each section records its error and the others still run; the exit code is 1 when one failed.
``--cpu-rehearsal`` runs the same code on the CPU provider and device (the ``tiny`` preset for the
training steps), so that the script is tested where no GPU is lent.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

CUDA_EP = "CUDAExecutionProvider"
CPU_EP = "CPUExecutionProvider"
TRAINING_RUNS = {"base": ("--batch-size", "8", "--tokens", "48"), "3b": ("--batch-size", "4", "--tokens", "48")}
"""Probe arguments per preset: batch rows and tokens of the longest row (2 to 7 frames each)."""
REHEARSAL_RUNS = {"tiny": ("--batch-size", "2", "--tokens", "8")}
TRAINING_TIMEOUT_S = 300


def cuda_status() -> dict:
    """What this machine offers: onnxruntime's providers, torch's CUDA devices."""
    status: dict = {"python": sys.version.split()[0]}
    try:
        import onnxruntime as ort

        status.update(onnxruntime=ort.__version__, providers=ort.get_available_providers())
    except ImportError as error:
        status.update(onnxruntime=None, providers=[], onnxruntime_error=str(error))
    try:
        import torch

        status.update(torch=torch.__version__, torch_cuda=torch.cuda.is_available())
        if status["torch_cuda"]:
            status["gpu"] = torch.cuda.get_device_name(0)
            status["gpu_memory_gb"] = round(torch.cuda.get_device_properties(0).total_memory / 1e9, 1)
    except ImportError:
        status.update(torch=None, torch_cuda=False)
    status["ort_cuda"] = CUDA_EP in status["providers"]
    return status


def _batch_feeds(voice, lines: list[str]) -> dict:
    """Padded graph inputs for ``lines`` spoken by ``voice`` (a ``steptts.voice.Voice``), one row each."""
    import numpy as np

    from steptts.g2p import phonemize

    rows = [voice.phoneme_vocab.encode(phonemize(line, voice.language))[0] for line in lines]
    batch, n_tokens = len(rows), max(len(row) for row in rows)
    phoneme_ids = np.zeros((batch, n_tokens), np.int64)
    for index, row in enumerate(rows):
        phoneme_ids[index, : len(row)] = row
    return {
        "phoneme_ids": phoneme_ids,
        "phoneme_lengths": np.array([len(row) for row in rows], np.int64),
        "tag_ids": np.zeros((batch, 1), np.int64),
        "speaker_ids": np.zeros(batch, np.int64),
        "controls": np.tile(np.array([[1.0, 0.0, 0.0]], np.float32), (batch, 1)),
        "duration_override": np.full((batch, n_tokens), -1.0, np.float32),
        "pitch_override": np.zeros((batch, n_tokens), np.float32),
    }


def measure_voice(voice_dir: Path, variant: str, provider: str = CUDA_EP) -> dict:
    """RTF at batch 1 and 16, first-chunk latency and parity against CPU fp32 of one graph on CUDA."""
    import onnxruntime as ort
    from bench_speed import LATENCY_TEXT, LINES

    from export.parity import HELD_OUT_SENTENCES, measure_graph_parity
    from steptts import TTS

    if provider == CUDA_EP and hasattr(ort, "preload_dlls"):
        ort.preload_dlls()  # CUDA and cuDNN from the nvidia-* wheels, when that is where they are
    tts = TTS(voice=voice_dir, provider="cuda" if provider == CUDA_EP else "cpu", variant=variant)
    figures: dict = {"variant": tts.variant, "provider": tts.provider}
    tts.synthesize(LINES[0])  # warm-up: CUDA kernels, cuDNN autotuning
    started, audio_s = time.perf_counter(), 0.0
    for line in LINES:
        audio_s += tts.synthesize(line).samples.size / tts.sample_rate_hz
    figures["rtf_batch1"] = (time.perf_counter() - started) / audio_s
    latencies = []
    for _ in range(5):
        began = time.perf_counter()
        next(iter(tts.stream(LATENCY_TEXT)))
        latencies.append((time.perf_counter() - began) * 1000.0)
    figures["first_chunk_ms"] = statistics.median(latencies)

    session = tts.engine.session
    feeds = _batch_feeds(tts.voice, (LINES * 2)[:16])
    session.run(None, feeds)  # warm-up at this shape
    runs = []
    for _ in range(3):
        began = time.perf_counter()
        _, audio_lengths, _ = session.run(None, feeds)
        runs.append(time.perf_counter() - began)
    figures["rtf_batch16"] = statistics.median(runs) / (float(audio_lengths.sum()) / tts.sample_rate_hz)

    held_out = _batch_feeds(tts.voice, list(HELD_OUT_SENTENCES))
    parity = measure_graph_parity(tts.voice.model_path("fp32"), tts.voice.model_path(variant), held_out, provider)
    figures["parity_vs_cpu_fp32"] = parity.to_json()
    return figures


def _steptts_info(hide_gpus: bool) -> subprocess.CompletedProcess:
    env = os.environ | {"PYTHONPATH": str(REPO)} | ({"CUDA_VISIBLE_DEVICES": ""} if hide_gpus else {})
    return subprocess.run([sys.executable, "-m", "steptts", "info"], env=env, capture_output=True, text=True,
                          timeout=120, check=False)


def check_install_path() -> dict:
    """``steptts info`` as a user runs it (which provider runs the voice out of the box), then with
    every GPU hidden: how many warnings, and any onnxruntime log spam."""
    plain = _steptts_info(hide_gpus=False)
    result = _steptts_info(hide_gpus=True)
    stderr = result.stderr.strip().splitlines()
    spam = [line for line in stderr if "onnxruntime" in line.lower() and ("[E:" in line or "[W:" in line)]
    warnings_seen = [line for line in stderr if "Warning" in line]
    return {
        "out_of_the_box": {"exit_code": plain.returncode, "stdout": plain.stdout.splitlines()[-2:],
                           "stderr": plain.stderr.strip().splitlines()[-5:]},
        "exit_code": result.returncode,
        "stderr_lines": len(stderr),
        "warnings": warnings_seen,
        "onnxruntime_log_lines": len(spam),
        "provider_line": next((line for line in result.stdout.splitlines() if "provider in use" in line), None),
        "one_clear_warning": result.returncode == 0 and len(warnings_seen) == 1 and not spam,
    }


def measure_training(preset: str, device: str = "cuda") -> dict:
    """One warm-up and two timed FSDP2 steps of ``preset`` on one GPU (distill.step_probe)."""
    with tempfile.TemporaryDirectory() as scratch:
        report = Path(scratch) / "probe.json"
        runs = TRAINING_RUNS | REHEARSAL_RUNS
        probe_args = ["--preset", preset, "--device", device, "--steps", "3", *runs[preset]]
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=1",
                   "-m", "distill.step_probe", *probe_args, "--json", str(report)]
        env = os.environ | {"PYTHONPATH": str(REPO)}
        result = subprocess.run(command, env=env, capture_output=True, text=True,
                                timeout=TRAINING_TIMEOUT_S, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"step probe exited {result.returncode}: {result.stderr[-2000:]}")
        probe = json.loads(report.read_text(encoding="utf-8"))
    rank = probe["ranks"][0]
    return {
        "command": "torchrun --nproc_per_node 1 -m distill.step_probe " + " ".join(probe_args),
        "parameters": rank["parameters"],
        "setup_s": rank["setup_s"],
        "step_s": statistics.median(rank["step_s"][1:]),
        "first_step_s": rank["step_s"][0],
        "peak_gpu_mb": rank.get("peak_gpu_mb"),
        "peak_host_mb": rank["peak_host_mb"],
        "peak_host_mb_after_setup": rank["peak_host_mb_after_setup"],
        "losses_total": [step["total"] for step in rank["losses"]],
    }


def _section(report: dict, name: str, measure, *args) -> bool:
    """Run one measurement into ``report[name]``; an exception is recorded, not raised. True if it ran."""
    started = time.perf_counter()
    ok = True
    try:
        report[name] = measure(*args)
    except Exception as error:  # noqa: BLE001 (one failed section must not lose the others)
        report[name] = {"error": f"{type(error).__name__}: {error}", "trace": traceback.format_exc()[-3000:]}
        ok = False
    report[name]["wall_s"] = round(time.perf_counter() - started, 1)
    print(f"gpu_check: {name}: {json.dumps(report[name], default=str)[:600]}", flush=True)
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--voice", type=Path, default=REPO / "voices" / "joe-nano")
    parser.add_argument("--out", type=Path, default=Path("gpu_check.json"))
    parser.add_argument("--skip-training", action="store_true")
    parser.add_argument("--cpu-rehearsal", action="store_true", help="every section on the CPU, tiny preset")
    args = parser.parse_args()
    status = cuda_status()
    if args.cpu_rehearsal:
        status.update(ort_cuda=True, torch_cuda=True, rehearsal=True)
    if not status["ort_cuda"] and not status["torch_cuda"]:
        print(f"gpu_check: no CUDA on this machine (onnxruntime providers: {', '.join(status['providers']) or 'none'}; "
              f"torch CUDA: {'no' if status['torch'] else 'torch not installed'}); nothing to measure")
        return 0
    report: dict = {"machine": status, "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    print(f"gpu_check: {json.dumps(status)}", flush=True)
    ran: list[bool] = []
    if status["ort_cuda"]:
        report["voice"] = {}
        provider = CPU_EP if args.cpu_rehearsal else CUDA_EP
        ran += [_section(report["voice"], variant, measure_voice, args.voice, variant, provider)
                for variant in ("fp32", "fp16")]
    else:
        report["voice"] = {"error": "onnxruntime has no CUDA execution provider: pip uninstall onnxruntime, "
                                    "then pip install 'steptts[gpu]' (onnxruntime-gpu)"}
        ran.append(False)
    ran.append(_section(report, "install", check_install_path))
    if args.skip_training:
        report["training"] = {"skipped": "--skip-training"}
    elif status["torch_cuda"]:
        report["training"] = {}
        presets, device = (REHEARSAL_RUNS, "cpu") if args.cpu_rehearsal else (TRAINING_RUNS, "cuda")
        ran += [_section(report["training"], preset, measure_training, preset, device) for preset in presets]
    else:
        report["training"] = {"error": f"torch {status['torch']} sees no CUDA device: install a CUDA build of "
                                       "torch 2.13.0 to measure the FSDP2 steps"}
        ran.append(False)
    args.out.write_text(json.dumps(report, indent=1, default=str) + "\n", encoding="utf-8")
    print(f"gpu_check: report written to {args.out}" + ("" if all(ran) else "; some sections failed (see 'error')"))
    return 0 if all(ran) else 1


if __name__ == "__main__":
    sys.exit(main())
