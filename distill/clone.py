"""`steptts distill clone`: a few minutes of someone's recordings → a student voice of that speaker.

The stages, each resumable in the clone's work folder:

1. prepare (:mod:`distill.clone_prepare`): decode, cut at pauses, drop clipped or silent pieces;
2. transcribe: Whisper base through faster-whisper (skipped with ``--transcripts``);
3. align (:mod:`distill.clone_align`): the runtime's frontend, then monotonic alignment search on the
   data engine's log-mel, into a dataset whose other features the trainer computes as for any;
4. adapt: fine-tune the base voice's student, whose weights come from its shipped graph
   (:mod:`distill.onnx_weights`);
5. export a voice package.

This version builds stage 1, and stage 3 for English recordings with ``--transcripts``; stages
2, 4 and 5 stop the run with :class:`StageNotBuiltError` after the stages before have saved their work.

The work folder holds ``clone.json`` (the settings of a run whose stage 1 finished: a resumed run must
give the same), ``prepared/`` (stage 1's dataset and report), ``aligned/`` (stage 3's dataset) and
``status.json``.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from distill.clone_prepare import MIN_SPEECH_S, PrepareConfig, PrepareReport, collect_recordings, prepare
from distill.clone_prepare import read_transcripts as read_transcripts_tsv
from steptts.errors import StepTTSError

LANGUAGES = ("en", "zh")
"""Languages a clone may speak (``--language``)."""
STAGES = ("prepare", "transcribe", "align", "adapt", "export")
SETTINGS = "clone.json"
PREPARE_SETTINGS = "prepare-settings.json"
"""Settings of a stage 1 in progress (``prepared/`` is cleared when they change before it finishes)."""
PREPARED = "prepared"
ALIGNED = "aligned"
WORK_SUFFIX = ".clone-work"
"""Default work folder: beside the voice folder, named after it with this ending."""


class CloneError(StepTTSError, ValueError):
    """The clone's options or work folder are unusable (one line, exit 2)."""


class StageNotBuiltError(StepTTSError):
    """A stage that this version of steptts does not have yet (exit 3: nothing the user did wrong)."""

    def __init__(self, message: str, result: CloneResult | None = None) -> None:
        super().__init__(message)
        self.result = result
        """What the stages before it did."""


@dataclass(frozen=True)
class CloneConfig:
    """The options of ``steptts distill clone``."""

    audio: tuple[str, ...]
    """Recordings: audio files and folders of them."""
    out: Path
    """The voice folder to write, e.g. ``voices/NAME``."""
    name: str | None = None
    """Voice and speaker name (default: the folder's name)."""
    transcripts: Path | None = None
    """TSV of ``file name<TAB>transcript``; without it the recordings are transcribed."""
    language: str = "en"
    """Language of the recordings: en or zh."""
    base: str | None = None
    """Voice to adapt (name or folder); the default voice when None."""
    max_minutes: float | None = None
    """Use at most this many minutes of speech."""
    resume: bool = False
    """Continue the run in the work folder."""
    work_dir: Path | None = None
    """Work folder (default: ``out`` + :data:`WORK_SUFFIX`)."""
    progress: bool | None = None
    """Progress bars (default: on a terminal)."""

    @property
    def voice_name(self) -> str:
        return self.name or self.out.name

    @property
    def work(self) -> Path:
        return self.work_dir or self.out.with_name(self.out.name + WORK_SUFFIX)


@dataclass(frozen=True)
class CloneResult:
    """What a run did."""

    prepared: PrepareReport
    """Stage 1's report."""
    base_voice: str
    """Name of the base voice (verified; stage 4 rebuilds its student with :mod:`distill.onnx_weights`)."""
    ignored: tuple[Path, ...] = ()
    """Files inside the folders given that are not recordings (passed over)."""
    aligned: int | None = None
    """Utterances aligned by stage 3 (None: not run)."""
    aligned_dir: Path | None = None
    """Stage 3's dataset (contract 4, with durations)."""
    align_skipped: tuple[tuple[str, str], ...] = ()
    """(recording, reason) of utterances stage 3 left out."""


def _check_options(config: CloneConfig) -> None:
    if config.language not in LANGUAGES:
        raise CloneError(f"unknown --language {config.language!r}; choose one of: {', '.join(LANGUAGES)}")
    if config.max_minutes is not None and 60.0 * config.max_minutes < MIN_SPEECH_S:
        raise CloneError(
            f"--max-minutes {config.max_minutes:g} is under the minimum of {MIN_SPEECH_S / 60:g} minute "
            "of speech (MIN_SPEECH_S)"
        )
    if (config.out / "voice.json").exists():
        raise CloneError(f"{config.out} already holds a voice; choose another --out")
    if not config.voice_name.strip() or "/" in config.voice_name:
        raise CloneError(f"--name {config.voice_name!r} is not a usable voice name")


def _settings(config: CloneConfig, recordings: list[Path]) -> dict:
    """What decides the run's results; a resumed run must match it."""
    from steptts.voice import sha256_file

    return {
        "recordings": [str(path) for path in recordings],
        "transcripts_sha256": sha256_file(config.transcripts) if config.transcripts else None,
        "language": config.language,
        "base": config.base,
        "max_minutes": config.max_minutes,
        "name": config.voice_name,
    }


