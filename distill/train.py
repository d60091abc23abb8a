"""The student trainer: one loop, on one CPU process or under ``torchrun`` (DDP or FSDP2).

    python -m distill train --data DATA --preset nano --out RUN
    torchrun --nproc_per_node 2 -m distill train --data DATA --preset nano --out RUN
    torchrun --nproc_per_node 8 -m distill train --data DATA --preset 3b --out RUN   # FSDP2

Every rank sees its shard of the same global batches (see :mod:`distill.training_data`), so the loss curve
does not depend on the world size. ``RUN/checkpoint.pt`` holds everything needed to resume
exactly where the run stopped (model, optimizer, schedule, step, RNG states, data position) and
everything export needs (config, vocabularies, provenance).
"""

from __future__ import annotations

import csv
import math
import os
import random
import signal
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np

# OpenMP threads that spin while waiting collapse when another process shares the cores (measured
# here: 0.08 instead of 0.9 steps/s for nano with 2 threads next to one busy process). Passive
# waiting costs nothing when the cores are free. It must be set before torch starts OpenMP.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch
import torch.distributed as dist
from torch.distributed.checkpoint.state_dict import (
    StateDictOptions,
    get_model_state_dict,
    get_optimizer_state_dict,
    set_model_state_dict,
    set_optimizer_state_dict,
)

from distill import adversarial, init_weights, training_data
from distill.model import (
    PRESETS,
    Student,
    StudentConfig,
    config_from_checkpoint,
    make_config,
)
from steptts.errors import StepTTSError

FSDP_PRESETS = ("base", "3b")  # too big to replicate on every GPU: sharded by default


@dataclass
class TrainConfig:
    """What one training run does; saved in the checkpoint as ``train_config``."""

    data_dirs: list[str]  # dataset folders (manifest.jsonl + FLAC)
    out_dir: str  # run folder: checkpoint.pt, metrics.csv, val/
    preset: str = "nano"  # student size, a key of distill.model.PRESETS (ignored on resume)
    steps: int = 20_000  # optimizer steps in all
    batch_seconds: float = 40.0  # padded audio seconds per global batch, all ranks together
    lr: float = 1e-3  # peak learning rate
    warmup_steps: int = 500  # linear warm-up, capped at a tenth of the run
    min_lr_ratio: float = 0.05  # the cosine decays to lr * min_lr_ratio
    weight_decay: float = 0.01  # AdamW decoupled weight decay
    grad_clip: float = 1.0  # max global grad norm
    seed: int = 0  # model init and data order
    threads: int | None = None  # torch threads per process; default: this process's share of the cores
    workers: int | None = None  # processes computing features; default: all cores
    checkpoint_every: int = 500  # optimizer steps between checkpoints
    val_every: int = 500  # optimizer steps between validations (loss and wavs)
    val_items: int = 8  # held-out utterances (by id hash)
    val_wavs: int = 3  # of those, how many are rendered to RUN/val/step_XXXXXX/
    log_every: int = 10  # plain progress lines when stdout is not a terminal
    vocoder_predicted_from: float | None = 0.6  # fraction of the steps after which the vocoder also
    # learns from predicted features; None keeps the preset's step
    fsdp: bool = False  # shard with FSDP2 even for a small preset
    light_start: bool = True  # under FSDP, build shard by shard on the meta device (distill/distributed.py)
    resume: bool = False  # continue from RUN/checkpoint.pt
    init_from: str | None = None  # a new run from this checkpoint's or voice's weights, vocabularies grown
    adversarial_from_step: int | None = None  # from this optimizer step on, the vocoder is fine-tuned
    # adversarially too (distill/adversarial.py); None: never
    adversarial_config: adversarial.AdversarialConfig = field(
        default_factory=adversarial.AdversarialConfig
    )  # the phase's loss weights, discriminators and their optimizer
    command: list[str] = field(default_factory=lambda: list(sys.argv))  # recorded in the provenance


