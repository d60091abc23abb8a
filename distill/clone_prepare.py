"""Clone stage 1, prepare: a user's recordings → checked utterances at the base voice's rate, resumable.

Each recording is decoded and downmixed (:mod:`distill.recordings`), its speech found, and cut at
pauses into utterances: stretches of speech (at most ``MAX_STRETCH_S``) joined up to
:data:`MAX_UTTERANCE_S` (with ``transcripts``, each recording stays one utterance: its transcript
covers all of it). A piece is dropped, and the report says why, when it is clipped, too quiet, too
short, beyond ``--max-minutes``, or when its whole recording is noise or music. What is kept is
resampled to the base voice's rate, brought to a common loudness, and written as a dataset
(``manifest.jsonl`` + FLAC, :class:`distill.dataset_store.DatasetWriter`): atomic, and a SIGKILL loses at
most the recording in progress. ``sources.jsonl`` records each finished recording (name, sha256,
what was kept and dropped); a resumed run skips those and gives the same folder.

Bad input stops the stage with one line: no recordings (:class:`NoAudioError`), less usable speech
than :data:`MIN_SPEECH_S` (:class:`TooLittleSpeechError`), only noise or music
(:class:`NotSpeechError`), unsupported or corrupt files (:class:`distill.recordings.RecordingError`),
transcripts that do not match the recordings (:class:`TranscriptError`).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from distill.dataset_store import DatasetWriter, read_manifest
from distill.recordings import (
    AUDIO_SUFFIXES,
    MIN_SPEECH_SHARE,
    RecordingError,
    SpeechMap,
    read_recording,
    resample,
    speech_segments,
)
from distill.stage_progress import StageBar
from steptts.errors import StepTTSError
from steptts.voice import sha256_file

PREPARE_VERSION = 1
"""Bumped when the cutting or the checks change; utterance ids include it."""
MIN_SPEECH_S = 60.0
"""The least usable speech a clone starts from: 1 minute."""
MAX_UTTERANCE_S = 12.0
"""Neighbouring stretches of speech are joined into utterances up to this length."""
JOIN_GAP_S = 1.0
"""…when the pause between them is at most this long."""
MIN_UTTERANCE_S = 1.0
"""A shorter piece is dropped (too little context to align)."""
MAX_TRANSCRIBED_S = 30.0
"""With transcripts, each recording is one utterance, at most this long."""
CLIP_LEVEL = 0.99
"""A sample at or above this magnitude (full scale 1.0) counts as clipped."""
MAX_CLIPPED_SHARE = 0.001
"""A piece with more clipped samples than this share is dropped."""
MIN_LEVEL_DBFS = -45.0
"""A piece whose RMS is below this (dB full scale) is dropped as silent."""
TARGET_LEVEL_DBFS = -20.0
"""Kept pieces are scaled to this RMS, unless their peak would pass :data:`PEAK_CEILING`."""
PEAK_CEILING = 0.95
CHARS_PER_SPEECH_S = {"en": (4.0, 40.0), "zh": (1.0, 15.0)}
"""Plausible characters of transcript per second of speech; outside, the transcript is not this audio's."""
SOURCES = "sources.jsonl"
REPORT = "prepare.json"
TEACHER = "user-audio"
"""The dataset's ``teacher`` field: the speaker's own recordings."""


class NoAudioError(StepTTSError, ValueError):
    """No recordings were given, or the folders given hold none."""


class TooLittleSpeechError(StepTTSError, ValueError):
    """Less usable speech than :data:`MIN_SPEECH_S`."""


class NotSpeechError(StepTTSError, ValueError):
    """The recordings hold sound, but next to none of it is speech: noise or music."""


class TranscriptError(StepTTSError, ValueError):
    """The transcripts file cannot be read or does not match the recordings."""


@dataclass(frozen=True)
class PrepareConfig:
    """What stage 1 needs."""

    recordings: tuple[Path, ...]
    """Audio files in the order they are used (see :func:`collect_recordings`)."""
    out_dir: Path
    """Dataset folder of the prepared utterances (created; an interrupted one is completed)."""
    speaker: str
    """Speaker name written into each record (``voice``)."""
    language: str | None
    """``en`` or ``zh``: the language of the recordings; None: not known yet (only without transcripts)."""
    sample_rate_hz: int = 22050
    """Rate of the utterances written: the base voice's."""
    transcripts: dict[Path, str] | None = None
    """Recording → its transcript, or None to transcribe later."""
    max_minutes: float | None = None
    """Stop keeping utterances once this many minutes are kept (in recording order)."""
    progress: bool | None = None
    """Rich progress bar; default: when stderr is a terminal and not under CI."""


