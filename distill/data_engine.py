"""The data engine: a teacher reads a corpus under a tag plan into a distillation dataset.

Plan → render → write:

- :func:`plan_items` gives every corpus line its tags (from the plan, known in advance), the split
  between tags the teacher renders itself and the one an audio edit adds, and its record id;
- N worker processes (spawned, each with its own teacher loaded once) render and edit items;
- the parent is the only writer (:class:`distill.dataset_store.DatasetWriter`), so a SIGKILL at any
  instant leaves a dataset that the next run completes, with the same ids.

SIGINT/SIGTERM stop dispatching, give in-flight items a short grace to arrive (they are written
whole), then end the workers: nothing partial is ever written. Failures go to ``failures.jsonl``
and are retried by the next run.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from steptts.errors import StepTTSError
from steptts.graph import HOP_LENGTH

from .corpus import CorpusConfig, read_corpus
from .dataset_store import DatasetWriter, record_id
from .tagplan import TagPlan, TagPlanError, load_tag_plan
from .teachers import Teacher, TeacherError, make_teacher

PREFETCH_PER_WORKER = 2
"""Items queued per worker: keeps it busy while the parent writes, and bounds what an interrupt drops."""
STOP_GRACE_S = 5.0
"""After SIGINT/SIGTERM, how long in-flight items may take to arrive before workers are ended."""
STATUS_EVERY_S = 30.0
"""Without a terminal, a status line this often (log files of long runs)."""
MAX_CRASHES_IN_A_ROW = 5
"""Worker deaths with no item finished in between before the run gives up (a broken teacher)."""


@dataclass
class DataConfig:
    """One ``steptts distill data`` run."""

    texts: list[Path]
    """Corpus files (text: one line each; TSV: id<TAB>text)."""
    out_dir: Path
    """The dataset folder (created; an existing one is completed)."""
    teacher: str = "piper"
    """``piper``, ``espeak`` or ``remote``."""
    teacher_options: dict[str, Any] = field(default_factory=dict)
    """Constructor options of the teacher (None values: its defaults)."""
    voice: str | None = None
    """Speaker / server voice; None: the teacher's default."""
    limit: int | None = None
    """Use only the first N corpus lines (after normalization and filtering)."""
    workers: int = 2
    """Worker processes, each with its own teacher."""
    tag_plan: str = "default"
    """``default``, ``none`` or a JSON file of tag key → fraction."""
    seed: int = 0
    """Seeds tag assignment and edits: the same seed gives the same dataset."""
    corpus: CorpusConfig = field(default_factory=CorpusConfig)
    """How corpus lines are normalized and filtered (length in characters, held-out files)."""
    progress: bool | None = None
    """Live progress bar; None: only on a terminal outside CI."""


@dataclass(frozen=True)
class PlannedItem:
    """One record to make."""

    id: str
    """The record id (sha256 of teacher, voice, text, tags, edit)."""
    text: str
    """Normalized text to render."""
    source: str
    """``file:id`` or ``file:line`` of the corpus line."""
    tags: tuple[str, ...]
    """All tag keys of the record."""
    native_tags: tuple[str, ...]
    """Tags the teacher renders itself."""
    edit_tag: str | None
    """The tag an audio edit adds afterwards, or None."""
    edit_seed: int
    """Seed of the audio edit (melody, tempo), from the run's seed and the text."""


@dataclass
class DataReport:
    """What a run did."""

    planned: int = 0
    """Records the plan asks for."""
    already_done: int = 0
    """Of those, records the folder held before this run."""
    written: int = 0
    """Records written by this run."""
    failures: Counter = field(default_factory=Counter)
    """Failures of this run by cause."""
    interrupted: bool = False
    """True when a signal stopped the run early."""
    total_records: int = 0
    """Records in the dataset after the run."""
    hours_by_tag: dict[str, float] = field(default_factory=dict)
    """Audio hours per tag over the whole dataset (``neutral`` for untagged records)."""
    wall_s: float = 0.0
    """Wall time of the run in seconds."""
    written_audio_s: float = 0.0
    """Seconds of audio written by this run."""

    @property
    def exit_code(self) -> int:
        """0 unless nothing could be written (1), or the run was interrupted (130)."""
        if self.interrupted:
            return 130
        todo = self.planned - self.already_done
        return 1 if todo > 0 and self.written == 0 else 0