def learning_rate(step: int, config: TrainConfig) -> float:
    """The lr of optimizer step ``step`` (0-based): linear warm-up, then cosine down to ``lr * min_lr_ratio``.

    A pure function of the step, so a resumed run (even one given more ``--steps`` or another
    ``--lr``) needs no scheduler state beyond the step itself.
    """
    warmup = max(1, min(config.warmup_steps, config.steps // 10))
    if step < warmup:
        return config.lr * (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, config.steps - warmup))
    cosine = 0.5 * (1 + math.cos(math.pi * progress))
    return config.lr * (config.min_lr_ratio + (1 - config.min_lr_ratio) * cosine)


class _TrainingLosses(torch.nn.Module):
    """forward() is ``student.training_losses``, so that DDP's hooks see the training step."""

    def __init__(self, student: Student) -> None:
        super().__init__()
        self.student = student

    def forward(self, batch, step: int, vocoder_audio: bool = False) -> dict[str, torch.Tensor]:
        return self.student.training_losses(batch, step, vocoder_audio)


class _StopFlag:
    """While entered, SIGTERM/SIGINT only set ``signum``: the loop then saves a checkpoint and ends."""

    def __init__(self) -> None:
        self.signum = 0
        self._previous: dict = {}

    def __enter__(self) -> _StopFlag:
        for signum in (signal.SIGTERM, signal.SIGINT):
            self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)

    def _handle(self, signum, frame) -> None:
        self.signum = signum


class MetricsLog:
    """``metrics.csv``, one row per train step and per validation; its columns grow with new keys.

    On resume, rows after the checkpoint's step are dropped: those steps run again.
    """

    def __init__(self, path: Path, resume_step: int | None) -> None:
        self.path = path
        self.rows: list[dict] = []
        if resume_step is not None and path.exists():
            with open(path, newline="") as file:
                self.rows = [row for row in csv.DictReader(file) if int(row["step"]) <= resume_step]
        self.columns = list(dict.fromkeys(key for row in self.rows for key in row)) or ["step", "split"]
        self._rewrite()
        self.tensorboard = None
        try:
            from torch.utils.tensorboard import SummaryWriter

            self.tensorboard = SummaryWriter(str(path.parent / "tensorboard"), purge_step=resume_step)
        except ImportError:  # tensorboard is optional
            pass

    def close(self) -> None:
        if self.tensorboard is not None:
            self.tensorboard.close()

    def _rewrite(self) -> None:
        tmp = self.path.with_suffix(".tmp")
        with open(tmp, "w", newline="") as file:
            writer = csv.DictWriter(file, self.columns)
            writer.writeheader()
            writer.writerows(self.rows)
        os.replace(tmp, self.path)

    def write(self, row: dict) -> None:
        self.rows.append(row)
        if any(key not in self.columns for key in row):
            self.columns += [key for key in row if key not in self.columns]
            self._rewrite()
        else:
            with open(self.path, "a", newline="") as file:
                csv.DictWriter(file, self.columns).writerow(row)
        if self.tensorboard is not None:
            for key, value in row.items():
                if isinstance(value, float):
                    self.tensorboard.add_scalar(f"{row['split']}/{key}", value, row["step"])


def _setup_distributed() -> tuple[int, int, int, torch.device]:
    """(rank, world_size, local_world_size, device); a process group only under torchrun."""
    if "RANK" not in os.environ:
        return 0, 1, 1, torch.device("cuda" if torch.cuda.is_available() else "cpu")
    local_rank = int(os.environ["LOCAL_RANK"])
    device = torch.device(f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu")
    if device.type == "cuda":
        torch.cuda.set_device(device)
    # A long timeout: the other ranks wait at a barrier while local rank 0 computes the feature cache.
    dist.init_process_group(
        "nccl" if device.type == "cuda" else "gloo",
        timeout=timedelta(hours=3),
        device_id=device if device.type == "cuda" else None,
    )
    return dist.get_rank(), dist.get_world_size(), int(os.environ["LOCAL_WORLD_SIZE"]), device


def _barrier() -> None:
    if dist.is_initialized():
        dist.barrier()


def _cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _rng_state() -> dict:
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
        "numpy": np.random.get_state(),
        "python": random.getstate(),
    }


def _set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    if state["cuda"] is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])


def _save_checkpoint(path: Path, state: dict, rank: int) -> None:
    """Atomic write (temporary file, then rename), by rank 0."""
    if rank == 0:
        tmp = path.with_name(f".{path.name}.tmp")
        torch.save(state, tmp)
        os.replace(tmp, path)


