"""`steptts distill clone`: a few minutes of someone's recordings → a student voice of that speaker.

The stages, each resumable in the clone's work folder:

1. prepare (:mod:`distill.clone_prepare`): decode, cut at pauses, drop clipped or silent pieces;
2. transcribe: Whisper base through faster-whisper (skipped with ``--transcripts``);
3. align (:mod:`distill.clone_align`): the runtime's frontend, then each utterance warped onto the
   base voice's renderings of it, into a dataset whose other features the trainer computes as for any;
4. adapt: fine-tune the base voice's student, whose weights come from its shipped graph
   (:mod:`distill.onnx_weights`);
5. export a voice package.

With ``--teacher remote``, stages 2 and 3 read a corpus instead: the first prepared utterance is
uploaded to the Step-Audio speech API as a voice reference, that voice reads the corpus through the
data engine (:mod:`distill.clone_remote`), and the student adapts to its renders.

The work folder holds ``clone.json`` (the settings of a run whose stage 1 finished: a resumed run must
give the same), ``prepared/`` (stage 1's dataset and report), ``transcripts.jsonl`` (stage 2),
``aligned/`` (stage 3's dataset), ``adapt/`` (stage 4's checkpoints) and ``status.json``; with the
remote teacher also ``remote-voice.json`` and ``rendered/``.
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
TEACHERS = ("remote",)
"""``--teacher``: none (the recordings themselves) or the remote speech API."""
ADAPT = "adapt"
SETTINGS = "clone.json"
PREPARE_SETTINGS = "prepare-settings.json"
"""Settings of a stage 1 in progress (``prepared/`` is cleared when they change before it finishes)."""
PREPARED = "prepared"
ALIGNED = "aligned"
WORK_SUFFIX = ".clone-work"
"""Default work folder: beside the voice folder, named after it with this ending."""


class CloneError(StepTTSError, ValueError):
    """The clone's options or work folder are unusable (one line, exit 2)."""


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
    language: str | None = None
    """Language of the recordings: en or zh; None: from the transcripts' script, else Whisper's guess."""
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
    steps: int = 400
    """Adaptation steps at most (it stops earlier when the held-out loss stops improving)."""
    checkpoint_every: int = 25
    """Adaptation steps between checkpoints and held-out scores."""
    stop_after: str | None = None
    """Stop after this stage (one of :data:`STAGES`); None: run them all."""
    teacher: str | None = None
    """None: adapt on the recordings; ``remote``: on a corpus read by the API's clone of the speaker."""
    base_url: str | None = None
    """The remote speech API (``--teacher remote``)."""
    model: str = "step-tts-mini"
    """The remote speech model (``--teacher remote``)."""
    texts: Path | None = None
    """The corpus the remote voice reads (``--teacher remote``)."""
    adversarial: bool = False
    """Adapt the vocoder with the adversarial losses too (:mod:`distill.adversarial`)."""
    start_speaker: str | None = None
    """The base speaker whose row the clone starts from (None: chosen by :attr:`start_rule`)."""
    start_rule: str = "aligned"
    """How the start is chosen without :attr:`start_speaker` (``distill.clone_adapt.START_RULES``)."""

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
    language: str = "en"
    """The language the clone speaks (given or detected)."""
    transcribed: object | None = None
    """Stage 2's :class:`distill.clone_transcribe.TranscribeReport` (None: not run)."""
    remote_voice: object | None = None
    """The remote teacher's :class:`distill.clone_remote.RemoteVoice` (None: not used)."""
    adapted: object | None = None
    """Stage 4's :class:`distill.clone_adapt.AdaptResult` (None: not run)."""
    voice_dir: Path | None = None
    """The voice folder stage 5 wrote (None: not run)."""


def _check_options(config: CloneConfig) -> None:
    if config.language is not None and config.language not in LANGUAGES:
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
    if config.stop_after is not None and config.stop_after not in STAGES:
        raise CloneError(f"unknown --stop-after {config.stop_after!r}; choose one of: {', '.join(STAGES)}")
    if config.steps < 1 or config.checkpoint_every < 1:
        raise CloneError("--steps and --checkpoint-every must be at least 1")
    from distill.clone_adapt import START_RULES

    if config.start_rule not in START_RULES:
        raise CloneError(f"unknown --start-rule {config.start_rule!r}; choose one of: {', '.join(START_RULES)}")
    if config.teacher is not None:
        if config.teacher not in TEACHERS:
            raise CloneError(f"unknown --teacher {config.teacher!r}; choose one of: {', '.join(TEACHERS)}")
        if not config.base_url or config.texts is None:
            raise CloneError("--teacher remote needs --base-url (the speech API) and --texts (a corpus to read)")
        if not config.texts.is_file():
            raise CloneError(f"--texts {config.texts}: no such file")


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
        "teacher": config.teacher,
        "base_url": config.base_url,
        "model": config.model if config.teacher else None,
        "texts_sha256": sha256_file(config.texts) if config.texts else None,
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
    """The base voice (verified)."""
    from steptts.voice import load_voice

    return load_voice(config.base)


