"""Decode audio bytes (wav, flac, mp3, ogg/opus, raw pcm) into float32 mono samples.

Torch-free and file-free: the bytes never touch the disk. Writers live elsewhere (the data engine
writes atomically).
"""

from __future__ import annotations

import io

import numpy as np

from .errors import StepTTSError

PCM_FORMATS = ("pcm",)
"""Formats that carry no header: 16-bit signed little-endian mono samples."""


class AudioDecodeError(StepTTSError, ValueError):
    """Audio bytes are empty, undecodable, or hold no samples."""


def decode_audio(
    data: bytes, response_format: str = "wav", pcm_sample_rate_hz: int | None = None
) -> tuple[np.ndarray, int]:
    """Decode one audio file held in memory.

    Args:
        data: the file's bytes.
        response_format: ``pcm`` for raw 16-bit little-endian mono samples; anything else
            (``wav``, ``flac``, ``mp3``, ``opus``, ...) is sniffed from its header by libsndfile.
        pcm_sample_rate_hz: the rate of raw ``pcm`` bytes, which carry none; required for ``pcm``.

    Returns:
        ``(audio, sample_rate_hz)``: audio is float32 [S] in [-1, 1], channels averaged to mono,
        S > 0.

    Raises:
        AudioDecodeError: empty bytes, bytes libsndfile cannot read, or zero samples.
    """
    if not data:
        raise AudioDecodeError("audio is empty (0 bytes)")
    if response_format.lower() in PCM_FORMATS:
        if not pcm_sample_rate_hz or pcm_sample_rate_hz <= 0:
            raise AudioDecodeError("raw pcm audio needs its sample rate (pcm_sample_rate_hz)")
        if len(data) % 2:
            raise AudioDecodeError(f"raw 16-bit pcm must have an even byte count, got {len(data)}")
        audio = np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768.0
        return audio, int(pcm_sample_rate_hz)

    import soundfile as sf  # lazy: keeps `import steptts` light

    try:
        audio, sample_rate_hz = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, ValueError, TypeError) as exc:
        head = data[:16]
        raise AudioDecodeError(
            f"cannot decode {len(data)} bytes as {response_format} audio (starts {head!r}): {exc}"
        ) from None
    if audio.shape[0] == 0:
        raise AudioDecodeError(f"{response_format} audio holds no samples ({len(data)} bytes)")
    mono = audio.mean(axis=1) if audio.shape[1] > 1 else audio[:, 0]
    return np.ascontiguousarray(mono, dtype=np.float32), int(sample_rate_hz)
