"""Training steps of a preset under FSDP2 on a synthetic batch: losses, step time, peak memory.

A probe of the sharded start and step, without a dataset, an evaluation or a checkpoint:

    torchrun --nproc_per_node 2 -m distill.step_probe --preset base --build light --json probe.json
    torchrun --nproc_per_node 1 -m distill.step_probe --preset 3b --device cuda --json probe-3b.json

Every rank trains on the same synthetic batch with the same random stream, so the losses do not depend
on how the model was started: ``--build light`` and ``--build full`` give the same figures, the light
start with less host memory. ``bench/gpu_check.py`` runs it on a lent GPU.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import torch
import torch.distributed as dist

from distill.distributed import build_sharded_student, host_memory_mb, peak_host_memory_mb
from distill.model import TrainBatch, make_config

N_SYMBOLS, N_TAGS, N_SPEAKERS = 64, 8, 2  # vocabulary sizes of the probe's student
HOP = 256  # samples per frame (StudentConfig.hop_length of every preset)


def synthetic_batch(batch_size: int, n_tokens: int, seed: int, device: torch.device) -> TrainBatch:
    """A padded batch of random tokens, 2 to 7 frames each, with random targets (values in their units).

    Every row has teacher durations (no alignment search), so one step costs what a Piper batch does.
    """
    generator = torch.Generator().manual_seed(seed)
    lengths = torch.randint(n_tokens // 2, n_tokens + 1, (batch_size,), generator=generator)
    lengths[0] = n_tokens
    token_mask = torch.arange(n_tokens)[None, :] < lengths[:, None]
    phoneme_ids = torch.randint(1, N_SYMBOLS, (batch_size, n_tokens), generator=generator) * token_mask
    durations = torch.randint(2, 8, (batch_size, n_tokens), generator=generator) * token_mask
    frame_lengths = durations.sum(1)
    n_frames = int(frame_lengths.max())
    frame_mask = torch.arange(n_frames)[None, :] < frame_lengths[:, None]
    f0_hz = (100.0 + 100.0 * torch.rand(batch_size, n_frames, generator=generator)) * frame_mask
    batch = TrainBatch(
        phoneme_ids=phoneme_ids,
        phoneme_lengths=lengths,
        tag_ids=torch.randint(0, N_TAGS, (batch_size, 2), generator=generator),
        speaker_ids=torch.arange(batch_size) % N_SPEAKERS,
        durations=durations,
        has_durations=torch.ones(batch_size, dtype=torch.bool),
        mel=-6.0 + 2.0 * torch.randn(batch_size, n_frames, 80, generator=generator),  # log-mel
        f0_hz=f0_hz,  # Hz, 0 where unvoiced
        energy=-4.0 + torch.randn(batch_size, n_frames, generator=generator),  # log RMS
        frame_lengths=frame_lengths,
        audio=0.1 * torch.randn(batch_size, n_frames * HOP, generator=generator),
    )
    return TrainBatch(**{name: value.to(device) for name, value in vars(batch).items()})


def probe(preset: str, start: str, steps: int, batch_size: int, n_tokens: int, device: torch.device,
          seed: int = 0) -> dict:
    """Build the sharded student and run ``steps`` optimizer steps; this rank's figures."""
    config = make_config(preset, N_SYMBOLS, N_TAGS, N_SPEAKERS)
    torch.manual_seed(seed)
    before_mb = host_memory_mb()
    started = time.perf_counter()
    student = build_sharded_student(config, device, light=(start == "light"))
    setup_s = time.perf_counter() - started
    figures = {"setup_s": setup_s, "host_mb_before_setup": before_mb,
               "peak_host_mb_after_setup": peak_host_memory_mb(),
               "parameters": sum(p.numel() for p in student.parameters())}
    optimizer = torch.optim.AdamW(student.parameters(), lr=1e-4)
    batch = synthetic_batch(batch_size, n_tokens, seed, device)
    losses, step_s = [], []
    for step in range(steps):
        torch.manual_seed(seed + 1 + step)  # the same dropout and vocoder segments whatever the start
        _synchronize(device)
        began = time.perf_counter()
        step_losses = student.training_losses(batch, step)
        optimizer.zero_grad(set_to_none=True)
        step_losses["total"].backward()
        optimizer.step()
        _synchronize(device)
        step_s.append(time.perf_counter() - began)
        losses.append({name: float(value) for name, value in step_losses.items()})
    figures.update(losses=losses, step_s=step_s, peak_host_mb=peak_host_memory_mb())
    if device.type == "cuda":
        figures["peak_gpu_mb"] = torch.cuda.max_memory_allocated(device) / 1e6
    return figures


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="base")
    parser.add_argument("--build", choices=("light", "full"), default="light")
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=2)
    parser.add_argument("--tokens", type=int, default=24, help="tokens of the longest row")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--json", type=Path, help="rank 0 writes the figures of every rank here")
    args = parser.parse_args()
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if args.device == "cuda":
        torch.cuda.set_device(local_rank)
        torch.backends.cuda.matmul.allow_tf32 = True  # as the trainer does
        torch.backends.cudnn.allow_tf32 = True
        device = torch.device("cuda", local_rank)
    else:
        torch.set_num_threads(1)
        device = torch.device("cpu")
    dist.init_process_group(backend="nccl" if args.device == "cuda" else "gloo")
    try:
        mine = probe(args.preset, args.build, args.steps, args.batch_size, args.tokens, device)
        ranks = [None] * dist.get_world_size()
        dist.all_gather_object(ranks, mine)
        dist.barrier()  # no rank tears its group down while another still has gloo work in flight
    finally:
        dist.destroy_process_group()
    if int(os.environ.get("RANK", "0")) == 0:
        report = {"preset": args.preset, "start": args.build, "device": args.device, "world_size": len(ranks),
                  "batch_size": args.batch_size, "tokens": args.tokens, "ranks": ranks}
        text = json.dumps(report, indent=1)
        if args.json:
            args.json.write_text(text + "\n", encoding="utf-8")
        print(text, flush=True)
    _exit_without_teardown()


def _exit_without_teardown() -> None:
    """Exit 0 now, skipping the interpreter's teardown of torch's native state.

    Under load, a rank that had finished everything (report written, group destroyed) was now and then
    killed by SIGABRT ("terminate called without an active exception") while the interpreter freed
    FSDP's tensors still referenced by gloo's worker threads. The probe has nothing left to save, so
    it flushes its streams and leaves with ``os._exit``.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
