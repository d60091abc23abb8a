"""Clone stage 4, adapt: the base voice's student, fine-tuned on the aligned recordings as a new speaker.

The student starts from the base voice's shipped graph (:func:`distill.init_weights.load_initial`,
which reads the ONNX initializers back into torch), grown by one speaker row
(:func:`distill.init_weights.grow_to_records`) that starts as a copy of a base speaker's row: by
default the one the recordings were most often aligned with (the records' ``align_speaker``: the
speaker whose rendering they warped onto most cheaply, :mod:`distill.clone_align`), or the mean of the
base speakers' rows for records that name none; with :attr:`AdaptConfig.start_rule` ``lowest-loss``,
the one whose copied row gives the lowest loss on the recordings before any step (:func:`start_losses`).
Two phases:

1. **speaker** (:attr:`AdaptConfig.speaker_steps` steps): only the new speaker's embedding row
   learns, so the base voice's pitch, energy and timbre are steered toward the speaker before any
   shared weight moves;
2. **decoder**: the speaker row, the pitch and energy predictors and embeddings, the frame decoder
   and the vocoder learn (:data:`TRAINED_IN_PHASE_2`, or :attr:`AdaptConfig.trained_in_phase_2`), until
   the held-out loss stops improving. :attr:`AdaptConfig.speaker_radius` can hold the new row near its
   start throughout (``bench/bench_clone_steps.py`` measures what either choice does).
   With :attr:`AdaptConfig.adversarial`, the vocoder also learns against the trainer's discriminators
   in this phase (:class:`distill.adversarial.Adversary`, fresh discriminators, the trainer's weights);
   it is off by default, as in the trainer.

Frozen throughout: the phoneme and tag embeddings, the text encoder and the duration predictor.
A few minutes of one speaker's neutral speech cannot teach text understanding, and fine-tuning the
encoder or the tag embeddings on it would wash out what the base learned from hours of tagged data:
every tag of the base voice must keep working. The durations of the recordings come from the
alignment search, noisier than a teacher's, so the base's duration predictor (and with it the speed
and rhythm the tags were trained with) stays as it is.

Held-out utterances (:func:`distill.training_data.split_validation`) are scored every
:attr:`AdaptConfig.eval_every` steps with a fixed random seed (the vocoder's segments are random), and
the run stops when :attr:`AdaptConfig.patience` scores in a row bring no improvement; the best weights
are kept in ``best.pt``. ``checkpoint.pt`` (written atomically every
:attr:`AdaptConfig.checkpoint_every` steps) holds the weights, optimizer, step, data position, RNG and
early-stopping state: after a SIGKILL, the same command with ``--resume`` continues from it, losing
at most one checkpoint interval, and gives the same result as an uninterrupted run.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # see distill/train.py

import numpy as np
import torch

from distill import training_data
from distill.model import Student
from distill.stage_progress import StageBar
from steptts.errors import StepTTSError

CHECKPOINT = "checkpoint.pt"
BEST = "best.pt"
TRAINED_IN_PHASE_2 = ("speaker_embedding", "pitch_predictor", "energy_predictor", "pitch_embedding",
                      "energy_embedding", "decoder", "frame_out", "vocoder")
"""Modules that learn in phase 2 (phase 1: ``speaker_embedding`` alone)."""
START_RULES = ("aligned", "lowest-loss")
"""How the new row's start is chosen when no speaker is named (:attr:`AdaptConfig.start_rule`)."""
START_SCORING_ITEMS = 16
"""Training utterances the ``lowest-loss`` rule scores each base speaker on."""
VAL_SEED = 1234
"""Seed of the held-out scoring (the same vocoder segments at every evaluation)."""


class AdaptError(StepTTSError, ValueError):
    """The aligned data cannot be adapted on, or the run folder belongs to another run."""