def train(config: TrainConfig) -> Path:
    """Train a student as ``config`` says; returns the path of the final checkpoint."""
    rank, world_size, local_world_size, device = _setup_distributed()
    try:
        return _train(config, _Ranks(rank, world_size, local_world_size, device))
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


@dataclass(frozen=True)
class _Ranks:
    """Where this process runs: its rank among ``world_size`` and its device."""

    rank: int
    """Global rank; 0 writes checkpoints, metrics and validation audio."""
    world_size: int
    """Processes in the run."""
    local_world_size: int
    """Processes on this machine (they share its cores)."""
    device: torch.device
    """This rank's device."""

    @property
    def is_main(self) -> bool:
        return self.rank == 0


@dataclass
class _Run:
    """Everything a training run holds while it runs: data, model, optimizer and its position."""

    config: TrainConfig
    """The run's options."""
    ranks: _Ranks
    """This process's place in the run."""
    records: list
    """The datasets' manifest records (for the provenance)."""
    vocab: training_data.Vocabularies
    """The phoneme, tag and speaker vocabularies."""
    train_set: list[training_data.Utterance]
    """Training utterances (features in RAM)."""
    val_set: list[training_data.Utterance]
    """Held-out utterances."""
    model_config: Any
    """The student's StudentConfig."""
    student: Student
    """The model (sharded under FSDP)."""
    losses_module: torch.nn.Module
    """The student's training losses, wrapped by DDP when the run is replicated."""
    optimizer: torch.optim.Optimizer
    """AdamW over the student's parameters."""
    initialized_from: dict | None = None
    """The checkpoint a new run took its weights from, with its provenance (--init-from)."""
    step: int = 0
    """Optimizer steps done."""
    epoch: int = 0
    """Passes over the training set started."""
    batch_in_epoch: int = 0
    """Global batches of this epoch done."""
    adversary: adversarial.Adversary | None = None
    """The discriminators of the adversarial phase (--adversarial-from), else None."""

    @property
    def checkpoint_path(self) -> Path:
        return Path(self.config.out_dir) / "checkpoint.pt"

    @property
    def train_seconds(self) -> list[float]:
        return [u.duration_s for u in self.train_set]


def _train(config: TrainConfig, ranks: _Ranks) -> Path:
    """The run in named steps: setup, load, build, restore, loop."""
    _setup_torch(config, ranks)
    checkpoint, initial = _check_and_load_checkpoints(config)
    records = training_data.read_records(config.data_dirs)
    if initial is not None:  # the new data's phonemes, tags and speakers join the start's vocabularies
        initial = init_weights.grow_to_records(initial, records, seed=config.seed)
        _announce_growth(initial, ranks)
    source = checkpoint["vocab"] if checkpoint else initial.vocab.to_json() if initial else None
    vocab, train_set, val_set = _load_data(config, records, source, ranks)
    run = _build(config, ranks, records, vocab, train_set, val_set, checkpoint, initial)
    _restore(run, checkpoint)
    del checkpoint, initial, source
    _announce(run)
    return _loop(run)


