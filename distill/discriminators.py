"""Discriminators for the vocoder's adversarial phase: multi-period (HiFi-GAN) and multi-resolution (UnivNet, Vocos).

Each sub-discriminator maps audio [B,S] to a logit map and the feature maps of its layers, which the
feature-matching loss compares. Sized for CPU: about 1.4M parameters in all at the defaults (the nano
student is 4.7M), with the widths in :class:`DiscriminatorConfig`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import weight_norm

from distill.features import stft_magnitude
from distill.losses import STFT_RESOLUTIONS

LEAKY_SLOPE = 0.1  # negative slope of the leaky ReLUs (HiFi-GAN, Vocos)

DiscriminatorOutput = tuple[torch.Tensor, list[torch.Tensor]]
"""One sub-discriminator's answer: logits [B, N] (N scores over time and frequency or period) and the
feature maps of its layers, each [B, C, H, W]."""


@dataclass(frozen=True)
class DiscriminatorConfig:
    """Shapes of the discriminators; saved in the checkpoint so that a resumed run builds the same ones."""

    periods: tuple[int, ...] = (2, 3, 5, 7, 11)  # samples per column of each period discriminator (HiFi-GAN)
    period_channels: tuple[int, ...] = (16, 32, 64, 128, 256)  # conv widths, one conv per entry
    period_kernel: int = 5  # kernel along time (samples of one column), stride 3 but for the last conv
    resolutions: tuple[tuple[int, int, int], ...] = STFT_RESOLUTIONS  # (n_fft, hop, window) in samples,
    # as the STFT loss
    resolution_channels: int = 16  # conv width of each resolution discriminator (Vocos uses 32)
    resolution_layers: int = 4  # convs with a (3, 9) kernel, each strided 2 along frequency (Vocos does
    # not stride the first: this halves the cost, which the later layers dominate)


def _conv_stack(convs: nn.ModuleList, post: nn.Module, x: torch.Tensor) -> DiscriminatorOutput:
    """Leaky-ReLU convs then the linear ``post`` conv: (its output flattened to logits [B,N], every
    layer's output as feature maps)."""
    features = []
    for conv in convs:
        x = F.leaky_relu(conv(x), LEAKY_SLOPE)
        features.append(x)
    x = post(x)
    features.append(x)
    return x.flatten(1), features


class PeriodDiscriminator(nn.Module):
    """HiFi-GAN's period discriminator: audio [B,S] folded into [B,1,S/p,p] columns of period ``p``,
    then 2-D convs along time that never mix columns."""

    def __init__(self, period: int, config: DiscriminatorConfig) -> None:
        super().__init__()
        self.period = period
        kernel, widths = config.period_kernel, config.period_channels
        self.convs = nn.ModuleList()
        for index, (c_in, c_out) in enumerate(zip((1, *widths[:-1]), widths)):
            stride = 1 if index == len(widths) - 1 else 3
            self.convs.append(
                weight_norm(nn.Conv2d(c_in, c_out, (kernel, 1), (stride, 1), padding=(kernel // 2, 0)))
            )
        self.post = weight_norm(nn.Conv2d(widths[-1], 1, (3, 1), padding=(1, 0)))

    def forward(self, audio: torch.Tensor) -> DiscriminatorOutput:
        """audio [B,S] → logits [B, N], feature maps [B,C,H,period]."""
        batch, length = audio.shape
        pad = (-length) % self.period
        if pad:
            audio = F.pad(audio, (0, pad), mode="reflect")
        x = audio.reshape(batch, 1, -1, self.period)
        return _conv_stack(self.convs, self.post, x)


class ResolutionDiscriminator(nn.Module):
    """UnivNet's resolution discriminator (as in Vocos): 2-D convs over one STFT magnitude
    [B,1,frames,bins] of the audio."""

    def __init__(self, resolution: tuple[int, int, int], config: DiscriminatorConfig) -> None:
        super().__init__()
        self.n_fft, self.hop, self.window = resolution
        width = config.resolution_channels
        self.convs = nn.ModuleList(
            weight_norm(nn.Conv2d(1 if i == 0 else width, width, (3, 9), (1, 2), padding=(1, 4)))
            for i in range(config.resolution_layers)
        )
        self.convs.append(weight_norm(nn.Conv2d(width, width, (3, 3), padding=(1, 1))))
        self.post = weight_norm(nn.Conv2d(width, 1, (3, 3), padding=(1, 1)))

    def forward(self, audio: torch.Tensor) -> DiscriminatorOutput:
        """audio [B,S] → logits [B, N], feature maps [B,C,frames,bins/2^k]."""
        magnitude = stft_magnitude(audio, self.n_fft, self.hop, self.window)  # [B, bins, frames]
        x = magnitude.transpose(1, 2).unsqueeze(1)
        return _conv_stack(self.convs, self.post, x)


class Discriminators(nn.Module):
    """All sub-discriminators, period ones first: audio [B,S] → one :data:`DiscriminatorOutput` each."""

    def __init__(self, config: DiscriminatorConfig) -> None:
        super().__init__()
        self.config = config
        self.discriminators = nn.ModuleList(
            [PeriodDiscriminator(period, config) for period in config.periods]
            + [ResolutionDiscriminator(resolution, config) for resolution in config.resolutions]
        )

    def forward(self, audio: torch.Tensor) -> list[DiscriminatorOutput]:
        return [discriminator(audio) for discriminator in self.discriminators]
