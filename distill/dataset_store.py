"""The distillation dataset on disk: ``manifest.jsonl`` + ``audio/<id>.flac`` (+ ``failures.jsonl``).

Safe to interrupt at any instant (SIGKILL included):

- a FLAC is written to a temporary file in ``audio/``, fsynced, then renamed into place;
- its manifest line is appended only after that, with one ``write`` and an fsync;
- on open, a torn last manifest line is cut off, and temporary files and FLACs the manifest does
  not name (orphans) are removed, so the folder always equals its manifest.

Record ids are content hashes (:func:`record_id`), so a re-run skips what is done and gives the same
dataset. Record fields follow docs/CONTRACTS.md.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from steptts.errors import StepTTSError

MANIFEST = "manifest.jsonl"
FAILURES = "failures.jsonl"
AUDIO_DIR = "audio"
LOCK = ".lock"
TEMP_MARK = ".tmp-"
"""Temporary FLACs are named ``.<id>.flac.tmp-<pid>``: never mistaken for a finished file."""

RECORD_FIELDS = (
    "id",
    "text",
    "phonemes",
    "tags",
    "voice",
    "teacher",
    "language",
    "sample_rate",
    "duration",
    "path",
    "durations",
    "edits",
)


class DatasetError(StepTTSError):
    """A dataset folder cannot be read or written (not a folder, unreadable manifest, disk full)."""


def record_id(
    teacher: str,
    teacher_settings: dict[str, Any],
    voice: str,
    text: str,
    tags: list[str] | tuple[str, ...],
    edit: dict[str, Any] | None,
) -> str:
    """sha256 (hex) of what decides a record's audio: teacher and settings, voice, text, tags, edit plan."""
    content = {
        "teacher": teacher,
        "settings": teacher_settings,
        "voice": voice,
        "text": text,
        "tags": list(tags),
        "edit": edit,
    }
    blob = json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def _fsync_dir(path: Path) -> None:
    # The rename is durable only once the directory entry is on disk.
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _read_lines(path: Path) -> tuple[list[dict], bool]:
    """Parsed JSON objects of a jsonl file, and whether any line was torn or unreadable."""
    if not path.exists():
        return [], False
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise DatasetError(f"cannot read {path}: {error}") from None
    records, damaged = [], False
    for line in raw.split(b"\n"):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            damaged = True
            continue
        if isinstance(record, dict) and "id" in record:
            records.append(record)
        else:
            damaged = True
    if raw and not raw.endswith(b"\n"):
        damaged = True
    return records, damaged


def _rewrite_atomically(path: Path, records: list[dict]) -> None:
    temp = path.with_name(f".{path.name}{TEMP_MARK}{os.getpid()}")
    with open(temp, "wb") as handle:
        handle.writelines(_encode_line(record) for record in records)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temp, path)
    _fsync_dir(path.parent)


