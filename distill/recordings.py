"""A user's recordings: decode any common file to mono samples, and find where speech is.

Decoding reads wav, flac, mp3 and ogg (vorbis or opus) at any rate and channel count with soundfile
(libsndfile), and whatever libsndfile cannot read (m4a/aac, webm, odd mp3s) with PyAV (FFmpeg);
channels are averaged. Speech is found with the Silero voice-activity detector that faster-whisper
ships as an ONNX file (:func:`speech_segments`), the same package that the Whisper judge runs on.

Measured on rendered speech and generated sounds (``bench/bench_speech_detect.py``): the detector
marks most of the speech of both the shipped student and espeak-ng as speech, and next to none of white or
brown noise, a sung-tone melody, a held chord or a drum pattern; :data:`MIN_SPEECH_SHARE` sits
between the two.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from steptts.errors import StepTTSError

AUDIO_SUFFIXES = (".wav", ".flac", ".mp3", ".ogg", ".oga", ".opus", ".m4a", ".aac", ".webm")
"""File endings taken as recordings (the first four through libsndfile; PyAV for the rest)."""
VAD_SAMPLE_RATE_HZ = 16000
"""The detector's rate."""
VAD_THRESHOLD = 0.5
"""Speech probability above which a 32 ms window is speech (Silero's default)."""
PAUSE_S = 0.3
"""Silence that ends a stretch of speech: cuts fall in pauses at least this long."""
SPEECH_PAD_S = 0.1
"""Margin kept around each stretch of speech, so that soft onsets and final consonants survive."""
MAX_STRETCH_S = 15.0
"""A stretch of speech longer than this is split at its longest inner pause (at least 0.1 s)."""
SOUND_FRAME_S = 0.02
"""Frame of the sound gate."""
SOUND_FLOOR_DBFS = -50.0
"""A frame louder than this (RMS, dB full scale) holds sound, speech or not."""
MIN_SPEECH_SHARE = 0.2
"""A recording whose sound is less than this share speech is noise or music, not a voice."""


class RecordingError(StepTTSError, ValueError):
    """A recording is missing, of an unsupported kind, or corrupt (the message names the file)."""


@dataclass(frozen=True)
class Recording:
    """One decoded file."""

    samples: np.ndarray
    """float32 [S] mono in [-1, 1] at ``sample_rate_hz`` (channels averaged)."""
    sample_rate_hz: int
    """The file's own rate in Hz."""
    channels: int
    """Channels in the file, before the downmix."""
    decoder: str
    """``soundfile`` or ``pyav``: which library read it."""

    @property
    def duration_s(self) -> float:
        """Length in seconds."""
        return len(self.samples) / self.sample_rate_hz


def _read_soundfile(path: Path) -> tuple[np.ndarray, int, int]:
    import soundfile as sf

    audio, sample_rate_hz = sf.read(str(path), dtype="float32", always_2d=True)
    return audio.mean(axis=1), int(sample_rate_hz), int(audio.shape[1])


def _read_pyav(path: Path) -> tuple[np.ndarray, int, int]:
    import av

    with av.open(str(path)) as container:
        if not container.streams.audio:
            raise ValueError("no audio stream")
        stream = container.streams.audio[0]
        channels = stream.codec_context.channels or 1
        sample_rate_hz = int(stream.codec_context.sample_rate)
        # Planar float frames: one row per channel, whatever the codec's own sample format.
        resampler = av.AudioResampler(format="fltp", layout=stream.layout.name, rate=sample_rate_hz)
        pieces = []
        for frame in container.decode(stream):
            for converted in resampler.resample(frame):
                pieces.append(converted.to_ndarray())
        for converted in resampler.resample(None):
            pieces.append(converted.to_ndarray())
    if not pieces:
        return np.zeros(0, np.float32), sample_rate_hz, channels
    audio = np.concatenate(pieces, axis=1)
    return audio.mean(axis=0), sample_rate_hz, channels