# ------------------------------------------------------------------------------------------ planning


def _edits_module():
    try:
        from . import edits
    except ImportError as error:
        raise TagPlanError(
            f"the tag plan needs audio edits, but distill.edits cannot load: {error}"
        ) from None
    return edits


def split_tags(teacher: Teacher, tag_keys: tuple[str, ...]) -> tuple[tuple[str, ...], str | None]:
    """(tags the teacher renders, the one tag an audio edit adds or None); raises TagPlanError."""
    native = tuple(key for key in tag_keys if teacher.renders(key))
    edited = [key for key in tag_keys if key not in native]
    if not edited:
        return native, None
    if len(edited) > 1:
        raise TagPlanError(f"teacher '{teacher.name}' would need several audio edits at once: {edited}")
    edits = _edits_module()
    if not edits.can_edit(edited[0]):
        raise TagPlanError(
            f"teacher '{teacher.name}' cannot render tag '{edited[0]}' and no audio edit makes it; "
            "drop it from the tag plan"
        )
    if edited[0] in getattr(edits, "MUSIC_KEYS", ()) and not getattr(teacher, "white_box", False):
        raise TagPlanError(
            f"the '{edited[0]}' edit needs per-phoneme durations, which teacher '{teacher.name}' does not "
            "give; drop it from the tag plan or use the piper teacher"
        )
    return native, edited[0]


def fit_default_plan(plan: TagPlan, teacher: Teacher) -> TagPlan:
    """The built-in plan with the tags this teacher can make neither itself nor by an edit left neutral.

    Says so on stderr. A plan from a file is never changed: its impossible tags are an error.
    """
    impossible = set()
    for key in plan.tag_keys:
        try:
            split_tags(teacher, (key,))
        except TagPlanError:
            impossible.add(key)
    if impossible:
        print(
            f"distill data: teacher '{teacher.name}' cannot make {', '.join(sorted(impossible))}: "
            "those lines of the default tag plan stay neutral",
            file=sys.stderr,
        )
    return plan.neutralize(impossible)


def _edit_plan(tag_key: str, seed: int) -> dict[str, Any]:
    """What decides an edit's output, hashed into the record id (with the edit stage's version, if any)."""
    plan: dict[str, Any] = {"tag": tag_key, "seed": seed}
    version = getattr(_edits_module(), "VERSION", None)
    if version is not None:
        plan["version"] = version
    return plan


def plan_items(lines: list, plan: TagPlan, teacher: Teacher, voice: str, seed: int = 0) -> list[PlannedItem]:
    """The record each corpus line becomes, in corpus order (ids are stable across runs)."""
    settings = teacher.settings()
    splits: dict[tuple[str, ...], tuple[tuple[str, ...], str | None]] = {}
    items = []
    for line in lines:
        assignment = plan.assign(line.text, seed)
        if assignment.tags not in splits:
            splits[assignment.tags] = split_tags(teacher, assignment.tags)
        native, edit_tag = splits[assignment.tags]
        edit = _edit_plan(edit_tag, assignment.edit_seed) if edit_tag else None
        item_id = record_id(teacher.name, settings, voice, line.text, list(assignment.tags), edit)
        items.append(
            PlannedItem(
                item_id,
                line.text,
                line.source,
                assignment.tags,
                native,
                edit_tag,
                assignment.edit_seed if edit_tag else 0,
            )
        )
    return items


# ------------------------------------------------------------------------------------------ workers


