"""Value types of synthesis results: :class:`Audio` and :class:`Chunk`."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import StepTTSError
from .words import Word

AUDIO_FORMATS = {".wav": "WAV", ".flac": "FLAC"}


@dataclass(frozen=True)
class SentenceTiming:
    """How long one sentence took to synthesize."""

    text: str
    """The sentence as spoken (normalized)."""
    duration_s: float
    """Length of its audio in seconds."""
    compute_ms: float
    """Wall time to make it, phonemization included, in milliseconds."""


@dataclass(frozen=True)
class Chunk:
    """One streamed piece of audio: a sentence (or part of a long one)."""

    samples: np.ndarray
    """float32 [S] mono samples in [-1, 1]."""
    sample_rate_hz: int
    """Rate of the samples in Hertz."""
    index: int
    """0-based position of the chunk in the stream."""
    text: str
    """The text this chunk speaks (normalized)."""
    compute_ms: float
    """Wall time to make this chunk, in milliseconds."""
    provider: str
    """onnxruntime execution provider that ran (or ``remote``)."""
    words: tuple[Word, ...] = ()
    """When each word is heard, in seconds from the start of this chunk (empty for the remote engine)."""

    @property
    def duration_s(self) -> float:
        return len(self.samples) / self.sample_rate_hz


@dataclass(frozen=True)
class Audio:
    """A whole synthesized utterance."""

    samples: np.ndarray
    """float32 [S] mono samples in [-1, 1]."""
    sample_rate_hz: int
    """Rate of the samples in Hertz."""
    provider: str
    """onnxruntime execution provider that actually ran (or ``remote``)."""
    timings: list[SentenceTiming] = field(default_factory=list)
    """Per-sentence timings, in order."""
    words: list[Word] = field(default_factory=list)
    """When each word is heard, in seconds from the start of the audio, from the graph's durations
    (empty for the remote engine, which reports none)."""

    @property
    def duration_s(self) -> float:
        return len(self.samples) / self.sample_rate_hz

    @property
    def compute_ms(self) -> float:
        return sum(t.compute_ms for t in self.timings)

    def save(self, path: str | os.PathLike) -> Path:
        """Write a .wav (16-bit PCM) or .flac file atomically; returns the path."""
        target = Path(path)
        with AudioFileWriter(target, self.sample_rate_hz) as writer:
            writer.write(self.samples)
        return target


def check_output_path(path: Path) -> str:
    """Validate an output path before any work is done; returns the soundfile format."""
    audio_format = AUDIO_FORMATS.get(path.suffix.lower())
    if audio_format is None:
        raise StepTTSError(f"cannot write '{path}': use a .wav or .flac file name")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise StepTTSError(f"cannot write '{path}': folder '{parent}' does not exist")
    if path.is_dir():
        raise StepTTSError(f"cannot write '{path}': it is a folder")
    if not os.access(parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise StepTTSError(f"cannot write '{path}': permission denied")
    return audio_format


class AudioFileWriter:
    """Writes audio incrementally to a temporary file and renames it into place on success.

    An interrupted write leaves the target untouched and no temporary file behind.
    """

    def __init__(self, path: Path, sample_rate_hz: int):
        import soundfile

        self.path = Path(path)
        audio_format = check_output_path(self.path)
        try:
            handle, temp_name = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".part",
                                                 dir=self.path.parent if str(self.path.parent) else ".")
        except OSError as error:
            raise StepTTSError(f"cannot write '{path}': {error.strerror or error}") from None
        os.close(handle)
        self._temp = Path(temp_name)
        self._file = soundfile.SoundFile(self._temp, "w", samplerate=sample_rate_hz, channels=1,
                                         format=audio_format, subtype="PCM_16")
        self.frames = 0

    def write(self, samples: np.ndarray) -> None:
        self._file.write(np.clip(np.asarray(samples, np.float32), -1.0, 1.0))
        self.frames += len(samples)

    def __enter__(self) -> AudioFileWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self._file.close()
        if exc_type is None:
            os.replace(self._temp, self.path)
        else:
            self._temp.unlink(missing_ok=True)