@dataclass(frozen=True)
class AdaptConfig:
    """One adaptation run."""

    data_dir: Path
    """The aligned dataset (contract 4, with durations)."""
    run_dir: Path
    """Where ``checkpoint.pt`` and ``best.pt`` live."""
    speaker: str
    """The new speaker's name (the records' ``voice``)."""
    base: str | None = None
    """Base voice, by name or folder (None: the default voice)."""
    max_steps: int = 400
    """Optimizer steps at most, both phases together."""
    speaker_steps: int = 60
    """Steps of phase 1 (the speaker row alone)."""
    speaker_lr: float = 1e-2
    """Learning rate of the speaker row in phase 1 (a tenth of it in phase 2)."""
    lr: float = 3e-4
    """Learning rate of the shared weights in phase 2."""
    batch_seconds: float = 12.0
    """Padded audio seconds per batch (the frame decoder's attention grows with the square of an
    utterance's frames: short batches keep a step near a second or two on a laptop CPU)."""
    eval_every: int = 25
    """Steps between held-out scores (phase 2)."""
    patience: int = 4
    """Held-out scores without improvement before the run stops."""
    checkpoint_every: int = 25
    """Steps between checkpoints."""
    val_items: int | None = None
    """Held-out utterances; None: a tenth of them, at least 2 and at most 8."""
    seed: int = 0
    """Data order and random segments."""
    adversarial: bool = False
    """Phase 2 adds the adversarial and feature-matching losses of :mod:`distill.adversarial`."""
    trained_in_phase_2: tuple[str, ...] = TRAINED_IN_PHASE_2
    """Modules (names of the student's children) that learn in phase 2; the speaker row always does."""
    speaker_radius: float | None = None
    """When set, the new speaker's row is held within this L2 distance of its starting row after every
    step (the base decoder speaks clearly only near the rows it was trained with). None: unbounded."""
    start_speaker: str | None = None
    """The base speaker whose row the new speaker starts from; None: the one stage 3 aligned most
    utterances to (``align_speaker``). A name the base lacks is an AdaptError."""
    start_rule: str = "aligned"
    """When :attr:`start_speaker` is None, how the start is chosen (:data:`START_RULES`): ``aligned``, the
    base speaker stage 3 aligned most utterances to; ``lowest-loss``, the base speaker whose row, copied,
    gives the lowest mean training loss on the first :data:`START_SCORING_ITEMS` training utterances."""
    threads: int | None = None
    """torch threads (None: every core this process may use)."""
    progress: bool | None = None
    """Rich progress bar (None: on a terminal outside CI)."""

    def settings(self) -> dict:
        """What decides the result (a resumed run must have the same)."""
        return {key: value for key, value in asdict(self).items()
                if key not in ("run_dir", "data_dir", "threads", "progress")}


@dataclass(frozen=True)
class AdaptResult:
    """What stage 4 did."""

    steps: int
    """Optimizer steps taken."""
    best_step: int
    """Step of the kept weights."""
    best_val_loss: float
    """Their held-out loss."""
    first_val_loss: float
    """The held-out loss of the base student with the new speaker row, before any step."""
    stopped_early: bool
    """True when the patience ran out before :attr:`AdaptConfig.max_steps`."""
    train_utterances: int
    """Utterances trained on."""
    val_utterances: int
    """Utterances held out."""
    train_s: float
    """Seconds of audio trained on."""
    val_s: float
    """Seconds of audio held out."""
    wall_s: float
    """Wall time of this process's share of the run, seconds."""
    resumed_from: int | None
    """Step the run resumed from (None: started afresh)."""


@dataclass
class _State:
    """The run's position; saved in ``checkpoint.pt``."""

    step: int = 0
    """Optimizer steps done."""
    epoch: int = 0
    """Passes over the train set started."""
    batch_in_epoch: int = 0
    """Batches of this epoch done."""
    best_val: float = float("inf")
    """Lowest held-out loss scored so far."""
    best_step: int = 0
    """Step of that score (0: none yet)."""
    first_val: float = float("nan")
    """Held-out loss before the first step."""
    bad_evals: int = 0
    """Scores in a row without improvement."""
    stopped_early: bool = False
    """The patience ran out."""


def _records(config: AdaptConfig, vocab) -> list:
    """The aligned records whose tokens the base voice knows (others would need new phoneme rows)."""
    from steptts.phonemes import tokenize

    records = training_data.read_records([config.data_dir])
    known = vocab.phoneme_vocab.symbol_to_id
    kept = [record for record in records if all(token in known for token in tokenize(record.fields["phonemes"]))]
    if len(kept) < 3:
        raise AdaptError(f"only {len(kept)} aligned utterances in {config.data_dir}: too few to adapt on")
    return kept


def _start_from_nearest_speaker(initial, records: list, speaker: str, start: str | None = None):
    """``initial`` with ``speaker``'s row copied from ``start``, or else from the base speaker the records
    name most often as ``align_speaker`` (unchanged when none names one the base has)."""
    from collections import Counter

    from distill.init_weights import SPEAKER_TABLE

    named = Counter(record.fields.get("align_speaker") for record in records)
    named.pop(speaker, None)
    nearest = start or next((name for name, _ in named.most_common() if name in initial.vocab.speakers),
                            None)
    if nearest is None:
        return initial
    table = initial.state[SPEAKER_TABLE].clone()
    table[initial.vocab.speakers[speaker]] = table[initial.vocab.speakers[nearest]]
    return replace(initial, state={**initial.state, SPEAKER_TABLE: table})


