"""Clone stage 2, transcribe: each prepared utterance → what Whisper base hears in it, resumable.

The transcriber is the evaluation's own judge (:class:`distill.whisper_judge.WhisperJudge`: Whisper
base on faster-whisper, deterministic decoding), in the language given or the one it detects
(:func:`detect_language`). Each transcript is appended to ``transcripts.jsonl`` in the work folder
as soon as it is made (one write and an fsync per line, :func:`distill.clone_prepare.append_line`),
so a SIGKILL loses at most the utterance in progress and a resumed run transcribes only the rest.

An utterance Whisper returns empty for (breath, a cough, a word it cannot make out) is dropped and
reported; the stage keeps going while the transcribed speech stays above
:data:`distill.clone_prepare.MIN_SPEECH_S`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from distill.clone_prepare import MIN_SPEECH_S, TooLittleSpeechError, append_line
from distill.stage_progress import StageBar
from steptts.errors import StepTTSError

TRANSCRIPTS = "transcripts.jsonl"
"""The stage's record: one JSON line per utterance (``id``, ``text``, ``language``)."""
TRANSCRIBE_VERSION = 1
"""Bumped when the transcriber changes; lines of another version are redone."""
DETECT_SECONDS = 30.0
"""Audio Whisper hears to detect the language (its window)."""
WHISPER_LANGUAGES = {"en": "en", "zh": "zh"}
"""Whisper's language code → the clone's language (other codes are refused)."""


class LanguageError(StepTTSError, ValueError):
    """The recordings are in a language that cloning does not take."""


@dataclass(frozen=True)
class TranscribeReport:
    """What stage 2 did."""

    transcripts: dict[str, str]
    """Prepared record id → transcript (the empty ones left out)."""
    empty: tuple[tuple[str, float, float], ...]
    """(recording, start s, end s) of the utterances Whisper heard nothing in (dropped)."""
    language: str
    """``en`` or ``zh``."""

    def format(self) -> str:
        """A few lines for the terminal."""
        lines = [f"transcribe: {len(self.transcripts)} utterances transcribed by Whisper base ({self.language})"]
        for source, start_s, end_s in self.empty:
            lines.append(f"  dropped {source} {start_s:.1f}–{end_s:.1f} s: Whisper heard no words")
        return "\n".join(lines)


def _judge():
    from distill.whisper_judge import WhisperJudge

    return WhisperJudge()


def _audio_16k(path: Path) -> np.ndarray:
    """float32 [S] at 16 kHz of one prepared utterance."""
    import soundfile as sf

    from distill.recordings import resample
    from distill.whisper_judge import WHISPER_RATE_HZ

    audio, rate_hz = sf.read(str(path), dtype="float32", always_2d=True)
    return resample(audio.mean(axis=1), int(rate_hz), WHISPER_RATE_HZ)


def detect_language(samples: np.ndarray, sample_rate_hz: int, judge=None) -> str:
    """The clone language (``en`` or ``zh``) Whisper hears in a recording (float32 [S] at ``sample_rate_hz``).

    Raises:
        LanguageError: Whisper hears another language (it names it).
    """
    from distill.recordings import resample
    from distill.whisper_judge import WHISPER_RATE_HZ

    judge = judge or _judge()
    head = resample(samples[: int(DETECT_SECONDS * sample_rate_hz)], sample_rate_hz, WHISPER_RATE_HZ)
    code, probability = judge.detect_language(head)
    if code not in WHISPER_LANGUAGES:
        raise LanguageError(
            f"Whisper hears language '{code}' (p={probability:.2f}) in the recordings; a clone speaks "
            f"{' or '.join(WHISPER_LANGUAGES)}: pass --language if it misheard"
        )
    return WHISPER_LANGUAGES[code]


def _read_done(path: Path, language: str) -> dict[str, str]:
    """Transcripts of an earlier run (a torn last line is ignored)."""
    done: dict[str, str] = {}
    if not path.exists():
        return done
    for line in path.read_bytes().split(b"\n"):
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if entry.get("version") == TRANSCRIBE_VERSION and entry.get("language") == language:
            done[entry["id"]] = entry["text"]
    return done


def transcribe(
    records: list[dict], prepared_dir: Path, work_dir: Path, language: str, progress: bool | None = None,
    min_speech_s: float = MIN_SPEECH_S,
) -> TranscribeReport:
    """Transcribe prepared records (their ``text`` is None) into ``work_dir/transcripts.jsonl``.

    Args:
        records: the prepared dataset's records, in order. prepared_dir: their folder.
        work_dir: where ``transcripts.jsonl`` lives (created). language: ``en`` or ``zh``.
    Raises:
        TooLittleSpeechError: once the empty utterances are dropped, less than ``min_speech_s``
            (:data:`distill.clone_prepare.MIN_SPEECH_S`) of speech is left.
    """
    work_dir.mkdir(parents=True, exist_ok=True)
    path = work_dir / TRANSCRIPTS
    done = _read_done(path, language)
    todo = [record for record in records if record["id"] not in done]
    judge = _judge() if todo else None
    with StageBar("clone: transcribe", len(records), len(records) - len(todo), progress) as bar:
        for record in todo:
            text = " ".join(judge.transcribe(_audio_16k(prepared_dir / record["path"]), language).split())
            append_line(path, {"id": record["id"], "text": text, "language": language,
                               "version": TRANSCRIBE_VERSION})
            done[record["id"]] = text
            bar.update(advance=1)
    kept = {record["id"]: done[record["id"]] for record in records if done[record["id"]]}
    empty = tuple((record["source"], record["start_s"], record["end_s"])
                  for record in records if not done[record["id"]])
    kept_s = sum(record["duration"] for record in records if record["id"] in kept)
    if kept_s < min_speech_s:
        raise TooLittleSpeechError(
            f"Whisper heard words in only {kept_s:.1f} s of the recordings ({len(empty)} utterances empty); "
            f"a clone needs at least {min_speech_s:g} s (MIN_SPEECH_S)"
        )
    return TranscribeReport(kept, empty, language)
