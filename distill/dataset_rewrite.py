"""A new dataset from an old one, record by record, through an audio edit run in worker processes.

The driver behind the stages that edit a rendered dataset instead of rendering it again
(`steptts distill retone`, `steptts distill timbre`). A stage plans one :class:`Rewrite` per source
record; this module runs the edits (a process pool, results in order), writes OUT through
:class:`distill.dataset_store.DatasetWriter` (contract 4: FLAC and manifest, atomic per record),
and skips what an earlier, interrupted run already wrote, so the same command resumes.

The edit is a picklable function ``edit(job) -> (audio, ops, why)``: float32 [S] audio and the
operations it applied (appended to the record's ``edits``), or ``(None, [], why)`` when it refuses.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from distill.dataset_store import DatasetWriter, read_manifest
from distill.stage_progress import StageBar
from steptts.errors import StepTTSError

EditFunction = Callable[[Any], tuple["np.ndarray | None", list, "str | None"]]


class RewriteError(StepTTSError, ValueError):
    """The source dataset cannot be rewritten as asked."""


def source_records(source: Path, out: Path, voices: tuple[str, ...]) -> list[dict]:
    """The records of the dataset at ``source`` (all of them; ``voices`` must each have some).

    Raises :class:`RewriteError` when ``out`` is ``source`` (a source stays as it is) or a voice of
    ``voices`` has no records; :class:`distill.dataset_store.DatasetError` when ``source`` is no dataset.
    """
    if source.resolve() == out.resolve():
        raise RewriteError("--out must be another folder than --data (the source dataset stays as it is)")
    records = read_manifest(source)
    known_voices = {record.get("voice") for record in records}
    unknown = [voice for voice in voices if voice not in known_voices]
    if unknown:
        raise RewriteError(f"no records of voice {', '.join(unknown)} in {source}; "
                           f"it has: {', '.join(sorted(v for v in known_voices if v))}")
    return records


@dataclass(frozen=True)
class Rewrite:
    """What becomes of one source record."""

    record: dict
    """The source record, as in the source manifest."""
    new_record: dict | None
    """The record to write when the edit succeeds (its new ``id`` and any changed fields, e.g.
    ``voice``); the edit's ops are appended to the source's ``edits``. None: carry ``record`` as it is."""
    job: Any = None
    """The edit's argument (picklable); unused when ``new_record`` is None."""


@dataclass(frozen=True)
class RewriteSettings:
    """How a stage runs its rewrites."""

    label: str
    """The progress bar's name, e.g. ``retone``."""
    workers: int = 2
    """Processes running the edit (1: in this process)."""
    carry_refused: bool = True
    """A record the edit refuses is written unedited under its own id (True), or left out (False).
    Either way it is listed in OUT's ``failures.jsonl``."""
    failure_cause: str = "edit"
    """The ``cause`` of refusals in ``failures.jsonl``."""
    progress: bool | None = None
    """Rich progress bar (None: on a terminal outside CI)."""


@dataclass
class RewriteCounts:
    """What one run did (records written by earlier runs are ``already``)."""

    edited: int = 0
    """Records written under their new ids."""
    carried: int = 0
    """Records written as they were (refused ones carried included)."""
    refused: list[dict] = field(default_factory=list)
    """``{"id", "message"}`` of each record the edit refused."""
    already: int = 0
    """Records found in OUT already."""


def rewrite_dataset(source: Path, out: Path, plan: list[Rewrite], edit: EditFunction,
                    settings: RewriteSettings) -> RewriteCounts:
    """Write ``out`` from ``plan`` (records of the dataset at ``source``) in the plan's order."""
    counts = RewriteCounts()
    with DatasetWriter(out) as writer:
        done = set(writer.done)
        todo = [item for item in plan if not _written(item, done)]
        counts.already = len(plan) - len(todo)
        with StageBar(settings.label, len(plan), counts.already, settings.progress) as bar:
            for item, (audio, ops, why) in zip(todo, _results(todo, edit, settings.workers), strict=True):
                if item.new_record is None or why is not None:
                    if why is not None:
                        writer.record_failure(item.record["id"], settings.failure_cause, why)
                        counts.refused.append({"id": item.record["id"], "message": why})
                    if item.new_record is None or settings.carry_refused:
                        writer.write(dict(item.record), _read_audio(source / item.record["path"]))
                        counts.carried += 1
                else:
                    edits = [*(item.record.get("edits") or []), *ops]
                    writer.write({**item.record, **item.new_record, "edits": edits}, audio)
                    counts.edited += 1
                bar.update(advance=1, info=f"{counts.edited} edited")
    return counts


def _written(item: Rewrite, done: set[str]) -> bool:
    """Whether an earlier run wrote this item: under its new id, or carried under its own."""
    new_id = item.new_record["id"] if item.new_record is not None else None
    return new_id in done or item.record["id"] in done


def _read_audio(path: Path) -> np.ndarray:
    import soundfile as sf

    audio, _ = sf.read(path, dtype="float32")
    return audio


def _results(todo: list[Rewrite], edit: EditFunction, workers: int) -> Iterator[tuple]:
    """The edit's result per item of ``todo`` in order ((None, [], None) for records carried over)."""
    jobs = [item.job for item in todo if item.new_record is not None]
    if not jobs:
        edited: Iterator[tuple] = iter(())
    elif workers <= 1:
        edited = map(edit, jobs)
    else:
        pool = ProcessPoolExecutor(workers)
        edited = _closing(pool, pool.map(edit, jobs, chunksize=2))
    for item in todo:
        yield next(edited) if item.new_record is not None else (None, [], None)


def _closing(pool: ProcessPoolExecutor, results: Iterator[tuple]) -> Iterator[tuple]:
    """``results``, then the pool shut down (also when the consumer stops early)."""
    try:
        yield from results
    finally:
        pool.shutdown(cancel_futures=True)