def _setup_torch(config: TrainConfig, ranks: _Ranks) -> None:
    torch.set_num_threads(config.threads or max(1, _cores() // ranks.local_world_size))
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True


def _check_and_load_checkpoints(config: TrainConfig) -> tuple[dict | None, dict | None]:
    """Validate the run's options; returns (the checkpoint to resume, the one to start from)."""
    out_dir = Path(config.out_dir)
    checkpoint_path = out_dir / "checkpoint.pt"
    if config.preset not in PRESETS and not config.resume:
        raise StepTTSError(f"unknown preset {config.preset!r}; choose one of {', '.join(PRESETS)}")
    if checkpoint_path.exists() and not config.resume:
        raise StepTTSError(
            f"{out_dir} already holds a run: pass --resume to continue it, or choose another --out"
        )
    if config.init_from and config.resume:
        raise StepTTSError("--init-from starts a new run and --resume continues one: pass only one")
    checkpoint, initial = None, None
    if config.init_from:  # a checkpoint file, or a voice folder or name
        initial = init_weights.load_initial(config.init_from)
    out_dir.mkdir(parents=True, exist_ok=True)
    if config.resume:
        if not checkpoint_path.exists():
            raise StepTTSError(f"--resume: {checkpoint_path} does not exist")
        # mmap: ranks share one copy in the page cache instead of each loading a 3b checkpoint.
        checkpoint = torch.load(checkpoint_path, map_location="cpu", mmap=True, weights_only=False)
    return checkpoint, initial


def _announce_growth(initial: init_weights.InitialWeights, ranks: _Ranks) -> None:
    """Say which of the data's phonemes, tags and speakers the start's vocabularies gained."""
    if ranks.is_main and initial.grown:
        added = "; ".join(f"{len(keys)} {kind} ({' '.join(keys[:12])}{' …' if len(keys) > 12 else ''})"
                          for kind, keys in initial.grown.items() if keys)
        print(f"init-from {initial.source}: vocabularies grown for the new data: {added}", flush=True)


def _load_data(config: TrainConfig, records: list, source_vocab: dict | None, ranks: _Ranks):
    """(vocabularies, train set, validation set); the vocabularies come from the checkpoint on resume,
    or from the grown start on init, so ids keep their meaning."""
    if source_vocab:
        vocab = training_data.Vocabularies.from_json(source_vocab)
    else:
        vocab = training_data.build_vocabularies(records)
    # Local rank 0 fills the feature cache with every core while its neighbours wait, then they read it.
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if local_rank == 0:
        utterances = training_data.load_utterances(
            records, vocab, config.workers or _cores(), progress=ranks.is_main
        )
    _barrier()
    if local_rank != 0:
        utterances = training_data.load_utterances(
            records, vocab, max(1, _cores() // ranks.local_world_size), progress=False
        )
    n_val = min(config.val_items, len(utterances) // 10)
    train_set, val_set = training_data.split_validation(utterances, n_val)
    return vocab, train_set, val_set


def _build(config, ranks, records, vocab, train_set, val_set, checkpoint, initial) -> _Run:
    """The student (with the weights of --init-from), its sharding or replication, and the optimizer."""
    initial_state = None
    if checkpoint:
        model_config = config_from_checkpoint(checkpoint["config"])
    elif initial:
        model_config, initial_state = initial.config, initial.state
    else:
        model_config = make_config(
            config.preset, len(vocab.phoneme_vocab.symbol_to_id), len(vocab.tag_vocab), len(vocab.speakers)
        )
    if config.vocoder_predicted_from is not None:  # a resume with a new --steps moves it too
        model_config = replace(model_config,
                               vocoder_predicted_from_step=int(config.vocoder_predicted_from * config.steps))
    torch.manual_seed(config.seed)  # the same initial weights on every rank
    student = _make_student(model_config, config, ranks)
    losses_module = _distribute(student, config, ranks)
    optimizer = torch.optim.AdamW(
        student.parameters(), lr=config.lr, betas=(0.8, 0.99), weight_decay=config.weight_decay
    )
    if initial_state is not None:  # weights only: optimizer, schedule and data order start afresh
        set_model_state_dict(student, initial_state, options=StateDictOptions(full_state_dict=True))
    initialized_from = None
    if initial is not None:
        initialized_from = {"checkpoint": initial.source, "provenance": initial.provenance,
                            "vocabularies_grown": initial.grown}
    return _Run(config, ranks, records, vocab, train_set, val_set, model_config, student, losses_module,
                optimizer, initialized_from)


def _use_fsdp(config: TrainConfig, ranks: _Ranks) -> bool:
    return ranks.world_size > 1 and (config.fsdp or config.preset in FSDP_PRESETS)


def _make_student(model_config: StudentConfig, config: TrainConfig, ranks: _Ranks) -> Student:
    """This rank's student: sharded with FSDP2 as it is built (distill/distributed.py), else whole."""
    if not _use_fsdp(config, ranks):
        return Student(model_config).to(ranks.device)
    from distill.distributed import build_sharded_student, peak_host_memory_mb

    student = build_sharded_student(model_config, ranks.device, light=config.light_start)
    print(f"rank {ranks.rank}: peak host memory after model setup: {peak_host_memory_mb():.0f} MB", flush=True)
    return student


def _distribute(student: Student, config: TrainConfig, ranks: _Ranks) -> torch.nn.Module:
    """The module whose forward trains: the student's losses, under DDP when replicated (FSDP2 shards
    the student as it is built, in :func:`_make_student`)."""
    losses_module: torch.nn.Module = _TrainingLosses(student)
    if ranks.world_size > 1 and not _use_fsdp(config, ranks):
        from torch.nn.parallel import DistributedDataParallel

        # Some losses join later in training (step-dependent), so not every parameter gets a
        # gradient at every step.
        losses_module = DistributedDataParallel(losses_module, find_unused_parameters=True)
    return losses_module


def _restore(run: _Run, checkpoint: dict | None) -> None:
    """Resume weights, optimizer, position and RNG from ``checkpoint``, or seed a new run's noise."""
    config = run.config
    run.adversary = adversarial.for_run(
        config.adversarial_config, config.adversarial_from_step, checkpoint, run.ranks.device, config.seed
    )
    if not checkpoint:
        torch.manual_seed(run.config.seed + 1000 * run.ranks.rank)  # ranks draw different noise from here on
        return
    set_model_state_dict(run.student, checkpoint["model"], options=StateDictOptions(full_state_dict=True))
    # Not strict: a parameter that never had a gradient yet (the aligner, while every row has
    # teacher durations) has no optimizer state to restore.
    set_optimizer_state_dict(
        run.student,
        run.optimizer,
        checkpoint["optimizer"],
        options=StateDictOptions(full_state_dict=True, strict=False),
    )
    run.step = checkpoint["step"]
    # A resumed run was started from another run's weights when its first sitting was (--init-from).
    run.initialized_from = run.initialized_from or (checkpoint.get("provenance") or {}).get("initialized_from")
    run.epoch, run.batch_in_epoch = checkpoint["data"]["epoch"], checkpoint["data"]["batch"]
    rng_states = checkpoint["rng"]
    _set_rng_state(rng_states[run.ranks.rank] if len(rng_states) == run.ranks.world_size else rng_states[0])


def _announce(run: _Run) -> None:
    if not run.ranks.is_main:
        return
    n_params = sum(p.numel() for p in run.student.parameters())  # a sharded DTensor counts its full size
    world_size = run.ranks.world_size
    mode = "FSDP2" if _use_fsdp(run.config, run.ranks) else "DDP" if world_size > 1 else "single process"
    print(
        f"student: ~{n_params / 1e6:.1f}M parameters, {mode} on {world_size} x {run.ranks.device.type}; "
        f"{len(run.train_set)} train / {len(run.val_set)} val utterances, "
        f"{sum(run.train_seconds) / 3600:.2f} h"
    )
    if run.adversary is not None:
        print(f"discriminators: ~{run.adversary.n_parameters() / 1e6:.1f}M parameters, "
              f"adversarial from step {run.adversary.from_step}")


def _loop(run: _Run) -> Path:
    """Train until ``config.steps``, validating and checkpointing on schedule; a signal ends the run
    cleanly with a checkpoint."""
    config, ranks = run.config, run.ranks
    out_dir = Path(config.out_dir)
    metrics = None
    if ranks.is_main:
        metrics = MetricsLog(out_dir / "metrics.csv", run.step if config.resume else None)
    train_seconds = run.train_seconds
    plan = training_data.plan_epoch(
        train_seconds, config.batch_seconds, config.seed, run.epoch, min_items=ranks.world_size
    )
    if not plan:
        raise StepTTSError(
            f"--batch-seconds {config.batch_seconds} fits fewer than {ranks.world_size} utterances "
            "in a batch; raise it"
        )
    stopping = False
    with _StopFlag() as stop, _Progress(config.steps, run.step, ranks.is_main, config.log_every) as progress:
        run.student.train()
        while run.step < config.steps:
            if run.batch_in_epoch >= len(plan):
                run.epoch, run.batch_in_epoch = run.epoch + 1, 0
                plan = training_data.plan_epoch(train_seconds, config.batch_seconds, config.seed, run.epoch,
                                       ranks.world_size)
            row, stopping = _step(run, plan[run.batch_in_epoch], stop.signum)
            if metrics is not None:
                row["steps_per_s"] = progress.update(run.step, row)
                metrics.write(row)
            if run.step % config.val_every == 0 or run.step == config.steps:
                _validate(run.student, run.val_set, run.step, ranks.device, out_dir, config, metrics)
            if run.step % config.checkpoint_every == 0 or run.step == config.steps or stopping:
                state = _checkpoint_state(run)
                _save_checkpoint(run.checkpoint_path, state, ranks.rank)
                del state
            if stopping:
                break
    if metrics is not None:
        metrics.close()
    if stopping:
        raise SystemExit(
            f"stopped by a signal at step {run.step}; {run.checkpoint_path} saved: continue with --resume"
        )
    if ranks.is_main:
        print(f"done: {run.step} steps, checkpoint {run.checkpoint_path}")
    return run.checkpoint_path


def _step(run: _Run, global_batch: list[int], signum: int) -> tuple[dict | None, bool]:
    """One optimizer step on this rank's shard of ``global_batch``; returns the metrics row (the global
    batch's losses; None off rank 0) and whether any rank was told to stop."""
    config, ranks, train_set = run.config, run.ranks, run.train_set
    mine = training_data.shard(global_batch, ranks.rank, ranks.world_size)
    batch = training_data.collate([train_set[i] for i in mine], ranks.device)
    in_phase = run.adversary is not None and run.adversary.active(run.step)
    losses = run.losses_module(batch, run.step, in_phase)
    # Each rank's loss is a mean over its own frames; weighting it by its share of the global
    # batch's frames makes the averaged gradient that of the global batch's mean, whatever the
    # world size (exactly for the frame losses, closely for the per-token and vocoder ones).
    share = sum(train_set[i].n_frames for i in mine) / sum(train_set[i].n_frames for i in global_batch)
    if in_phase:  # updates the discriminators; adds the vocoder's adversarial losses to the total
        losses = run.adversary.step(losses, share, ranks.world_size)
    (losses["total"] * (share * ranks.world_size)).backward()
    grad_norm = torch.nn.utils.clip_grad_norm_(run.student.parameters(), config.grad_clip)
    lr = learning_rate(run.step, config)
    for group in run.optimizer.param_groups:
        group["lr"] = lr
    run.optimizer.step()
    run.optimizer.zero_grad(set_to_none=True)
    run.step += 1
    run.batch_in_epoch += 1

    # One collective per step: the global batch's losses and whether any rank was told to stop.
    names = sorted(losses)
    summary = torch.stack(
        [losses[name].detach().float() * share for name in names]
        + [torch.tensor(float(signum), device=ranks.device)]
    )
    if ranks.world_size > 1:
        dist.all_reduce(summary)
    summary = summary.tolist()
    stopping = summary[-1] > 0
    if not ranks.is_main:
        return None, stopping
    if hasattr(grad_norm, "full_tensor"):  # a DTensor under FSDP
        grad_norm = grad_norm.full_tensor()
    row = {"step": run.step, "split": "train", "epoch": run.epoch, "lr": lr, "grad_norm": float(grad_norm)}
    row |= {f"loss_{name}": value for name, value in zip(names, summary)}
    return row, stopping


def _checkpoint_state(run: _Run) -> dict:
    """Everything to resume and to export. Collective under FSDP: every rank calls it, rank 0 receives
    the full tensors."""
    config = run.config
    gather = StateDictOptions(full_state_dict=True, cpu_offload=True)
    model_state = get_model_state_dict(run.student, options=gather)
    optimizer_state = get_optimizer_state_dict(run.student, run.optimizer, options=gather)
    rng = [_rng_state()]
    if run.ranks.world_size > 1:
        rng = [None] * run.ranks.world_size
        dist.all_gather_object(rng, _rng_state())
    train_seconds = run.train_seconds
    adversary = {"adversarial": run.adversary.state_dict()} if run.adversary is not None else {}
    return adversary | {
        "model": model_state,
        "optimizer": optimizer_state,
        "scheduler": {
            "kind": "warmup_cosine",
            "lr": config.lr,
            "warmup_steps": config.warmup_steps,
            "min_lr_ratio": config.min_lr_ratio,
            "steps": config.steps,
        },  # the whole state of learning_rate(step, ·)
        "step": run.step,
        "data": {"epoch": run.epoch, "batch": run.batch_in_epoch},
        "rng": rng,
        "config": asdict(run.model_config),
        "train_config": asdict(config),
        "vocab": run.vocab.to_json(),
        "provenance": {
            "teacher": sorted({r.fields.get("teacher", "unknown") for r in run.records}),
            "datasets": [str(Path(d).resolve()) for d in config.data_dirs],
            "utterances": len(run.train_set),
            "hours": round(sum(train_seconds) / 3600, 3),
            "steps": run.step,
            "command": " ".join(config.command),
            "initialized_from": run.initialized_from,
        },
    }


@torch.no_grad()
def _validate(
    student: Student,
    val_set: list[training_data.Utterance],
    step: int,
    device: torch.device,
    out_dir: Path,
    config: TrainConfig,
    metrics: MetricsLog | None,
) -> None:
    """Loss on the held-out utterances and a few renderings of them through the inference graph.

    Every rank runs it (FSDP needs all ranks for a forward); rank 0 writes. The RNG is forked so
    that validation never shifts the training's random stream.
    """
    if not val_set:
        return
    import soundfile

    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        student.eval()
        batch = training_data.collate(val_set, device)
        losses = {
            f"loss_{name}": float(value) for name, value in student.training_losses(batch, step).items()
        }
        rendered = val_set[: config.val_wavs]
        batch = training_data.collate(rendered, device)
        count, tokens = batch.phoneme_ids.shape
        controls = torch.tensor([[1.0, 0.0, 0.0]], device=device).expand(count, 3)  # speed, semitones, dB
        predict = torch.full((count, tokens), -1.0, device=device)
        audio, audio_lengths, _ = student(
            batch.phoneme_ids,
            batch.phoneme_lengths,
            batch.tag_ids,
            batch.speaker_ids,
            controls,
            predict,
            predict,
        )
        student.train()
    if metrics is None:
        return
    metrics.write({"step": step, "split": "val"} | losses)
    folder = out_dir / "val" / f"step_{step:06d}"
    folder.mkdir(parents=True, exist_ok=True)
    for utterance, wave, length in zip(rendered, audio.float().cpu().numpy(), audio_lengths.tolist()):
        soundfile.write(
            folder / f"{utterance.id[:16]}.wav", np.clip(wave[:length], -1, 1), training_data.SAMPLE_RATE_HZ
        )
        reference = out_dir / "val" / "teacher" / f"{utterance.id[:16]}.wav"
        if not reference.exists():
            reference.parent.mkdir(exist_ok=True)
            soundfile.write(reference, utterance.audio, training_data.SAMPLE_RATE_HZ)


class _Progress:
    """A rich progress bar on a terminal, plain lines every ``log_every`` steps otherwise."""

    def __init__(self, total: int, start: int, enabled: bool, log_every: int) -> None:
        """``enabled``: this is the rank that shows progress."""
        self.enabled, self.log_every = enabled, log_every
        self.rate = 0.0
        self._last = (start, time.perf_counter())
        self._bar = None
        if enabled and sys.stdout.isatty():
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self._bar = Progress(
                TextColumn("train"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[info]}"),
                TimeRemainingColumn(),
            )
            self._task = self._bar.add_task("train", total=total, completed=start, info="")
            self._bar.start()

    def update(self, step: int, row: dict) -> float:
        """Show ``row``; returns the smoothed steps/s."""
        last_step, last_time = self._last
        now = time.perf_counter()
        rate = (step - last_step) / max(now - last_time, 1e-9)
        self.rate = rate if self.rate == 0 else 0.9 * self.rate + 0.1 * rate
        self._last = (step, now)
        info = f"loss {row['loss_total']:.4f}  {self.rate:.2f} steps/s  lr {row['lr']:.2e}"
        if self._bar is not None:
            self._bar.update(self._task, completed=step, info=info)
        elif self.enabled and step % self.log_every == 0:
            print(f"step {step}  {info}", flush=True)
        return self.rate

    def __enter__(self) -> _Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()