def read_recording(path: str | Path) -> Recording:
    """Decode one file to mono float32 at its own rate.

    Raises:
        RecordingError: the file is missing, its ending is not in :data:`AUDIO_SUFFIXES`, neither
            libsndfile nor FFmpeg can decode it, or it holds no samples.
    """
    path = Path(path)
    if not path.is_file():
        raise RecordingError(f"{path}: no such file")
    if path.suffix.lower() not in AUDIO_SUFFIXES:
        raise RecordingError(
            f"{path}: unsupported file type '{path.suffix or '(none)'}'; recordings are "
            f"{', '.join(AUDIO_SUFFIXES)}"
        )
    errors = []
    for decoder, read in (("soundfile", _read_soundfile), ("pyav", _read_pyav)):
        try:
            samples, sample_rate_hz, channels = read(path)
        except Exception as error:  # noqa: BLE001 - both libraries raise many types; the message names them
            errors.append(f"{decoder}: {str(error).strip() or type(error).__name__}")
            continue
        if len(samples) == 0:
            raise RecordingError(f"{path}: the file holds no audio samples")
        if not np.all(np.isfinite(samples)):
            raise RecordingError(f"{path}: corrupt audio (samples that are not numbers)")
        samples = np.clip(samples, -1.0, 1.0).astype(np.float32)
        return Recording(samples, sample_rate_hz, channels, decoder)
    raise RecordingError(f"{path}: corrupt or undecodable audio ({'; '.join(errors)})")


def resample(samples: np.ndarray, from_hz: int, to_hz: int) -> np.ndarray:
    """float32 [S] at ``from_hz`` → float32 [S·to/from] at ``to_hz``, by libsoxr (its high-quality filter).

    soxr rather than scipy's polyphase filter (the data engine's): importing scipy.signal costs about
    2 s of CPU, more than resampling a few minutes of audio, and every clone command pays it.
    """
    if from_hz == to_hz:
        return np.asarray(samples, dtype=np.float32)
    import soxr

    out = soxr.resample(np.asarray(samples, dtype=np.float32), int(from_hz), int(to_hz), quality="HQ")
    return np.clip(out, -1.0, 1.0).astype(np.float32)


@dataclass(frozen=True)
class SpeechMap:
    """Where a recording speaks."""

    segments_s: tuple[tuple[float, float], ...]
    """Stretches of speech (start, end) in seconds, padded by :data:`SPEECH_PAD_S`, cut at pauses."""
    speech_s: float
    """Seconds inside the stretches."""
    sound_s: float
    """Seconds of frames above :data:`SOUND_FLOOR_DBFS`, speech or not."""

    @property
    def speech_share(self) -> float:
        """Speech over sound (0 when silent)."""
        return self.speech_s / self.sound_s if self.sound_s > 0 else 0.0


def sound_seconds(samples: np.ndarray, sample_rate_hz: int) -> float:
    """Seconds of :data:`SOUND_FRAME_S` frames whose RMS is above :data:`SOUND_FLOOR_DBFS`: [S] → s."""
    frame = max(1, int(SOUND_FRAME_S * sample_rate_hz))
    n_frames = len(samples) // frame
    if n_frames == 0:
        return 0.0
    power = np.mean(samples[: n_frames * frame].astype(np.float64).reshape(n_frames, frame) ** 2, axis=1)
    loud = power > 10.0 ** (SOUND_FLOOR_DBFS / 10.0)
    return float(np.count_nonzero(loud)) * frame / sample_rate_hz


def speech_segments(samples: np.ndarray, sample_rate_hz: int) -> SpeechMap:
    """Stretches of speech in a mono recording: float32 [S] at any rate → :class:`SpeechMap`.

    Raises:
        RecordingError: faster-whisper (which ships the detector) is not installed.
    """
    try:
        from faster_whisper.vad import VadOptions, get_speech_timestamps
    except ImportError:
        raise RecordingError(
            "finding speech needs faster-whisper (its Silero detector): pip install -e '.[eval]'"
        ) from None
    audio = resample(samples, sample_rate_hz, VAD_SAMPLE_RATE_HZ)
    options = VadOptions(
        threshold=VAD_THRESHOLD,
        min_silence_duration_ms=int(PAUSE_S * 1000),
        speech_pad_ms=int(SPEECH_PAD_S * 1000),
        max_speech_duration_s=MAX_STRETCH_S,
    )
    stamps = get_speech_timestamps(audio, options, sampling_rate=VAD_SAMPLE_RATE_HZ)
    segments = tuple(
        (stamp["start"] / VAD_SAMPLE_RATE_HZ, stamp["end"] / VAD_SAMPLE_RATE_HZ) for stamp in stamps
    )
    return SpeechMap(
        segments_s=segments,
        speech_s=float(sum(end - start for start, end in segments)),
        sound_s=sound_seconds(audio, VAD_SAMPLE_RATE_HZ),
    )