@dataclass(frozen=True)
class Dropped:
    """A piece of a recording left out."""

    source: str
    """The recording's file name."""
    start_s: float
    """Start in the recording, seconds."""
    end_s: float
    """End in the recording, seconds."""
    reason: str
    """Why, in a few words (``clipped``, ``silent``, ``too short``, ``noise or music``, …)."""


@dataclass
class SourceSummary:
    """One prepared recording, as ``sources.jsonl`` holds it."""

    path: str
    """The file as given (absolute)."""
    sha256: str
    """Hex digest of the file's bytes."""
    duration_s: float
    """Length in seconds."""
    sample_rate_hz: int
    """The file's own rate."""
    channels: int
    """Channels before the downmix."""
    speech_s: float
    """Seconds the detector took for speech."""
    sound_s: float
    """Seconds above the sound floor, speech or not."""
    kept_ids: list[str] = field(default_factory=list)
    """Record ids of the utterances kept, in order."""
    kept_s: float = 0.0
    """Seconds of audio kept."""
    dropped: list[Dropped] = field(default_factory=list)
    """Pieces left out, and why."""
    version: int = PREPARE_VERSION
    """:data:`PREPARE_VERSION` that made it (an entry of another version is redone)."""


@dataclass
class PrepareReport:
    """What stage 1 did: per recording, and in all."""

    sources: list[SourceSummary]
    """Every recording, in order."""
    out_dir: Path
    """The prepared dataset."""

    @property
    def kept(self) -> int:
        """Utterances kept."""
        return sum(len(source.kept_ids) for source in self.sources)

    @property
    def kept_s(self) -> float:
        """Seconds of audio kept."""
        return sum(source.kept_s for source in self.sources)

    @property
    def dropped(self) -> list[Dropped]:
        return [piece for source in self.sources for piece in source.dropped]

    def dropped_by_reason(self) -> dict[str, tuple[int, float]]:
        """Reason → (pieces, seconds)."""
        counts: Counter = Counter()
        seconds: Counter = Counter()
        for piece in self.dropped:
            counts[piece.reason] += 1
            seconds[piece.reason] += piece.end_s - piece.start_s
        return {reason: (counts[reason], seconds[reason]) for reason in counts}

    def to_json(self) -> dict:
        return {
            "kept_utterances": self.kept,
            "kept_s": round(self.kept_s, 3),
            "min_speech_s": MIN_SPEECH_S,
            "dropped_by_reason": {k: {"pieces": n, "seconds": round(s, 3)} for k, (n, s) in
                                  self.dropped_by_reason().items()},
            "sources": [asdict(source) for source in self.sources],
        }

    def format(self) -> str:
        """A few lines for the terminal."""
        lines = [(
            f"prepare: {len(self.sources)} recordings, {self.kept} utterances kept "
            f"({self.kept_s / 60:.1f} min) in {self.out_dir}"
        )]
        for reason, (count, seconds) in sorted(self.dropped_by_reason().items()):
            lines.append(f"  dropped {count} pieces ({seconds:.1f} s): {reason}")
        return "\n".join(lines)


# ------------------------------------------------------------------------------------------ inputs


def collect_recordings(paths: list[str | Path]) -> tuple[list[Path], list[Path]]:
    """The recordings named by files and folders (folders searched recursively, sorted), and the
    files inside folders that were passed over as not audio.

    Raises:
        NoAudioError: no path, or no recording among them.
        RecordingError: a path that does not exist, or a file given by name that is not audio.
    """
    if not paths:
        raise NoAudioError("no recordings given: pass --audio with audio files or folders of them")
    found: list[Path] = []
    ignored: list[Path] = []
    for given in paths:
        path = Path(given).expanduser()
        if path.is_dir():
            for candidate in sorted(path.rglob("*")):
                if not candidate.is_file() or candidate.name.startswith("."):
                    continue
                (found if candidate.suffix.lower() in AUDIO_SUFFIXES else ignored).append(candidate)
        elif path.is_file():
            if path.suffix.lower() not in AUDIO_SUFFIXES:
                raise RecordingError(
                    f"{path}: unsupported file type '{path.suffix or '(none)'}'; recordings are "
                    f"{', '.join(AUDIO_SUFFIXES)}"
                )
            found.append(path)
        else:
            raise RecordingError(f"{path}: no such file or folder")
    unique = list(dict.fromkeys(path.resolve() for path in found))
    if not unique:
        raise NoAudioError(
            f"no recordings in {', '.join(str(p) for p in paths)} (looked for {', '.join(AUDIO_SUFFIXES)})"
        )
    return unique, ignored