def _die_with_parent() -> None:
    # Linux: the kernel kills this worker when the parent dies (even by SIGKILL).
    try:
        import ctypes

        libc = ctypes.CDLL(None)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def render_item(teacher: Teacher, item: PlannedItem, voice: str) -> tuple[dict[str, Any], np.ndarray]:
    """Render, edit and check one item: (record without path/duration, audio float32 [S])."""
    from steptts.phonemes import tokenize
    from steptts.tags import resolve_tag

    rendering = teacher.render(item.text, [resolve_tag(key) for key in item.native_tags], voice)
    audio, durations, ops = rendering.audio, rendering.durations, list(rendering.ops)
    if item.edit_tag:
        result = _edits_module().apply_tag_edit(
            audio,
            rendering.sample_rate_hz,
            durations,
            tokenize(rendering.phonemes),
            item.edit_tag,
            item.edit_seed,
            item.text,
        )
        audio, ops = result.audio, [*ops, *result.ops]
        durations = list(result.durations) if durations is not None else None
    audio = np.asarray(audio, dtype=np.float32).reshape(-1)
    if audio.size == 0 or not np.isfinite(audio).all():
        raise TeacherError("rendered audio is empty or not finite")
    if durations is not None:
        durations = [int(d) for d in durations]
        if len(durations) != len(tokenize(rendering.phonemes)):
            raise TeacherError(f"{len(durations)} durations for {len(tokenize(rendering.phonemes))} tokens")
        if abs(sum(durations) * HOP_LENGTH - audio.size) > HOP_LENGTH:
            raise TeacherError(
                f"durations sum to {sum(durations)} frames but the audio has {audio.size / HOP_LENGTH:.1f}"
            )
    record = {
        "id": item.id,
        "text": item.text,
        "phonemes": rendering.phonemes,
        "tags": list(item.tags),
        "voice": voice,
        "teacher": teacher.name,
        "language": rendering.language,
        "sample_rate": rendering.sample_rate_hz,
        "durations": durations,
        "edits": ops,
        "source": item.source,
    }
    return record, audio


def failure_cause(error: BaseException) -> str:
    """Short cause for the summary and ``failures.jsonl``: ``http_503``, ``timeout``, ``TagError``…"""
    if isinstance(error, TeacherError):
        if error.status is not None:
            return f"http_{error.status}"
        message = str(error).lower()
        if "timed out" in message or "time-out" in message or "timeout" in message:
            return "timeout"
        return "teacher_retryable" if error.retryable else "teacher"
    return type(error).__name__


def _worker_main(
    conn, teacher_kind: str, teacher_options: dict[str, Any], voice: str, parent_pid: int
) -> None:
    """Worker process: build the teacher once, then render items sent by the parent until None."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides how an interrupt ends a run
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    _die_with_parent()
    try:
        teacher = make_teacher(teacher_kind, **teacher_options)
        teacher.load()  # once per worker, and a broken install stops the run instead of failing each item
    except Exception as error:  # noqa: BLE001 - reported to the parent, which stops the run
        conn.send(("fatal", None, f"{type(error).__name__}: {error}"))
        return
    while True:
        if not conn.poll(1.0):
            if os.getppid() != parent_pid:  # orphaned (parent killed): stop
                return
            continue
        try:
            item = conn.recv()
        except EOFError:
            return
        if item is None:
            return
        try:
            record, audio = render_item(teacher, item, voice)
        except Exception as error:  # noqa: BLE001 - any item failure is recorded, the run goes on
            conn.send(("fail", item.id, (failure_cause(error), f"{type(error).__name__}: {error}")))
            continue
        conn.send(("ok", item.id, (record, audio)))


@dataclass(eq=False)  # identity semantics: workers are tracked in sets and dicts
class _Worker:
    process: Any
    """The spawned worker process."""
    conn: Any
    """The parent's end of its pipe."""
    in_flight: deque = field(default_factory=deque)
    """Items sent to it and not answered yet, oldest first."""


