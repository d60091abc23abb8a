"""Acoustic features shared by the data pipeline, the student's losses and its vocoder.

One definition of the log-mel, used everywhere: the training targets, the vocoder's mel loss and the
evaluation all call :func:`log_mel`, so a student never chases a slightly different spectrogram.
Frame ``i`` is centred on sample ``i * HOP``; an utterance of ``S`` samples has ``S // HOP`` frames.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import torch

from distill.dsp import A4_HZ, A4_MIDI
from steptts.graph import HOP_LENGTH as HOP
from steptts.graph import SAMPLE_RATE_HZ

FEATURES_VERSION = 3
"""Bumped whenever extract_features changes its output (2: YIN F0 replaced WORLD dio; 3: pYIN replaced
YIN); feature caches are keyed on it."""
N_FFT = 1024
N_MELS = 80
MEL_FMIN_HZ = 0.0
MEL_FMAX_HZ = 8000.0
LOG_FLOOR = 1e-5
SILENCE_LOG_MEL = math.log(LOG_FLOOR)
"""Value of a silent frame in the log-mel (and padding value for mel tensors)."""


def _hz_to_mel(hz: np.ndarray) -> np.ndarray:
    return 2595.0 * np.log10(1.0 + hz / 700.0)


def _mel_to_hz(mel: np.ndarray) -> np.ndarray:
    return 700.0 * (10.0 ** (mel / 2595.0) - 1.0)


@functools.lru_cache(maxsize=4)
def mel_filterbank(
    sample_rate_hz: int = SAMPLE_RATE_HZ, n_fft: int = N_FFT, n_mels: int = N_MELS
) -> np.ndarray:
    """Triangular filters on the HTK mel scale, area-normalised: float32 [n_mels, n_fft // 2 + 1]."""
    bin_hz = np.linspace(0.0, sample_rate_hz / 2, n_fft // 2 + 1)
    edges_hz = _mel_to_hz(np.linspace(_hz_to_mel(MEL_FMIN_HZ), _hz_to_mel(MEL_FMAX_HZ), n_mels + 2))
    lower, centre, upper = edges_hz[:-2, None], edges_hz[1:-1, None], edges_hz[2:, None]
    rising = (bin_hz[None, :] - lower) / (centre - lower)
    falling = (upper - bin_hz[None, :]) / (upper - centre)
    filters = np.maximum(0.0, np.minimum(rising, falling))
    # Equal area per filter, so wide high-frequency bands do not dominate the loss.
    filters *= (2.0 / (upper - lower))
    return filters.astype(np.float32)


def _hann(n_fft: int, device: torch.device) -> torch.Tensor:
    return torch.hann_window(n_fft, periodic=True, device=device)


def stft_magnitude(audio: torch.Tensor, n_fft: int, hop: int, win: int) -> torch.Tensor:
    """Magnitude spectrogram: audio [B,S] → [B, n_fft//2+1, S//hop + 1], frames centred, zero-padded."""
    spec = torch.stft(
        audio, n_fft, hop_length=hop, win_length=win, window=_hann(win, audio.device),
        center=True, pad_mode="constant", return_complex=True,
    )
    return spec.abs().clamp_min(1e-9)


def mel_magnitude(audio: torch.Tensor) -> torch.Tensor:
    """Mel-band magnitudes: audio [B,S] at 22050 Hz → [B, S//256, 80]."""
    magnitude = stft_magnitude(audio, N_FFT, HOP, N_FFT)[..., : audio.shape[-1] // HOP]
    filters = torch.from_numpy(mel_filterbank()).to(audio.device, audio.dtype)
    return torch.matmul(filters, magnitude).transpose(1, 2)


def log_mel(audio: torch.Tensor) -> torch.Tensor:
    """Log-mel (natural log of magnitude, floored at 1e-5): audio [B,S] at 22050 Hz → [B, S//256, 80]."""
    return torch.log(mel_magnitude(audio).clamp_min(LOG_FLOOR))


def f0_track(audio: np.ndarray, sample_rate_hz: int = SAMPLE_RATE_HZ) -> np.ndarray:
    """F0 in Hz per frame, 0 where unvoiced: audio [S] → float32 [S // 256], frame i centred on i·256.

    The pYIN-style tracker of :mod:`distill.pitch`. Chosen by measurement on the Piper joe teacher (a
    low voice, ~90 Hz): plain YIN flipped octaves and voicing (one frame in five disagreed with pYIN,
    and a student vocoder fed those pitches sounded rough), WORLD's dio doubled most frames, harvest
    jumped octaves mid-vowel at 0.8 s of CPU per second of audio; this costs ~0.07 s.
    """
    from distill.pitch import f0_contour

    audio = np.asarray(audio, dtype=np.float64).reshape(-1)
    frames = len(audio) // HOP
    if frames == 0:
        return np.zeros(0, np.float32)
    track = f0_contour(audio, sample_rate_hz, 1000.0 * HOP / sample_rate_hz)
    out = np.zeros(frames, np.float32)
    out[: min(frames, len(track))] = track[:frames]
    return out


def frame_energy(audio: np.ndarray) -> np.ndarray:
    """Natural log of the RMS of a Hann-weighted 1024-sample window per frame: [S] → float32 [S // 256]."""
    frames = len(audio) // HOP
    padded = np.pad(audio.astype(np.float32), (N_FFT // 2, N_FFT // 2))
    window = np.hanning(N_FFT + 1)[:-1].astype(np.float32)
    starts = np.arange(frames) * HOP
    framed = np.lib.stride_tricks.sliding_window_view(padded, N_FFT)[starts]
    power = (framed**2 * window).sum(axis=1) / window.sum()
    return np.log(np.sqrt(power) + LOG_FLOOR).astype(np.float32)


def extract_features(audio: np.ndarray, sample_rate_hz: int = SAMPLE_RATE_HZ) -> dict[str, np.ndarray]:
    """Training targets of one utterance.

    Args:
        audio: float32 [S], mono, in [-1, 1], at 22050 Hz.
    Returns:
        ``mel`` float32 [F, 80] log-mel, ``f0_hz`` float32 [F] (0 = unvoiced), ``energy`` float32 [F]
        log RMS, with F = S // 256 exactly.
    """
    if sample_rate_hz != SAMPLE_RATE_HZ:
        raise ValueError(f"features need {SAMPLE_RATE_HZ} Hz audio, got {sample_rate_hz} Hz")
    audio = np.asarray(audio, dtype=np.float32).reshape(-1)
    with torch.no_grad():
        mel = log_mel(torch.from_numpy(audio)[None])[0].numpy()
    return {"mel": mel, "f0_hz": f0_track(audio, sample_rate_hz), "energy": frame_energy(audio)}


def hz_to_midi(f0_hz: torch.Tensor) -> torch.Tensor:
    """MIDI note numbers of positive frequencies (any shape): :func:`distill.dsp.hz_to_midi` on tensors."""
    return A4_MIDI + 12.0 * torch.log2(f0_hz.clamp_min(1.0) / A4_HZ)