def _check_base_language(voice, language: str) -> None:
    """Refuse a base voice that does not speak the recordings' language."""
    # A voice that lists its languages (Contract 5) is read by them, else by its espeak voice.
    languages = {str(code).split("-")[0] for code in getattr(voice, "languages", None) or [voice.language]}
    wanted = {"en": {"en"}, "zh": {"zh", "cmn"}}[language]
    if not languages & wanted:
        raise CloneError(
            f"base voice '{voice.name}' does not speak {language} (it speaks "
            f"{', '.join(sorted(languages))}); choose a --base that does"
        )


def _detected_language(report: PrepareReport) -> str:
    """What Whisper hears in the first prepared utterances (up to its 30 s window)."""
    import numpy as np
    import soundfile as sf

    from distill.clone_prepare import prepared_records
    from distill.clone_transcribe import DETECT_SECONDS, detect_language

    pieces, seconds, rate_hz = [], 0.0, 22050
    for record in prepared_records(report):
        audio, rate_hz = sf.read(str(report.out_dir / record["path"]), dtype="float32")
        pieces.append(audio)
        seconds += len(audio) / rate_hz
        if seconds >= DETECT_SECONDS:
            break
    return detect_language(np.concatenate(pieces), rate_hz)


def run_clone(config: CloneConfig) -> CloneResult:
    """Run the stages (see the module docstring), each resumed from what the work folder holds.

    Raises:
        CloneError, and the errors of the stages' modules, for bad input (one line, exit 2), among
        them a base voice that does not speak the recordings' language.
    """
    _check_options(config)
    recordings, ignored = collect_recordings(list(config.audio))
    transcripts = read_transcripts_tsv(config.transcripts, recordings) if config.transcripts else None
    base = _base_voice(config)
    if config.start_speaker is not None and config.start_speaker not in base.speakers:
        raise CloneError(f"--start-speaker {config.start_speaker!r}: base voice '{base.name}' has no such "
                         f"speaker; it has: {', '.join(base.speakers)}")
    language = config.language
    if language is None and transcripts:
        from distill.asr_scores import script_language

        language = script_language(" ".join(transcripts.values()))
    if language is not None:
        _check_base_language(base, language)
    settings = _settings(config, recordings)
    _open_work_folder(config, settings)
    report = prepare(PrepareConfig(
        recordings=tuple(recordings),
        out_dir=config.work / PREPARED,
        speaker=config.voice_name,
        language=language,
        sample_rate_hz=base.sample_rate_hz,
        transcripts=transcripts,
        max_minutes=config.max_minutes,
        progress=config.progress,
    ))
    if language is None:
        language = _detected_language(report)
        _check_base_language(base, language)
    result = CloneResult(report, base.name, tuple(ignored), language=language)
    _write_json(config.work / SETTINGS, settings)
    _write_status(config, result, ["prepare"])
    if config.stop_after == "prepare":
        return result
    records, source_dir, result = _texts(config, report, transcripts, result)
    _write_status(config, result, ["prepare", "transcribe"])
    if config.stop_after == "transcribe":
        return result
    result = _align(config, base, records, source_dir, result)
    _write_status(config, result, ["prepare", "transcribe", "align"])
    if config.stop_after == "align":
        return result
    result = _adapt(config, base, result)
    _write_status(config, result, ["prepare", "transcribe", "align", "adapt"])
    if config.stop_after == "adapt":
        return result
    result = _export(config, base, result)
    _write_status(config, result, list(STAGES))
    return result


def _texts(config: CloneConfig, report: PrepareReport, transcripts: dict | None, result: CloneResult):
    """Stage 2: (records with their text, the folder of their audio, the result so far).

    The recordings with the user's transcripts or Whisper's; with the remote teacher, its renders of
    the corpus instead.
    """
    from distill.clone_prepare import prepared_records

    records = prepared_records(report)
    if config.teacher == "remote":
        from distill.clone_remote import RENDERED, render_corpus, saved_or_created_voice

        reference = records[0]
        text = reference["text"] if transcripts is not None else None
        voice = saved_or_created_voice(config.work, config.base_url, config.model,
                                       report.out_dir / reference["path"], text)
        rendered = render_corpus(voice, config.texts, config.work / RENDERED, config.progress)
        records = [record | {"voice": config.voice_name, "source": "corpus", "transcript_source": "corpus"}
                   for record in rendered]
        return records, config.work / RENDERED, replace(result, remote_voice=voice)
    if transcripts is not None:
        return records, report.out_dir, result
    from distill.clone_transcribe import transcribe

    transcribed = transcribe(records, report.out_dir, config.work, result.language, config.progress)
    records = [record | {"text": transcribed.transcripts[record["id"]], "transcript_source": "whisper"}
               for record in records if record["id"] in transcribed.transcripts]
    return records, report.out_dir, replace(result, transcribed=transcribed)