def _set_phase(student: Student, phase: int, config: AdaptConfig) -> None:
    """requires_grad on the modules of ``phase`` (1 or 2), off elsewhere."""
    trained = ("speaker_embedding",) if phase == 1 else ("speaker_embedding", *config.trained_in_phase_2)
    for name, parameter in student.named_parameters():
        parameter.requires_grad_(name.split(".")[0] in trained)


def _optimizer(student: Student, config: AdaptConfig) -> torch.optim.Optimizer:
    speaker = [student.speaker_embedding.weight]
    unknown = set(config.trained_in_phase_2) - {name for name, _ in student.named_children()}
    if unknown:
        raise AdaptError(f"trained_in_phase_2 names no module of the student: {', '.join(sorted(unknown))}")
    shared = [p for name, p in student.named_parameters() if name.split(".")[0] in config.trained_in_phase_2
              and name != "speaker_embedding.weight"]
    return torch.optim.AdamW([{"params": speaker, "lr": config.speaker_lr}, {"params": shared, "lr": 0.0}],
                             betas=(0.8, 0.99), weight_decay=0.0)


def _set_learning_rates(optimizer: torch.optim.Optimizer, config: AdaptConfig, step: int) -> int:
    """The phase of ``step`` (1 or 2), with its learning rates set."""
    phase = 1 if step < config.speaker_steps else 2
    optimizer.param_groups[0]["lr"] = config.speaker_lr if phase == 1 else config.speaker_lr / 10
    optimizer.param_groups[1]["lr"] = 0.0 if phase == 1 else config.lr
    return phase


@torch.no_grad()
def start_losses(student: Student, utterances: list, new_row: int,
                 candidates: dict[str, int]) -> dict[str, float]:
    """The mean total loss on ``utterances`` with row ``new_row`` copied from each candidate's row in turn.

    Args:
        student: the grown student (its row ``new_row`` is restored afterwards).
        utterances: loaded utterances of the new speaker (:func:`distill.training_data.load_utterances`).
        new_row: the new speaker's row in the speaker table.
        candidates: base speaker name → row.
    """
    table = student.speaker_embedding.weight
    saved = table[new_row].clone()
    losses = {}
    for name, row in candidates.items():
        table[new_row] = table[row]
        losses[name] = held_out_loss(student, utterances, 0)
    table[new_row] = saved
    return losses


@torch.no_grad()
def held_out_loss(student: Student, val_set: list, step: int) -> float:
    """The mean total loss on ``val_set``, with a fixed seed for the vocoder's random segments."""
    with torch.random.fork_rng():
        torch.manual_seed(VAL_SEED)
        student.eval()
        losses = student.training_losses(training_data.collate(val_set), step)
        student.train()
    return float(losses["total"])


def _save(path: Path, payload: dict) -> None:
    """torch.save atomically (a temporary file, then rename)."""
    temporary = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    torch.save(payload, temporary)
    os.replace(temporary, path)


def _rng_state() -> dict:
    import random

    return {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}


def _set_rng_state(state: dict) -> None:
    import random

    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])