def read_transcripts(tsv: str | Path, recordings: list[Path]) -> dict[Path, str]:
    """Recording → transcript from a TSV of ``name<TAB>text`` lines (``#`` comments, blank lines skipped).

    ``name`` is a recording's file name, with or without its ending.

    Raises:
        TranscriptError: unreadable file, a malformed or empty line, a name given twice, a name that
            is no recording, a name that fits two recordings, or a recording without a transcript.
    """
    tsv = Path(tsv)
    try:
        lines = tsv.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise TranscriptError(f"cannot read transcripts {tsv}: {error}") from None
    by_key: dict[str, list[Path]] = {}
    for recording in recordings:
        for key in {recording.name, recording.stem}:
            by_key.setdefault(key, []).append(recording)
    transcripts: dict[Path, str] = {}
    for number, line in enumerate(lines, start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, tab, text = line.partition("\t")
        name, text = name.strip(), " ".join(text.split())
        if not tab or not name or not text:
            raise TranscriptError(
                f"{tsv} line {number}: expected 'file name<TAB>transcript', got {line[:60]!r}"
            )
        matches = by_key.get(name, [])
        if not matches:
            raise TranscriptError(f"{tsv} line {number}: '{name}' is not among the recordings given")
        if len(matches) > 1:
            raise TranscriptError(
                f"{tsv} line {number}: '{name}' fits {len(matches)} recordings; rename them"
            )
        if matches[0] in transcripts:
            raise TranscriptError(f"{tsv} line {number}: a second transcript for '{matches[0].name}'")
        transcripts[matches[0]] = text
    missing = [recording.name for recording in recordings if recording not in transcripts]
    if missing:
        raise TranscriptError(
            f"{tsv} has no transcript for {len(missing)} of {len(recordings)} recordings, e.g. {missing[0]}"
        )
    return transcripts


# ------------------------------------------------------------------------------------------ cutting


def utterance_spans(speech: SpeechMap, duration_s: float, whole: bool) -> list[tuple[float, float]]:
    """(start, end) seconds of the utterances of one recording.

    Neighbouring stretches join while the pause is at most :data:`JOIN_GAP_S` and the result at most
    :data:`MAX_UTTERANCE_S`; with ``whole``, one span from the first speech to the last.
    """
    segments = [(max(0.0, start), min(duration_s, end)) for start, end in speech.segments_s]
    if not segments:
        return []
    if whole:
        return [(segments[0][0], segments[-1][1])]
    spans = [segments[0]]
    for start, end in segments[1:]:
        first, last = spans[-1]
        if start - last <= JOIN_GAP_S and end - first <= MAX_UTTERANCE_S:
            spans[-1] = (first, end)
        else:
            spans.append((start, end))
    return spans


def check_piece(samples: np.ndarray, duration_s: float, min_s: float = MIN_UTTERANCE_S) -> str | None:
    """Why a piece (float32 [S]) must be dropped, or None to keep it."""
    if duration_s < min_s:
        return f"too short (under {min_s:g} s)"
    clipped = float(np.mean(np.abs(samples) >= CLIP_LEVEL))
    if clipped > MAX_CLIPPED_SHARE:
        return f"clipped (over {100 * MAX_CLIPPED_SHARE:g}% of samples at full scale)"
    rms = float(np.sqrt(np.mean(samples.astype(np.float64) ** 2)))
    if rms <= 10.0 ** (MIN_LEVEL_DBFS / 20.0):
        return f"silent (under {MIN_LEVEL_DBFS:g} dBFS)"
    return None


def level(samples: np.ndarray) -> tuple[np.ndarray, float]:
    """The piece scaled to :data:`TARGET_LEVEL_DBFS` RMS (peak at most :data:`PEAK_CEILING`); gain in dB."""
    rms = float(np.sqrt(np.mean(samples.astype(np.float64) ** 2)))
    peak = float(np.max(np.abs(samples)))
    gain = min(10.0 ** (TARGET_LEVEL_DBFS / 20.0) / max(rms, 1e-9), PEAK_CEILING / max(peak, 1e-9))
    return (samples * gain).astype(np.float32), 20.0 * float(np.log10(gain))


def utterance_id(source_sha256: str, start_s: float, end_s: float) -> str:
    """sha256 of the recording's digest, the span (ms) and :data:`PREPARE_VERSION`."""
    key = f"{source_sha256}:{round(start_s * 1000)}:{round(end_s * 1000)}:{PREPARE_VERSION}"
    return hashlib.sha256(key.encode()).hexdigest()


def check_transcript(name: str, text: str, speech_s: float, language: str) -> None:
    """A transcript far too long or too short for its speech belongs to another recording."""
    low, high = CHARS_PER_SPEECH_S[language]
    rate = len(text) / max(speech_s, 1e-3)
    if not low <= rate <= high:
        raise TranscriptError(
            f"the transcript of {name} has {len(text)} characters for {speech_s:.1f} s of speech "
            f"({rate:.1f}/s, expected {low:g}–{high:g}): it does not match the audio"
        )


# ------------------------------------------------------------------------------------------ the stage


def _prepare_recording(
    path: Path, config: PrepareConfig, writer: DatasetWriter, budget_s: float | None
) -> SourceSummary:
    """Cut, check and write one recording; ``budget_s`` is the speech still allowed (None: no cap)."""
    digest = sha256_file(path)
    recording = read_recording(path)
    speech = speech_segments(recording.samples, recording.sample_rate_hz)
    summary = SourceSummary(
        path=str(path), sha256=digest, duration_s=round(recording.duration_s, 3),
        sample_rate_hz=recording.sample_rate_hz, channels=recording.channels,
        speech_s=round(speech.speech_s, 3), sound_s=round(speech.sound_s, 3),
    )
    transcript = config.transcripts.get(path) if config.transcripts else None
    # Sound that is mostly not speech is noise or music; a minute of speech in it is a voice all the same.
    mostly_not_speech = speech.speech_share < MIN_SPEECH_SHARE and speech.speech_s < MIN_SPEECH_S
    if speech.sound_s >= MIN_UTTERANCE_S and mostly_not_speech:
        reason = f"noise or music (speech in {100 * min(speech.speech_share, 1.0):.0f}% of its sound)"
        summary.dropped.append(Dropped(path.name, 0.0, summary.duration_s, reason))
        return summary
    if transcript is not None:
        if speech.speech_s == 0.0:
            raise TranscriptError(f"{path.name} has a transcript but no speech")
        check_transcript(path.name, transcript, speech.speech_s, config.language)
    spans = utterance_spans(speech, recording.duration_s, whole=transcript is not None)
    if transcript is not None and spans[0][1] - spans[0][0] > MAX_TRANSCRIBED_S:
        raise TranscriptError(
            f"{path.name} speaks for {spans[0][1] - spans[0][0]:.0f} s: with --transcripts each recording is "
            f"one utterance of at most {MAX_TRANSCRIBED_S:g} s (cut it, or leave out --transcripts)"
        )
    if not spans:
        summary.dropped.append(Dropped(path.name, 0.0, summary.duration_s, "no speech found"))
    rate_hz = config.sample_rate_hz
    audio = resample(recording.samples, recording.sample_rate_hz, rate_hz)
    for start_s, end_s in spans:
        piece = audio[int(start_s * rate_hz): int(end_s * rate_hz)]
        reason = check_piece(piece, end_s - start_s)
        if reason is None and budget_s is not None and summary.kept_s >= budget_s:
            reason = "beyond --max-minutes"
        if reason is not None:
            summary.dropped.append(Dropped(path.name, round(start_s, 3), round(end_s, 3), reason))
            continue
        leveled, gain_db = level(piece)
        record = writer.write(
            {
                "id": utterance_id(digest, start_s, end_s), "text": transcript, "phonemes": None, "tags": [],
                "voice": config.speaker, "teacher": TEACHER, "language": config.language,
                "sample_rate": rate_hz, "durations": None, "edits": [],
                "source": path.name, "source_sha256": digest, "start_s": round(start_s, 3),
                "end_s": round(end_s, 3), "gain_db": round(gain_db, 2),
                "transcript_source": "user" if transcript is not None else None,
            },
            leveled,
        )
        summary.kept_ids.append(record["id"])
        summary.kept_s = round(summary.kept_s + record["duration"], 3)
    return summary


def _read_sources(path: Path) -> dict[str, SourceSummary]:
    """Finished recordings of an earlier run, by path (a torn last line is ignored)."""
    done: dict[str, SourceSummary] = {}
    if not path.exists():
        return done
    for line in path.read_bytes().split(b"\n"):
        try:
            entry = json.loads(line)
            entry["dropped"] = [Dropped(**piece) for piece in entry["dropped"]]
            summary = SourceSummary(**entry)
        except (ValueError, TypeError, KeyError):
            continue
        if summary.version == PREPARE_VERSION:
            done[summary.path] = summary
    return done


def append_line(path: Path, entry: dict) -> None:
    """One write of one line on an O_APPEND descriptor, then fsync: a crash tears at most this line."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        line = (json.dumps(entry, ensure_ascii=False) + "\n").encode("utf-8")
        if os.write(fd, line) != len(line):
            raise OSError("short write")
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_json_atomically(path: Path, payload: dict) -> None:
    temp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    temp.write_text(json.dumps(payload, ensure_ascii=False, indent=1), encoding="utf-8")
    os.replace(temp, path)


def check_enough_speech(report: PrepareReport) -> None:
    """Refuse recordings with too little usable speech, or with sound that is not speech.

    Raises:
        NotSpeechError: under the minimum, and the sound heard is less than
            :data:`distill.recordings.MIN_SPEECH_SHARE` speech.
        TooLittleSpeechError: under :data:`MIN_SPEECH_S` of kept speech.
    """
    if report.kept_s >= MIN_SPEECH_S:
        return
    sound_s = sum(source.sound_s for source in report.sources)
    speech_s = sum(source.speech_s for source in report.sources)
    if sound_s >= MIN_UTTERANCE_S and speech_s < MIN_SPEECH_SHARE * sound_s:
        raise NotSpeechError(
            f"the recordings hold {sound_s:.0f} s of sound but only {speech_s:.1f} s of speech "
            f"({100 * speech_s / sound_s:.0f}%): noise or music, not a voice to clone"
        )
    dropped = "; ".join(
        f"{count} dropped as {reason} ({seconds:.0f} s)"
        for reason, (count, seconds) in sorted(report.dropped_by_reason().items())
    )
    raise TooLittleSpeechError(
        f"only {report.kept_s:.1f} s of usable speech in {len(report.sources)} recordings; a clone needs "
        f"at least {MIN_SPEECH_S:g} s (MIN_SPEECH_S)" + (f" ({dropped})" if dropped else "")
    )


def prepare(config: PrepareConfig) -> PrepareReport:
    """Run stage 1 (see the module docstring); resumable, and idempotent on the same inputs.

    Returns the report, also written to ``out_dir/prepare.json``.

    Raises:
        RecordingError, TranscriptError, NotSpeechError, TooLittleSpeechError: see the module docstring.
    """
    if config.language is not None and config.language not in CHARS_PER_SPEECH_S:
        raise StepTTSError(
            f"unknown language {config.language!r}; choose one of: {', '.join(CHARS_PER_SPEECH_S)}"
        )
    budget_s = None if config.max_minutes is None else 60.0 * config.max_minutes
    config.out_dir.mkdir(parents=True, exist_ok=True)
    sources_path = config.out_dir / SOURCES
    done = _read_sources(sources_path)
    summaries: list[SourceSummary] = []
    with StageBar("clone: prepare", len(config.recordings), enabled=config.progress) as bar, \
            DatasetWriter(config.out_dir) as writer:
        for path in config.recordings:
            bar.update(info=path.name)
            summary = done.get(str(path))
            if summary is None or summary.sha256 != sha256_file(path):
                kept_s = sum(s.kept_s for s in summaries)
                remaining = None if budget_s is None else max(0.0, budget_s - kept_s)
                summary = _prepare_recording(path, config, writer, remaining)
                append_line(sources_path, asdict(summary))
            summaries.append(summary)
            bar.update(advance=1, info=f"{sum(s.kept_s for s in summaries) / 60:.1f} min kept")
    report = PrepareReport(summaries, config.out_dir)
    _write_json_atomically(config.out_dir / REPORT, report.to_json())
    check_enough_speech(report)
    return report


def prepared_records(report: PrepareReport) -> list[dict]:
    """The kept utterances' records, in recording order (paths relative to the prepared folder)."""
    by_id = {record["id"]: record for record in read_manifest(report.out_dir)}
    return [by_id[record_id] for source in report.sources for record_id in source.kept_ids]