def _write_json(path: Path, payload: dict) -> None:
    """Write JSON atomically (a temporary file, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    temp.write_text(json.dumps(payload, ensure_ascii=False, indent=1), encoding="utf-8")
    os.replace(temp, path)


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as error:
        raise CloneError(f"cannot read {path}: {error}") from None


def _open_work_folder(config: CloneConfig, settings: dict) -> None:
    """Check a finished stage 1 against these settings, and clear a partial one made with others.

    Once stage 1 has finished, ``clone.json`` holds its settings: continuing needs ``--resume`` and
    the same settings. Before that, ``prepared/`` is a cache of derived audio keyed by content (the
    recordings stay where they are): the same command completes it, other settings start it anew.
    """
    started = _read_json(config.work / SETTINGS)
    if started is not None:
        if not config.resume:
            raise CloneError(
                f"{config.work} holds a clone run already: add --resume to continue it, or remove the folder"
            )
        changed = sorted(key for key in settings if started.get(key) != settings[key])
        if changed:
            raise CloneError(
                f"{config.work} was started with other {', '.join(changed)}: run the same command, "
                "or remove the folder to start anew"
            )
        return
    partial = _read_json(config.work / PREPARE_SETTINGS)
    if partial is not None and partial != settings:
        shutil.rmtree(config.work / PREPARED, ignore_errors=True)
    _write_json(config.work / PREPARE_SETTINGS, settings)


def _base_voice(config: CloneConfig):
    """The base voice (verified); refuses a voice that does not speak the recordings' language."""
    from steptts.voice import load_voice

    voice = load_voice(config.base)
    # A voice that lists its languages (Contract 5) is read by them, else by its espeak voice.
    languages = {str(code).split("-")[0] for code in getattr(voice, "languages", None) or [voice.language]}
    wanted = {"en": {"en"}, "zh": {"zh", "cmn"}}[config.language]
    if not languages & wanted:
        raise CloneError(
            f"base voice '{voice.name}' does not speak {config.language} (it speaks "
            f"{', '.join(sorted(languages))}); choose a --base that does"
        )
    return voice


def run_clone(config: CloneConfig) -> CloneResult:
    """Run the stages this version has (see the module docstring).

    Raises:
        CloneError, and the errors of :func:`distill.clone_prepare.prepare`, for bad input;
        StageNotBuiltError once stage 1 is done, naming the first stage this version lacks.
    """
    _check_options(config)
    recordings, ignored = collect_recordings(list(config.audio))
    transcripts = read_transcripts_tsv(config.transcripts, recordings) if config.transcripts else None
    base = _base_voice(config)
    settings = _settings(config, recordings)
    _open_work_folder(config, settings)
    report = prepare(PrepareConfig(
        recordings=tuple(recordings),
        out_dir=config.work / PREPARED,
        speaker=config.voice_name,
        language=config.language,
        sample_rate_hz=base.sample_rate_hz,
        transcripts=transcripts,
        max_minutes=config.max_minutes,
        progress=config.progress,
    ))
    result = CloneResult(report, base.name, tuple(ignored))
    _write_json(config.work / SETTINGS, settings)
    _write_status(config, result, ["prepare"])
    if transcripts is None:
        raise _not_built("transcribe", result)
    result = _align(config, base, report, result)
    _write_status(config, result, ["prepare", "align"])
    raise _not_built("adapt", result)


def _not_built(stage: str, result: CloneResult) -> StageNotBuiltError:
    report = result.prepared
    done = f"{report.kept} utterances, {report.kept_s / 60:.1f} min of speech in {report.out_dir}"
    if result.aligned is not None:
        done += f"; aligned {result.aligned} of them in {result.aligned_dir}"
    return StageNotBuiltError(
        f"stage {STAGES.index(stage) + 1} of {len(STAGES)} ({stage}) is not implemented in this version; "
        f"done so far: {done}; base voice '{result.base_voice}'",
        result,
    )


def _align(config: CloneConfig, base, report: PrepareReport, result: CloneResult) -> CloneResult:
    """Stage 3 on transcribed utterances: the base student from its graph, its alignment projection
    fitted back, then monotonic alignment search into ``aligned/``."""
    from distill.clone_align import Frontend, align_records, fit_alignment_projection
    from distill.clone_prepare import prepared_records
    from distill.onnx_weights import student_from_graph
    from steptts.voice import sha256_file

    if config.language != "en":
        raise _not_built("align", result)  # the Mandarin frontend is not wired into cloning yet
    graph = base.model_path("fp32")
    student = student_from_graph(graph, base.sample_rate_hz, base.hop_length).student
    frontend = Frontend(base.phoneme_vocab, base.language, base.phoneme_substitutions)
    fit = fit_alignment_projection(student, frontend)
    aligned, skipped = align_records(
        prepared_records(report), report.out_dir, config.work / ALIGNED, student, frontend,
        fit.reference_mean, sha256_file(graph),
    )
    return replace(result, aligned=len(aligned), aligned_dir=config.work / ALIGNED,
                   align_skipped=tuple(skipped))


def _write_status(config: CloneConfig, result: CloneResult, stages_done: list[str]) -> None:
    options = {key: str(value) if isinstance(value, Path) else value for key, value in asdict(config).items()}
    status = {"stages_done": stages_done, "base_voice": result.base_voice, "options": options,
              "aligned": result.aligned, "align_skipped": [list(pair) for pair in result.align_skipped]}
    _write_json(config.work / "status.json", status)
