"""Audio out of the server: the six response formats, resampling, and streaming encoders.

No codec is written here. A whole file is encoded by libsndfile through soundfile (wav, flac, mp3,
ogg/opus), whose seekable output carries exact lengths in its headers, and by FFmpeg through PyAV
for aac (ADTS). A stream is encoded by PyAV into a write-only sink, so FFmpeg's muxers write what a
stream can carry (a RIFF size of 0xFFFFFFFF, a FLAC STREAMINFO without a sample count, no Xing
header in mp3) and every byte, once sent, stays valid: libsndfile would seek back and rewrite its
headers after they had left. ``pcm`` is raw 16-bit little-endian mono, as OpenAI sends it.
Resampling is soxr's, stream-aware so sentence boundaries leave no seams.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class AudioFormat:
    """One ``response_format``."""

    name: str
    """OpenAI's name: mp3, opus, aac, flac, wav, pcm."""
    media_type: str
    """The Content-Type of a response in this format."""
    av_format: str | None
    """FFmpeg muxer for streams (None for raw pcm)."""
    av_codec: str | None
    """FFmpeg encoder for streams (None for raw pcm)."""
    sf_format: tuple[str, str] | None
    """libsndfile (format, subtype) for whole files; None when PyAV encodes whole files too."""
    rates_hz: tuple[int, ...] | None = None
    """Sample rates the codec takes, in Hz; None for any."""


OPUS_RATES_HZ = (8000, 12000, 16000, 24000, 48000)
MP3_RATES_HZ = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000)
AAC_RATES_HZ = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000)
FORMATS: dict[str, AudioFormat] = {
    "mp3": AudioFormat("mp3", "audio/mpeg", "mp3", "libmp3lame", ("MP3", "MPEG_LAYER_III"), MP3_RATES_HZ),
    "opus": AudioFormat("opus", "audio/ogg", "ogg", "libopus", ("OGG", "OPUS"), OPUS_RATES_HZ),
    "aac": AudioFormat("aac", "audio/aac", "adts", "aac", None, AAC_RATES_HZ),
    "flac": AudioFormat("flac", "audio/flac", "flac", "flac", ("FLAC", "PCM_16")),
    "wav": AudioFormat("wav", "audio/wav", "wav", "pcm_s16le", ("WAV", "PCM_16")),
    "pcm": AudioFormat("pcm", "audio/pcm", None, None, None),
}
"""Every response format, OpenAI's six."""


def output_rate_hz(audio_format: AudioFormat, voice_rate_hz: int, requested_hz: int | None) -> int:
    """The rate a response is sent at: the requested one, else the voice's, else the codec's nearest.

    Raises:
        ValueError: the requested rate is one the format's codec cannot carry (e.g. opus at 22050 Hz).
    """
    rates = audio_format.rates_hz
    if requested_hz is not None:
        if rates is not None and requested_hz not in rates:
            raise ValueError(f"{audio_format.name} cannot carry {requested_hz} Hz; it takes "
                             f"{', '.join(map(str, rates))}")
        return requested_hz
    if rates is None or voice_rate_hz in rates:
        return voice_rate_hz
    return min((r for r in rates if r >= voice_rate_hz), default=max(rates))


class Resampler:
    """Changes the rate of a stream of float32 mono chunks (soxr, high quality); a no-op at equal rates."""

    def __init__(self, in_rate_hz: int, out_rate_hz: int) -> None:
        self._stream = None
        if in_rate_hz != out_rate_hz:
            import soxr

            self._stream = soxr.ResampleStream(in_rate_hz, out_rate_hz, 1, dtype="float32", quality="HQ")

    def process(self, samples: np.ndarray, last: bool = False) -> np.ndarray:
        """float32 [S] in at the input rate → float32 [S'] out at the output rate."""
        samples = np.ascontiguousarray(samples, np.float32)
        if self._stream is None:
            return samples
        return np.asarray(self._stream.resample_chunk(samples, last=last), np.float32)


def to_pcm16(samples: np.ndarray) -> bytes:
    """float32 [S] in [-1, 1] → 16-bit signed little-endian bytes (clipped)."""
    return (np.clip(samples, -1.0, 1.0) * 32767.0).round().astype("<i2").tobytes()


class _Sink:
    """A write-only file for FFmpeg: it cannot seek, so muxers write stream-safe headers."""

    def __init__(self) -> None:
        self.buffer = bytearray()

    def write(self, data: bytes) -> int:
        self.buffer += data
        return len(data)

    def take(self) -> bytes:
        data = bytes(self.buffer)
        self.buffer.clear()
        return data


class StreamEncoder:
    """Encodes chunks of one stream as they come; each call returns the bytes ready so far."""

    def __init__(self, audio_format: AudioFormat, sample_rate_hz: int) -> None:
        self.format = audio_format
        self.sample_rate_hz = sample_rate_hz
        self._container = None
        if audio_format.av_format is None:
            return
        import av

        self._sink = _Sink()
        options = {"page_duration": "20000"} if audio_format.av_format == "ogg" else {}
        self._container = av.open(self._sink, "w", format=audio_format.av_format, options=options)
        self._stream = self._container.add_stream(audio_format.av_codec, rate=sample_rate_hz)
        self._stream.layout = "mono"

    def push(self, samples: np.ndarray) -> bytes:
        """Encode float32 [S] mono samples at ``sample_rate_hz``; returns the bytes now complete."""
        if self._container is None:
            return to_pcm16(samples)
        if len(samples) == 0:
            return self._sink.take()
        import av

        frame = av.AudioFrame.from_ndarray(np.clip(samples, -1.0, 1.0).astype(np.float32)[None, :],
                                           format="flt", layout="mono")
        frame.sample_rate = self.sample_rate_hz
        for packet in self._stream.encode(frame):
            self._container.mux(packet)
        return self._sink.take()

    def finish(self) -> bytes:
        """Flush the encoder and close the container; returns the last bytes."""
        if self._container is None:
            return b""
        for packet in self._stream.encode(None):
            self._container.mux(packet)
        self._container.close()
        self._container = None
        return self._sink.take()

    def close(self) -> None:
        """Drop an unfinished stream (a client left): frees FFmpeg's state."""
        if self._container is not None:
            self._container.close()
            self._container = None


def encode_file(samples: np.ndarray, audio_format: AudioFormat, sample_rate_hz: int) -> bytes:
    """A whole file of float32 [S] mono samples in ``audio_format`` at ``sample_rate_hz``."""
    if audio_format.sf_format is None:
        encoder = StreamEncoder(audio_format, sample_rate_hz)
        return encoder.push(samples) + encoder.finish()
    import soundfile

    buffer = io.BytesIO()
    container, subtype = audio_format.sf_format
    with soundfile.SoundFile(buffer, "w", samplerate=sample_rate_hz, channels=1, format=container,
                             subtype=subtype) as handle:
        handle.write(np.clip(samples, -1.0, 1.0).astype(np.float32))
    return buffer.getvalue()