class _Pool:
    """Worker processes, each fed through its own pipe, with at most PREFETCH items in flight."""

    def __init__(self, count: int, teacher_kind: str, teacher_options: dict[str, Any], voice: str) -> None:
        import multiprocessing

        # spawn: workers never inherit the parent's threads (progress bar) or library state.
        self._context = multiprocessing.get_context("spawn")
        self._args = (teacher_kind, teacher_options, voice, os.getpid())
        self.workers: list[_Worker] = [self._start() for _ in range(count)]
        self.crashes_in_a_row = 0

    def _start(self) -> _Worker:
        parent_conn, child_conn = self._context.Pipe()
        process = self._context.Process(
            target=_worker_main, args=(child_conn, *self._args), name="steptts-data-worker", daemon=True
        )
        # A Ctrl-C while the worker is still importing would print its traceback: it is born with
        # SIGINT blocked, and ignores it once running (the parent decides how an interrupt ends a run).
        previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            process.start()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, previous)
        child_conn.close()
        return _Worker(process, parent_conn)

    def in_flight(self) -> int:
        return sum(len(w.in_flight) for w in self.workers)

    def dispatch(self, pending: deque) -> None:
        for worker in self.workers:
            while pending and len(worker.in_flight) < PREFETCH_PER_WORKER:
                item = pending.popleft()
                try:
                    worker.conn.send(item)
                except OSError:  # the worker died; collect() notices and replaces it
                    pending.appendleft(item)
                    break
                worker.in_flight.append(item)

    def collect(self, timeout_s: float) -> list[tuple[str, PlannedItem, Any]]:
        """Results that arrived within ``timeout_s``: (status, item, payload); crashes fail their items."""
        from multiprocessing.connection import wait

        waitables = {w.conn: w for w in self.workers} | {w.process.sentinel: w for w in self.workers}
        results = []
        crashed = []
        for ready in wait(list(waitables), timeout=timeout_s):
            worker = waitables[ready]
            if ready is worker.conn:
                try:
                    while worker.conn.poll():
                        status, item_id, payload = worker.conn.recv()
                        if status == "fatal":
                            raise TeacherSetupError(f"a worker could not build the teacher: {payload}")
                        item = worker.in_flight.popleft()
                        assert item.id == item_id, "worker answered out of order"
                        results.append((status, item, payload))
                        self.crashes_in_a_row = 0
                except (EOFError, OSError):
                    crashed.append(worker)
            elif not worker.process.is_alive():
                crashed.append(worker)
        for worker in dict.fromkeys(crashed):
            if worker not in self.workers:
                continue
            results += self._drain(worker)  # results it sent before it died still count
            code = worker.process.exitcode
            for item in worker.in_flight:
                results.append(("fail", item, ("worker_crash", f"worker process died (exit code {code})")))
            self.workers.remove(worker)
            self.crashes_in_a_row += 1
            if self.crashes_in_a_row > MAX_CRASHES_IN_A_ROW:
                raise TeacherSetupError(f"workers keep dying (last exit code {code}); giving up")
            self.workers.append(self._start())
        return results

    @staticmethod
    def _drain(worker: _Worker) -> list[tuple[str, PlannedItem, Any]]:
        results = []
        try:
            while worker.in_flight and worker.conn.poll():
                status, item_id, payload = worker.conn.recv()
                if status != "fatal" and worker.in_flight[0].id == item_id:
                    results.append((status, worker.in_flight.popleft(), payload))
        except (EOFError, OSError):
            pass
        return results

    def close(self, graceful: bool) -> None:
        for worker in self.workers:
            if graceful:
                try:
                    worker.conn.send(None)
                except OSError:
                    pass
        deadline = time.monotonic() + (5.0 if graceful else 0.0)
        for worker in self.workers:
            worker.process.join(max(0.0, deadline - time.monotonic()))
            if worker.process.is_alive():
                worker.process.terminate()
                worker.process.join(2.0)
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join()
            worker.conn.close()
        self.workers = []


class TeacherSetupError(StepTTSError):
    """The teacher cannot run at all (missing model, broken install): the run stops."""


# ------------------------------------------------------------------------------------------ progress