def _encode_line(record: dict) -> bytes:
    return (json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")


def read_manifest(dataset_dir: str | Path) -> list[dict]:
    """Records of a dataset in manifest order; a torn last line (an interrupted run) is skipped.

    Each record's ``path`` is relative to ``dataset_dir``.
    """
    dataset_dir = Path(dataset_dir)
    manifest = dataset_dir / MANIFEST
    if not manifest.is_file():
        raise DatasetError(f"no {MANIFEST} in {dataset_dir}: not a steptts dataset")
    records, _ = _read_lines(manifest)
    seen: set[str] = set()
    unique = []
    for record in records:
        if record["id"] not in seen:
            seen.add(record["id"])
            unique.append(record)
    return unique


@dataclass
class Repair:
    """What opening a dataset folder had to clean up after an interrupted run."""

    torn_lines: bool = False
    """True when a torn last manifest line was cut off."""
    dropped_records: int = 0
    """Manifest lines dropped: duplicates, or their FLAC is missing."""
    removed_temp: int = 0
    """Temporary files removed."""
    removed_orphans: int = 0
    """FLACs the manifest does not name, removed."""


class DatasetWriter:
    """Appends records to a dataset folder; the only writer of that folder (one process).

    Use as a context manager. ``done`` holds the ids already in the manifest.
    """

    def __init__(self, dataset_dir: str | Path) -> None:
        self.dir = Path(dataset_dir)
        if self.dir.exists() and not self.dir.is_dir():
            raise DatasetError(f"{self.dir} exists and is not a folder")
        self.audio_dir = self.dir / AUDIO_DIR
        try:
            self.audio_dir.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise DatasetError(f"cannot create {self.audio_dir}: {error}") from None
        self.manifest_path = self.dir / MANIFEST
        self.failures_path = self.dir / FAILURES
        self._lock_fd = self._lock()
        self.repair = self._recover()
        self.done: dict[str, dict] = {r["id"]: r for r in read_manifest(self.dir)}
        self._fd = os.open(self.manifest_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self._failures_fd = os.open(self.failures_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def _lock(self) -> int:
        """Hold an exclusive lock on the folder: two writers would corrupt each other's manifest.

        ``flock`` is released by the kernel when the process dies, SIGKILL included.
        """
        import fcntl

        fd = os.open(self.dir / LOCK, os.O_WRONLY | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise DatasetError(f"another run is writing to {self.dir}; wait for it or stop it") from None
        return fd

    def _recover(self) -> Repair:
        """Make the folder equal its manifest again after whatever interrupted the last run."""
        repair = Repair()
        records, damaged = _read_lines(self.manifest_path)
        kept, seen = [], set()
        for record in records:
            flac = self.dir / str(record.get("path", ""))
            # An empty file can only come from a crash of the machine itself (we fsync before the rename).
            if record["id"] in seen or not flac.is_file() or flac.stat().st_size == 0:
                repair.dropped_records += 1
                continue
            seen.add(record["id"])
            kept.append(record)
        repair.torn_lines = damaged
        if damaged or repair.dropped_records:
            _rewrite_atomically(self.manifest_path, kept)
        elif not self.manifest_path.exists():
            self.manifest_path.touch()
        named = {Path(r["path"]).name for r in kept}
        for path in self.audio_dir.iterdir():
            if TEMP_MARK in path.name:
                path.unlink(missing_ok=True)
                repair.removed_temp += 1
            elif path.is_file() and path.name not in named:
                path.unlink(missing_ok=True)
                repair.removed_orphans += 1
        for stale in self.dir.glob(f".*{TEMP_MARK}*"):
            stale.unlink(missing_ok=True)
        return repair

    def __enter__(self) -> DatasetWriter:  # noqa: PYI034 - typing.Self needs Python 3.11
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        for name in ("_fd", "_failures_fd", "_lock_fd"):
            fd = getattr(self, name, None)
            if fd is not None:
                os.close(fd)
                setattr(self, name, None)

    def write(self, record: dict[str, Any], audio: np.ndarray) -> dict[str, Any]:
        """Store ``audio`` (float32 [S] at ``record["sample_rate"]``) as FLAC PCM_16, then its record.

        Fills ``path`` and ``duration`` (s); returns the record as written. A record whose id is
        already in the dataset is not written twice.
        """
        import soundfile as sf

        record_id_ = record["id"]
        if record_id_ in self.done:
            return self.done[record_id_]
        audio = np.clip(np.asarray(audio, dtype=np.float32).reshape(-1), -1.0, 1.0)
        sample_rate_hz = int(record["sample_rate"])
        relative = f"{AUDIO_DIR}/{record_id_}.flac"
        final = self.dir / relative
        temp = self.audio_dir / f".{record_id_}.flac{TEMP_MARK}{os.getpid()}"
        try:
            with open(temp, "wb") as handle:
                sf.write(handle, audio, sample_rate_hz, format="FLAC", subtype="PCM_16")
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temp, final)
            _fsync_dir(self.audio_dir)
            record = {**record, "path": relative, "duration": round(len(audio) / sample_rate_hz, 6)}
            record = {key: record.get(key) for key in RECORD_FIELDS} | {
                k: v for k, v in record.items() if k not in RECORD_FIELDS
            }
            self._append(self._fd, record)
        except OSError as error:
            temp.unlink(missing_ok=True)
            raise DatasetError(f"cannot write {final}: {error}") from None
        self.done[record_id_] = record
        return record

    def record_failure(self, item_id: str, cause: str, message: str, **details: Any) -> None:
        """Append one failure (retried on the next run; see :meth:`compact_failures`)."""
        entry = {"id": item_id, "cause": cause, "message": message, "time": time.time(), **details}
        self._append(self._failures_fd, entry)

    def previous_failures(self) -> list[dict]:
        """Failures of earlier runs whose items are still missing from the manifest."""
        failures, _ = _read_lines(self.failures_path)
        return [f for f in failures if f["id"] not in self.done]

    def compact_failures(self) -> list[dict]:
        """Rewrite ``failures.jsonl`` to the latest failure of each item still missing; return them."""
        latest: dict[str, dict] = {}
        for failure in self.previous_failures():
            latest[failure["id"]] = failure
        _rewrite_atomically(self.failures_path, list(latest.values()))
        # The rewrite replaced the file under our append handle: reopen it.
        os.close(self._failures_fd)
        self._failures_fd = os.open(self.failures_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        return list(latest.values())

    @staticmethod
    def _append(fd: int, entry: dict) -> None:
        line = _encode_line(entry)
        # One write per line on an O_APPEND descriptor: a crash leaves at most one torn last line.
        written = os.write(fd, line)
        if written != len(line):
            raise OSError(f"short write ({written} of {len(line)} bytes)")
        os.fsync(fd)
