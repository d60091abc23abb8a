"""Losses of the student: masked regressions for the acoustic model, spectral losses for the vocoder."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from distill.features import log_mel, stft_magnitude

STFT_RESOLUTIONS = ((512, 128, 512), (1024, 256, 1024), (2048, 512, 2048))
"""(n_fft, hop, window) of the multi-resolution STFT loss: short windows for onsets, long for pitch."""


def masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of ``values`` where ``mask`` is true; mask [B,L] broadcasts over trailing dims of [B,L,...]."""
    while mask.dim() < values.dim():
        mask = mask.unsqueeze(-1)
    weights = mask.to(values.dtype).expand_as(values)
    return (values * weights).sum() / weights.sum().clamp_min(1.0)


def masked_l1(prediction: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean absolute error over valid positions: [B,L,...] tensors, mask bool [B,L]."""
    return masked_mean((prediction - target).abs(), mask)


def masked_mse(prediction: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean squared error over valid positions: [B,L,...] tensors, mask bool [B,L]."""
    return masked_mean((prediction - target) ** 2, mask)


def masked_bce_with_logits(logits: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy over valid positions: logits and 0/1 target [B,L], mask bool [B,L]."""
    return masked_mean(F.binary_cross_entropy_with_logits(logits, target, reduction="none"), mask)


def multi_resolution_stft_loss(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Spectral convergence plus log-magnitude L1, averaged over three resolutions: audio [B,S] each."""
    total = prediction.new_zeros(())
    for n_fft, hop, window in STFT_RESOLUTIONS:
        predicted = stft_magnitude(prediction, n_fft, hop, window)
        wanted = stft_magnitude(target, n_fft, hop, window)
        convergence = torch.linalg.norm(wanted - predicted) / torch.linalg.norm(wanted).clamp_min(1e-6)
        log_magnitude = F.l1_loss(torch.log(predicted), torch.log(wanted))
        total = total + convergence + log_magnitude
    return total / len(STFT_RESOLUTIONS)


def mel_l1_loss(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """L1 between the log-mels of two waveforms: audio [B,S] each."""
    return F.l1_loss(log_mel(prediction), log_mel(target))
