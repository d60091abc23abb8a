"""New training speakers from a rendered one: `steptts distill timbre --data IN --out OUT --shift R:S …`.

Each shift is a pseudo-speaker: the source speaker's speech with its formants moved by a ratio, its
F0 by some semitones and optionally its spectral tilt (:func:`distill.edits.apply_timbre_shift`,
WORLD), the words, timing and durations unchanged. The selected records are dealt to the shifts in
turn (``--per-record K``: each record to K consecutive shifts), so every pseudo-speaker reads other
lines. A student trained on them sees one voice's clear speech in many timbres, which a clone's new
speaker can then move among without leaving what the decoder knows.

OUT holds only the edited records, each with ``voice`` set to the shift's speaker name
(:meth:`TimbreShift.speaker`), ``timbre_from`` naming its source record, and the edit's ops appended
to ``edits``; train on it beside IN. A record the edit refuses is left out and listed in OUT's
``failures.jsonl``. Resumable: records already in OUT are skipped, so the same command after an
interruption continues where it stopped.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from distill.dataset_rewrite import Rewrite, RewriteSettings, rewrite_dataset, source_records
from distill.edits import EditError, check_timbre_shift
from steptts.errors import StepTTSError

VERSION = 1
"""Version of the timbre edit, hashed into the edited records' ids."""


class TimbreError(StepTTSError, ValueError):
    """The dataset cannot be given these timbres."""


@dataclass(frozen=True)
class TimbreShift:
    """One pseudo-speaker."""

    formant_ratio: float
    """Formant frequencies × this (> 1: up)."""
    semitones: float
    """F0 + this."""
    tilt_db_per_octave: float = 0.0
    """Spectral tilt added around 1 kHz (< 0: darker)."""

    def __post_init__(self) -> None:
        try:
            check_timbre_shift(self.formant_ratio, self.semitones, self.tilt_db_per_octave)
        except EditError as error:
            spec = f"{self.formant_ratio:g}:{self.semitones:+g}:{self.tilt_db_per_octave:+g}"
            raise TimbreError(f"timbre shift {spec}: {error}") from None

    @classmethod
    def parse(cls, spec: str) -> TimbreShift:
        """``RATIO:SEMITONES[:TILT]``, e.g. ``1.15:+8`` or ``1.2:+12:-2``."""
        try:
            values = [float(part) for part in spec.split(":")]
            if len(values) not in (2, 3):
                raise ValueError(spec)
        except ValueError:
            raise TimbreError(f"--shift {spec!r}: expected RATIO:SEMITONES[:TILT], e.g. 1.15:+8") from None
        return cls(*values)

    def speaker(self, voice: str) -> str:
        """The pseudo-speaker's name, e.g. ``joe-f1.15-p+8`` (``joe-f1.2-p+12-t-2`` with a tilt)."""
        tilt = f"-t{self.tilt_db_per_octave:+g}" if self.tilt_db_per_octave else ""
        return f"{voice}-f{self.formant_ratio:g}-p{self.semitones:+g}{tilt}"


@dataclass(frozen=True)
class TimbreConfig:
    """One `steptts distill timbre` run."""

    source: Path
    """The dataset to read (left unchanged)."""
    out: Path
    """The dataset to write (created; an existing one is completed)."""
    shifts: tuple[TimbreShift, ...]
    """The pseudo-speakers, in the order records are dealt to them."""
    voices: tuple[str, ...] = ()
    """Source speakers whose records are used; empty: all."""
    per_record: int = 1
    """Shifts each record is given (consecutive in the deal)."""
    workers: int = 2
    """Processes running the edit."""
    progress: bool | None = None
    """Rich progress bar (None: on a terminal outside CI)."""


@dataclass(frozen=True)
class TimbreReport:
    """What one run did."""

    edited: int
    """Records written in this run."""
    refused: list[dict]
    """``{"id", "message"}`` of each record the edit refused (left out)."""
    already: int
    """Records found in OUT already (an earlier, interrupted run's)."""
    speakers: dict[str, int]
    """Records planned per pseudo-speaker."""

    def format(self, out: Path) -> str:
        lines = [f"timbre: {self.edited} records written, {self.already} already in {out}",
                 "  " + ", ".join(f"{name}: {count}" for name, count in self.speakers.items())]
        if self.refused:
            lines.append(f"  {len(self.refused)} left out (see {out / 'failures.jsonl'}):")
            lines += [f"    {entry['id'][:12]}: {entry['message']}" for entry in self.refused[:10]]
        return "\n".join(lines)


def shifted_id(record_id: str, shift: TimbreShift) -> str:
    """The id of ``record_id`` given ``shift`` (sha256 hex of both and the edit's version)."""
    edit = {"formant_ratio": shift.formant_ratio, "semitones": shift.semitones, "version": VERSION}
    if shift.tilt_db_per_octave:  # ids of untilted shifts stay as they were
        edit["tilt_db_per_octave"] = shift.tilt_db_per_octave
    blob = json.dumps({"from": record_id, "timbre": edit},
                      sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()


def _edit(job: tuple[str, TimbreShift]) -> tuple[np.ndarray | None, list[dict], str | None]:
    """In a worker: (audio, ops, None), or (None, [], why) when the edit refuses."""
    import soundfile as sf

    from distill.edits import apply_timbre_shift

    path, shift = job
    audio, rate_hz = sf.read(path, dtype="float32")
    try:
        edited = apply_timbre_shift(audio, rate_hz, shift.formant_ratio, shift.semitones,
                                    shift.tilt_db_per_octave)
    except EditError as error:
        return None, [], str(error)
    return edited.audio, edited.ops, None


def timbre_dataset(config: TimbreConfig) -> TimbreReport:
    """Write ``config.out`` from ``config.source`` (see the module docstring)."""
    if not config.shifts:
        raise TimbreError("give at least one --shift RATIO:SEMITONES")
    if not 1 <= config.per_record <= len(config.shifts):
        raise TimbreError(f"--per-record must be between 1 and the number of shifts ({len(config.shifts)})")
    records = source_records(config.source, config.out, config.voices)
    chosen = [record for record in records if not config.voices or record.get("voice") in config.voices]
    plan: list[Rewrite] = []
    speakers: dict[str, int] = {}
    for index, record in enumerate(chosen):
        for turn in range(config.per_record):
            shift = config.shifts[(index * config.per_record + turn) % len(config.shifts)]
            name = shift.speaker(record["voice"])
            speakers[name] = speakers.get(name, 0) + 1
            new = {"id": shifted_id(record["id"], shift), "voice": name, "timbre_from": record["id"]}
            plan.append(Rewrite(record, new, (str(config.source / record["path"]), shift)))
    settings = RewriteSettings("timbre", config.workers, carry_refused=False, failure_cause="timbre_edit",
                               progress=config.progress)
    counts = rewrite_dataset(config.source, config.out, plan, _edit, settings)
    return TimbreReport(counts.edited, counts.refused, counts.already, speakers)
