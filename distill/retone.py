"""The tone edit on a dataset already rendered: `steptts distill retone --data IN --out OUT`.

A Kokoro dataset rendered without ``--tone-edit`` need not be rendered again to get it. Each record
that the render would have edited gets :func:`distill.tone_edit.apply_tone_edit` now, exactly as the
teacher applies it (:meth:`distill.kokoro_teacher.KokoroTeacher.render`): Mandarin (``cmn``), with
durations, and no audio edit after the teacher (``edits`` empty: an emotion, singing or dialect edit
was made on the teacher's audio and cannot be redone on top of it). Speed-tagged lines qualify: the
teacher rendered their speed itself. ``--voice`` limits it to some speakers.

OUT is a new dataset (contract 4) holding every record of IN in IN's order: the edited ones under a
new id (:func:`retoned_id`) with the edit in ``edits`` and ``retoned_from`` naming the record they
replace; the others as they were. A record the edit refuses (its syllables not found in its
phonemes) is kept unedited and listed in OUT's ``failures.jsonl`` and the report.

Resumable: records already in OUT are skipped (:class:`distill.dataset_store.DatasetWriter`), so
the same command after an interruption continues where it stopped.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from distill.dataset_rewrite import Rewrite, RewriteSettings, rewrite_dataset, source_records
from distill.kokoro_teacher import MANDARIN
from steptts.errors import StepTTSError


class RetoneError(StepTTSError, ValueError):
    """The datasets cannot be retoned as asked."""


@dataclass(frozen=True)
class RetoneConfig:
    """One `steptts distill retone` run."""

    source: Path
    """The dataset to read (left unchanged)."""
    out: Path
    """The dataset to write (created; an existing one is completed)."""
    strength: float = 0.7
    """How far each syllable's log-F0 moves toward its tone's contour, 0–1 (as ``--tone-edit``)."""
    voices: tuple[str, ...] = ()
    """Speakers whose records are edited; empty: all."""
    workers: int = 2
    """Processes running the edit."""
    progress: bool | None = None
    """Rich progress bar (None: on a terminal outside CI)."""


@dataclass(frozen=True)
class RetoneReport:
    """What one run did (records counted in this run; earlier runs' records are ``already``)."""

    retoned: int
    """Records tone-edited and written under their new ids."""
    carried: int
    """Records written as they were (refused ones included)."""
    refused: list[dict]
    """``{"id", "message"}`` of each record the edit refused (kept unedited)."""
    already: int
    """Records found in the output dataset already (an earlier, interrupted run's)."""

    def format(self, out: Path) -> str:
        lines = [(f"retone: {self.retoned} records tone-edited, {self.carried} carried over unchanged, "
                  f"{self.already} already in {out}")]
        if self.refused:
            lines.append(f"  {len(self.refused)} kept unedited (see {out / 'failures.jsonl'}):")
            lines += [f"    {entry['id'][:12]}: {entry['message']}" for entry in self.refused[:10]]
        return "\n".join(lines)


def editable(record: dict, voices: tuple[str, ...] = ()) -> bool:
    """Whether the render with ``--tone-edit`` would have edited ``record`` (see the module docstring)."""
    return (record.get("language") == MANDARIN and not record.get("edits") and bool(record.get("durations"))
            and (not voices or record.get("voice") in voices))


def retoned_id(record_id: str, strength: float) -> str:
    """The id of ``record_id`` tone-edited at ``strength`` (sha256 hex of both and the edit's version)."""
    from distill.tone_edit import VERSION

    blob = json.dumps({"from": record_id, "tone_edit": {"strength": strength, "version": VERSION}},
                      sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()


def _edit(job: tuple[dict, str, float]) -> tuple[np.ndarray | None, list[dict], str | None]:
    """In a worker: (audio, ops, None) tone-edited, or (None, [], why) when the edit refuses."""
    import soundfile as sf

    from distill.edits import EditError
    from distill.tone_edit import apply_tone_edit

    record, path, strength = job
    audio, rate_hz = sf.read(path, dtype="float32")
    try:
        edited = apply_tone_edit(audio, rate_hz, record["durations"], record["phonemes"], record["text"], strength)
    except EditError as error:
        return None, [], str(error)
    return edited.audio, edited.ops, None


def retone_dataset(config: RetoneConfig) -> RetoneReport:
    """Write ``config.out`` from ``config.source`` (see the module docstring)."""
    if not 0.0 < config.strength <= 1.0:
        raise RetoneError(f"--strength must be in (0, 1], got {config.strength}")
    records = source_records(config.source, config.out, config.voices)
    plan = [
        Rewrite(record, {"id": retoned_id(record["id"], config.strength), "retoned_from": record["id"]},
                (record, str(config.source / record["path"]), config.strength))
        if editable(record, config.voices) else Rewrite(record, None)
        for record in records
    ]
    settings = RewriteSettings("retone", config.workers, carry_refused=True, failure_cause="tone_edit",
                               progress=config.progress)
    counts = rewrite_dataset(config.source, config.out, plan, _edit, settings)
    return RetoneReport(counts.edited, counts.carried, counts.refused, counts.already)