def _align(config: CloneConfig, base, records: list[dict], source_dir: Path, result: CloneResult) -> CloneResult:
    """Stage 3 on transcribed utterances: the base student from its graph; each utterance warped onto
    the base speakers' renderings of it into ``aligned/`` (:mod:`distill.clone_align`)."""
    from distill.clone_align import Frontend, align_records
    from distill.onnx_weights import student_from_graph
    from steptts.voice import sha256_file

    graph = base.model_path("fp32")
    student = student_from_graph(graph, base.sample_rate_hz, base.hop_length).student
    frontend = Frontend.of_voice(base, result.language)
    aligned, skipped = align_records(
        records, source_dir, config.work / ALIGNED, student, frontend, base.speakers, sha256_file(graph),
    )
    return replace(result, aligned=len(aligned), aligned_dir=config.work / ALIGNED,
                   align_skipped=tuple(skipped))


def _adapt_config(config: CloneConfig, base):
    from distill.clone_adapt import AdaptConfig

    return AdaptConfig(
        data_dir=config.work / ALIGNED, run_dir=config.work / ADAPT, speaker=config.voice_name,
        base=str(base.path), max_steps=config.steps, speaker_steps=min(60, max(1, config.steps // 5)),
        eval_every=config.checkpoint_every, checkpoint_every=config.checkpoint_every, progress=config.progress,
        adversarial=config.adversarial, start_speaker=config.start_speaker, start_rule=config.start_rule,
    )


def _adapt(config: CloneConfig, base, result: CloneResult) -> CloneResult:
    """Stage 4: fine-tune the base student on ``aligned/`` (resumed from its checkpoint)."""
    from distill.clone_adapt import adapt

    return replace(result, adapted=adapt(_adapt_config(config, base), resume=True))


def _export(config: CloneConfig, base, result: CloneResult) -> CloneResult:
    """Stage 5: the voice package, with the clone's provenance."""
    from distill.clone_adapt import BEST
    from distill.clone_export import clone_provenance, export_clone

    report, adapted = result.prepared, result.adapted
    sources = [{"file": Path(source.path).name, "sha256": source.sha256, "minutes": round(source.kept_s / 60, 3)}
               for source in report.sources]
    if config.teacher == "remote":
        teacher, transcripts = f"remote:{config.model}", "teacher"
        extra = {"remote_voice": {"id": result.remote_voice.voice_id, "base_url": result.remote_voice.base_url,
                                  "model": config.model}, "corpus": str(config.texts)}
    else:
        teacher, transcripts = "user-audio", "tsv" if config.transcripts else "whisper"
        extra = {}
    figures = {"train_utterances": adapted.train_utterances, "val_utterances": adapted.val_utterances,
               "steps_run": adapted.steps, "best_step": adapted.best_step,
               "first_val_loss": round(adapted.first_val_loss, 4),
               "best_val_loss": round(adapted.best_val_loss, 4), "stopped_early": adapted.stopped_early}
    minutes = (adapted.train_s + adapted.val_s) / 60
    provenance = clone_provenance(
        teacher=teacher, base=base, sources=sources, minutes_used=minutes, steps=adapted.best_step,
        transcripts=transcripts, adapt=figures, extra=extra,
    )
    export_clone(config.work / ADAPT / BEST, config.out, config.voice_name, base, provenance)
    return replace(result, voice_dir=config.out)


def _write_status(config: CloneConfig, result: CloneResult, stages_done: list[str]) -> None:
    options = {key: str(value) if isinstance(value, Path) else value for key, value in asdict(config).items()}
    status = {"stages_done": stages_done, "base_voice": result.base_voice, "language": result.language,
              "options": options, "aligned": result.aligned,
              "align_skipped": [list(pair) for pair in result.align_skipped]}
    if result.transcribed is not None:
        status["transcribed"] = len(result.transcribed.transcripts)
        status["transcripts_empty"] = [list(piece) for piece in result.transcribed.empty]
    if result.remote_voice is not None:
        status["remote_voice"] = asdict(result.remote_voice)
    if result.adapted is not None:
        status["adapt"] = asdict(result.adapted)
    if result.voice_dir is not None:
        status["voice"] = str(result.voice_dir)
    _write_json(config.work / "status.json", status)