class _Progress:
    """A rich progress bar on a terminal; otherwise a status line every STATUS_EVERY_S."""

    def __init__(self, total: int, enabled: bool | None) -> None:
        if enabled is None:
            enabled = sys.stderr.isatty() and not os.environ.get("CI")
        self.total, self.done, self.failed, self.audio_s = total, 0, 0, 0.0
        self.started = time.monotonic()
        self._last_line = self.started
        self._bar = None
        if enabled and total:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self._bar = Progress(
                TextColumn("[bold]distill data"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[audio]}"),
                TextColumn("{task.fields[failed]}"),
                TimeElapsedColumn(),
                TextColumn("eta"),
                TimeRemainingColumn(),
                console=Console(stderr=True),
                transient=False,
            )
            self._task = self._bar.add_task("", total=total, audio="", failed="")
            self._bar.start()

    def advance(self, ok: bool, audio_s: float = 0.0) -> None:
        self.done += 1
        self.failed += 0 if ok else 1
        self.audio_s += audio_s
        if self._bar is not None:
            self._bar.update(
                self._task,
                advance=1,
                audio=f"{self.audio_s / 3600:.2f} h",
                failed=f"{self.failed} failed" if self.failed else "",
            )
        elif time.monotonic() - self._last_line >= STATUS_EVERY_S:
            self._last_line = time.monotonic()
            print(self.line(), file=sys.stderr, flush=True)

    def line(self) -> str:
        if not self.total:
            return "distill data: nothing to do, every planned record is already in the dataset"
        elapsed = time.monotonic() - self.started
        rate = self.done / elapsed if elapsed > 0 else 0.0
        eta = (self.total - self.done) / rate if rate > 0 else float("nan")
        return (
            f"distill data: {self.done}/{self.total} items, {self.failed} failed, "
            f"{self.audio_s / 3600:.3f} h audio, {rate:.2f} items/s, elapsed {elapsed:.0f} s, eta {eta:.0f} s"
        )

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
        print(self.line(), file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------------------ the run


class _StopFlag:
    """SIGINT/SIGTERM set the flag; a second SIGINT aborts at once."""

    def __init__(self) -> None:
        self.signal: int | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> _StopFlag:  # noqa: PYI034 - typing.Self needs Python 3.11
        for signum in (signal.SIGINT, signal.SIGTERM):
            try:
                self._previous[signum] = signal.signal(signum, self._handle)
            except ValueError:  # not the main thread: leave signals alone
                pass
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        if self.signal is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.signal = signum

    def __exit__(self, *exc: object) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)

    @property
    def stop(self) -> bool:
        return self.signal is not None


def _hours_by_tag(records: dict[str, dict]) -> dict[str, float]:
    seconds: Counter = Counter()
    for record in records.values():
        for key in record.get("tags") or ["neutral"]:
            seconds[key] += float(record.get("duration") or 0.0)
    return {key: value / 3600 for key, value in sorted(seconds.items(), key=lambda kv: -kv[1])}


def run_datagen(config: DataConfig) -> DataReport:
    """Make (or complete) the dataset in ``config.out_dir``; see the module docstring."""
    started = time.monotonic()
    if config.workers < 1:
        raise TeacherSetupError(f"--workers must be at least 1, got {config.workers}")
    if config.limit is not None and config.limit < 1:
        raise TeacherSetupError(f"--limit must be at least 1, got {config.limit}")
    teacher = make_teacher(config.teacher, **config.teacher_options)  # cheap: models load in workers
    voice = config.voice or teacher.default_voice()
    plan = load_tag_plan(config.tag_plan)
    if plan.name == "default":
        plan = fit_default_plan(plan, teacher)
    lines = read_corpus(config.texts, config.corpus)
    if config.limit is not None:
        lines = lines[: config.limit]
    items = plan_items(lines, plan, teacher, voice, config.seed)

    report = DataReport(planned=len(items))
    with DatasetWriter(config.out_dir) as writer:
        _say_what_was_there(writer, items)
        todo = deque(item for item in items if item.id not in writer.done)
        report.already_done = len(items) - len(todo)
        progress = _Progress(len(todo), config.progress)
        pool = None
        try:
            with _StopFlag() as stop:
                if todo:
                    pool = _Pool(
                        min(config.workers, len(todo)), config.teacher, config.teacher_options, voice
                    )
                    _render_all(pool, todo, writer, report, progress, stop)
                report.interrupted = stop.stop
        except KeyboardInterrupt:  # a second Ctrl-C: stop now
            report.interrupted = True
        finally:
            if pool is not None:
                pool.close(graceful=not report.interrupted)
            progress.close()
            writer.compact_failures()
        report.total_records = len(writer.done)
        report.hours_by_tag = _hours_by_tag(writer.done)
    report.wall_s = time.monotonic() - started
    return report