class AdaptRun:
    """The student, its data and optimizer, and the position of one adaptation (:func:`adapt` drives it;
    ``bench/bench_clone_steps.py`` steps it and judges the student between steps)."""

    def __init__(self, config: AdaptConfig) -> None:
        from distill.init_weights import grow_to_records, load_initial

        self.config = config
        initial = load_initial(config.base) if config.base else load_initial(_default_voice())
        records = _records(config, initial.vocab)
        self.initial = grow_to_records(initial, records, seed=config.seed)
        if config.speaker not in self.initial.vocab.speakers:
            raise AdaptError(f"the aligned data in {config.data_dir} is not of speaker '{config.speaker}'")
        if config.start_speaker is not None and config.start_speaker not in initial.vocab.speakers:
            raise AdaptError(f"the base has no speaker '{config.start_speaker}' to start from; it has: "
                             f"{', '.join(initial.vocab.speakers)}")
        if config.start_rule not in START_RULES:
            raise AdaptError(f"unknown start rule '{config.start_rule}': one of {', '.join(START_RULES)}")
        start_by_loss = config.start_speaker is None and config.start_rule == "lowest-loss"
        if not start_by_loss:  # else the row is copied below, once the student can score the candidates
            self.initial = _start_from_nearest_speaker(self.initial, records, config.speaker,
                                                       config.start_speaker)
        utterances = training_data.load_utterances(records, self.initial.vocab, workers=1, progress=False)
        n_val = config.val_items or max(2, min(8, len(utterances) // 10))
        self.train_set, self.val_set = training_data.split_validation(utterances, n_val)
        torch.manual_seed(config.seed)
        # From the first step the vocoder also learns from the decoder's own (predicted) features.
        self.student = Student(replace(self.initial.config, vocoder_predicted_from_step=0))
        self.student.load_state_dict(self.initial.state)
        self.start_losses: dict[str, float] = {}  # each base speaker's, when the lowest-loss rule chose
        if start_by_loss:
            base_rows = {name: row for name, row in initial.vocab.speakers.items() if name != config.speaker}
            scored = self.train_set[:START_SCORING_ITEMS]
            self.start_losses = start_losses(self.student, scored, self.speaker_id, base_rows)
            best = min(self.start_losses, key=self.start_losses.get)
            with torch.no_grad():
                table = self.student.speaker_embedding.weight
                table[self.speaker_id] = table[base_rows[best]]
        self.optimizer = _optimizer(self.student, config)
        self.adversary = None
        if config.adversarial:
            from distill.adversarial import AdversarialConfig, Adversary

            self.adversary = Adversary(AdversarialConfig(), config.speaker_steps, torch.device("cpu"), config.seed)
        self.state = _State()
        self._plan: list[list[int]] | None = None  # batches of the epoch state.epoch
        self.start_row = self.student.speaker_embedding.weight[self.speaker_id].detach().clone()

    @property
    def speaker_id(self) -> int:
        """The new speaker's row in the student's table."""
        return self.initial.vocab.speakers[self.config.speaker]

    def row_drift(self) -> float:
        """L2 distance of the new speaker's row from its starting row."""
        return float((self.student.speaker_embedding.weight[self.speaker_id].detach() - self.start_row).norm())

    def checkpoint(self) -> dict:
        adversary = {"adversarial": self.adversary.state_dict()} if self.adversary is not None else {}
        return {"model": self.student.state_dict(), "optimizer": self.optimizer.state_dict(),
                "state": asdict(self.state), "rng": _rng_state(), "settings": self.config.settings(), **adversary}

    def restore(self, checkpoint: dict) -> None:
        if checkpoint.get("settings") != self.config.settings():
            raise AdaptError(f"{self.config.run_dir} holds an adaptation with other settings: "
                             "run the same command, or remove the folder")
        self.student.load_state_dict(checkpoint["model"])
        self.optimizer.load_state_dict(checkpoint["optimizer"])
        if self.adversary is not None:
            self.adversary.load_state_dict(checkpoint["adversarial"])
        self.state = _State(**checkpoint["state"])
        self._plan = None
        _set_rng_state(checkpoint["rng"])

    def save_best(self) -> None:
        """``best.pt``: the weights in the layout export reads, the clone as the voice's only speaker."""
        vocab = self.initial.vocab.to_json()
        vocab["speakers"] = {self.config.speaker: vocab["speakers"][self.config.speaker]}
        _save(self.config.run_dir / BEST, {
            "model": self.student.state_dict(), "config": asdict(self.student.config), "vocab": vocab,
            "step": self.state.step, "val_loss": self.state.best_val, "provenance": self.initial.provenance,
        })

    def next_batch(self) -> list[int]:
        """Indices into the train set of the next batch; a finished epoch starts the next one.

        Raises:
            AdaptError: no batch of :attr:`AdaptConfig.batch_seconds` holds an utterance.
        """
        state, config = self.state, self.config

        def plan(epoch: int) -> list[list[int]]:
            seconds = [u.duration_s for u in self.train_set]
            batches = training_data.plan_epoch(seconds, config.batch_seconds, config.seed, epoch)
            if not batches:
                raise AdaptError(f"no batch of --batch-seconds {config.batch_seconds} holds an utterance")
            return batches

        if self._plan is None:
            self._plan = plan(state.epoch)
        if state.batch_in_epoch >= len(self._plan):
            state.epoch, state.batch_in_epoch = state.epoch + 1, 0
            self._plan = plan(state.epoch)
        return self._plan[state.batch_in_epoch]

    def step(self, batch_indices: list[int]) -> float:
        """One optimizer step on ``batch_indices`` of the train set; returns its total loss."""
        phase = _set_learning_rates(self.optimizer, self.config, self.state.step)
        _set_phase(self.student, phase, self.config)
        batch = training_data.collate([self.train_set[i] for i in batch_indices])
        adversarial = self.adversary is not None and self.adversary.active(self.state.step)
        losses = self.student.training_losses(batch, self.state.step, vocoder_audio=adversarial)
        if adversarial:  # updates the discriminators; adds the vocoder's adversarial losses
            losses = self.adversary.step(losses, share=1.0, world_size=1)
        losses["total"].backward()
        torch.nn.utils.clip_grad_norm_([p for p in self.student.parameters() if p.requires_grad], 1.0)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self._hold_row()
        self.state.step += 1
        self.state.batch_in_epoch += 1
        return float(losses["total"].detach())

    @torch.no_grad()
    def _hold_row(self) -> None:
        """Pull the new row back onto the ball of :attr:`AdaptConfig.speaker_radius` around its start."""
        radius = self.config.speaker_radius
        if radius is None:
            return
        table = self.student.speaker_embedding.weight
        drift = table[self.speaker_id] - self.start_row
        norm = float(drift.norm())
        if norm > radius:
            table[self.speaker_id] = self.start_row + drift * (radius / norm)

    def evaluate(self) -> bool:
        """Score the held-out set after phase 1; True when the patience has run out."""
        state, config = self.state, self.config
        if state.step < config.speaker_steps:
            return False
        loss = held_out_loss(self.student, self.val_set, state.step)
        if loss < state.best_val:
            state.best_val, state.best_step, state.bad_evals = loss, state.step, 0
            self.save_best()
        else:
            state.bad_evals += 1
        return state.bad_evals >= config.patience


def _default_voice() -> str:
    from steptts.voice import load_voice

    return str(load_voice(None).path)


def adapt(config: AdaptConfig, resume: bool = False) -> AdaptResult:
    """Run (or, with ``resume``, continue) stage 4; see the module docstring.

    Raises:
        AdaptError: too little aligned data, or a run folder of another run (without ``resume``:
            any run folder holding a checkpoint).
    """
    started = time.monotonic()
    torch.set_num_threads(config.threads or len(os.sched_getaffinity(0)))
    config.run_dir.mkdir(parents=True, exist_ok=True)
    run = AdaptRun(config)
    checkpoint_path = config.run_dir / CHECKPOINT
    resumed_from = None
    if checkpoint_path.exists():
        if not resume:
            raise AdaptError(f"{config.run_dir} holds an adaptation already: add --resume to continue it")
        run.restore(torch.load(checkpoint_path, map_location="cpu", weights_only=False))
        resumed_from = run.state.step
    else:
        run.state.first_val = held_out_loss(run.student, run.val_set, 0)
    _loop(run)
    state = run.state
    return AdaptResult(state.step, state.best_step, state.best_val, state.first_val, state.stopped_early,
                       len(run.train_set), len(run.val_set), sum(u.duration_s for u in run.train_set),
                       sum(u.duration_s for u in run.val_set), time.monotonic() - started, resumed_from)


def _loop(run: AdaptRun) -> None:
    """Steps until the patience runs out or :attr:`AdaptConfig.max_steps`; checkpoints on schedule."""
    config, state = run.config, run.state
    run.student.train()
    with StageBar("clone: adapt", config.max_steps, state.step, config.progress) as bar:
        while state.step < config.max_steps and not state.stopped_early:
            loss = run.step(run.next_batch())
            at_end = state.step == config.max_steps
            if state.step % config.eval_every == 0 or at_end:
                state.stopped_early = run.evaluate() and not at_end
            if state.step % config.checkpoint_every == 0 or at_end or state.stopped_early:
                _save(config.run_dir / CHECKPOINT, run.checkpoint())
            bar.update(completed=state.step, info=_progress_text(state, loss))
    if state.best_step == 0 and not (config.run_dir / BEST).exists():
        state.best_val = held_out_loss(run.student, run.val_set, state.step)
        state.best_step = state.step
        run.save_best()


def _progress_text(state: _State, loss: float) -> str:
    """The adapt bar's text: the step's loss and the best held-out loss so far."""
    best = f"held-out {state.best_val:.3f} @ {state.best_step}" if state.best_step else "speaker phase"
    return f"loss {loss:.3f}  {best}"