def _say_what_was_there(writer: DatasetWriter, items: list[PlannedItem]) -> None:
    """One line each about a repaired folder, retried failures and records of other plans."""
    repair = writer.repair
    if repair.torn_lines or repair.dropped_records or repair.removed_temp or repair.removed_orphans:
        print(
            f"distill data: recovered from an interrupted run (torn manifest line: {repair.torn_lines}, "
            f"dropped records: {repair.dropped_records}, temporary files: {repair.removed_temp}, "
            f"orphan files: {repair.removed_orphans})",
            file=sys.stderr,
        )
    planned = {item.id for item in items}
    retried = {f["id"] for f in writer.previous_failures()} & planned
    if retried:
        print(f"distill data: retrying {len(retried)} items that failed before", file=sys.stderr)
    foreign = len(set(writer.done) - planned)
    if foreign:
        # Another teacher, voice, seed, plan or corpus wrote them: they stay, and train with the rest.
        print(
            f"distill data: note: {foreign} records in {writer.dir} are not in this run's plan",
            file=sys.stderr,
        )


def _render_all(
    pool: _Pool, todo: deque, writer: DatasetWriter, report: DataReport, progress: _Progress, stop: _StopFlag
) -> None:
    """Feed the workers and write what they send back until done or stopped."""
    stop_deadline = None
    while todo or pool.in_flight():
        if stop.stop:
            if stop_deadline is None:  # first notice: dispatch nothing more, let in-flight items land
                stop_deadline = time.monotonic() + STOP_GRACE_S
                todo.clear()
            if not pool.in_flight() or time.monotonic() > stop_deadline:
                return
        else:
            pool.dispatch(todo)
        for status, item, payload in pool.collect(timeout_s=0.5):
            if status == "ok":
                record, audio = payload
                written = writer.write(record, audio)
                report.written += 1
                report.written_audio_s += written["duration"]
                progress.advance(True, written["duration"])
            else:
                cause, message = payload
                writer.record_failure(item.id, cause, message, text=item.text, tags=list(item.tags))
                report.failures[cause] += 1
                progress.advance(False)


def _cells(text: str) -> int:
    """Terminal width of ``text``: CJK tag names take two cells a character."""
    import unicodedata

    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def format_report(report: DataReport, out_dir: Path) -> str:
    """The closing summary: records, audio hours per tag, failures by cause."""
    total_h = sum(report.hours_by_tag.values()) if report.hours_by_tag else 0.0
    lines = [
        (
            f"{'interrupted' if report.interrupted else 'done'}: {report.written} records written this run "
            f"({report.written_audio_s / 3600:.3f} h audio in {report.wall_s:.0f} s), "
            f"{report.already_done} already there, {report.total_records} in {out_dir}"
        ),
    ]
    if report.hours_by_tag:
        lines.append("audio hours per tag (whole dataset):")
        width = max(_cells(key) for key in report.hours_by_tag)
        for key, hours in report.hours_by_tag.items():
            share = hours / total_h if total_h else 0.0
            lines.append(f"  {key}{' ' * (width - _cells(key))}  {hours:8.3f} h  {share:6.1%}")
    if report.failures:
        lines.append(
            f"failures this run ({sum(report.failures.values())}, see failures.jsonl; a re-run retries them):"
        )
        for cause, count in report.failures.most_common():
            lines.append(f"  {cause}: {count}")
    return "\n".join(lines)
