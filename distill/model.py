"""The student: phoneme ids → audio in one module tree, readable top to bottom.

1. Encoder: phoneme embedding + sinusoidal positions + transformer blocks (conv FFN), then the sum of
   the tag embeddings and the speaker embedding is added to every token.
2. Variance adaptor (FastSpeech 2 / FastPitch): per-token duration (log frames), pitch (MIDI note of
   the voiced frames) and energy (log RMS) predictors. Pitch and energy are embedded by a conv over
   the per-token value and added. Controls act here: tempo (:func:`scale_tempo`), + pitch semitones,
   + energy dB; per-token overrides replace predictions.
3. Length regulator: cumsum + comparison + gather (no data-dependent Python loops, so it exports).
4. Decoder: transformer blocks over frames → 80 log-mel, a pitch residual over the token's note, and
   a voicing logit.
5. Vocoder (source-filter, Vocos-style body): ConvNeXt blocks → log-magnitude filters for a harmonic
   pulse train at the frame pitch and for fixed-phase noise → inverse STFT written as a matmul with
   a fixed inverse-DFT basis, overlap-add by shifted pads, and division by the window envelope (no
   torch.istft, which does not export).

``Student.forward`` is exactly the ONNX graph of docs/CONTRACTS.md (schema_version 1);
``Student.training_losses`` is everything the trainer needs.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial

import torch
import torch.nn.functional as F
from torch import nn

from distill.alignment import durations_from_path, gaussian_log_likelihood, monotonic_alignment_search
from distill.dsp import midi_to_hz
from distill.features import SILENCE_LOG_MEL, hz_to_midi
from distill.losses import (
    masked_bce_with_logits,
    masked_l1,
    masked_mse,
    mel_l1_loss,
    multi_resolution_stft_loss,
)
from steptts.errors import StepTTSError
from steptts.graph import HOP_LENGTH, SAMPLE_RATE_HZ

PITCH_CENTRE_MIDI = 60.0  # pitch values are fed to the network as (midi - 60) / 12: octaves from C4
PITCH_CENTRE_HZ = float(midi_to_hz(PITCH_CENTRE_MIDI))  # C4, 261.6 Hz
ENERGY_CENTRE = -4.0  # energy (log RMS) is fed as (energy + 4) / 2
ENERGY_SCALE = 2.0
DEFAULT_MIDI = 48.0  # stand-in pitch for an utterance with no voiced frame at all
DB_TO_LOG_RMS = math.log(10.0) / 20.0
MIN_SPEED = 0.1
TEMPO_FLOOR_FRAMES = 3.0  # each token keeps up to this many frames (35 ms) when the tempo rises
MEL_INIT_LEVEL = -6.0  # typical log-mel value of speech, the initial bias of mel outputs
HARMONIC_FILTER_INIT = 1.5  # initial log magnitude of each harmonic (about 0.02 of full scale)
NOISE_FILTER_INIT = -3.0  # initial log magnitude of the noise spectrum
NOISE_PHASE_FRAMES = 64  # frames of fixed random noise phase, repeated (a 0.74 s period at hop 256)
NOISE_PHASE_SEED = 1234  # the noise is part of the graph: deterministic, the same in every export
MINIMUM_PHASE_LIFTER = 20  # cepstral samples kept for the phase: the envelope, not harmonic ripple
VOCODER_GENERATED = "vocoder_generated"  # training_losses(..., vocoder_audio=True): the vocoder's segments
VOCODER_TARGET = "vocoder_target"  # and the teacher's audio of the same segments
VOCODER_VERSION = 2  # 1: Vocos head (log-magnitude + phase); 2: source-filter head (harmonic + noise)


@dataclass
class StudentConfig:
    n_symbols: int = 256  # phoneme vocabulary size, id 0 = pad (set from the data)
    n_tags: int = 64  # tag vocabulary size, id 0 = no tag (set from the data)
    n_speakers: int = 1  # speakers (set from the data)
    d_model: int = 128  # width of the acoustic transformer
    n_heads: int = 2  # attention heads
    n_encoder_layers: int = 4  # transformer blocks over tokens
    n_decoder_layers: int = 4  # transformer blocks over frames
    ffn_mult: int = 2  # FFN hidden size = ffn_mult * d_model
    ffn_kernel: int = 3  # kernel of the FFN's first conv; 1 makes it a plain MLP
    dropout: float = 0.0  # transformer dropout: off, distilled data is plentiful and it doubles a CPU step
    predictor_dropout: float = 0.5  # dropout in the duration, pitch and energy predictors (FastSpeech 2)
    predictor_channels: int = 128  # width of the duration, pitch and energy predictors
    predictor_kernel: int = 3  # kernel of the predictors' convs
    vocoder_dim: int = 256  # ConvNeXt channels of the vocoder
    vocoder_hidden: int = 768  # ConvNeXt inner (pointwise) channels
    vocoder_layers: int = 6  # ConvNeXt blocks
    vocoder_kernel: int = 7  # depthwise conv kernel
    n_mels: int = 80  # log-mel bands (features.N_MELS)
    n_fft: int = 1024  # iSTFT size of the vocoder head
    hop_length: int = HOP_LENGTH  # samples per frame
    sample_rate: int = SAMPLE_RATE_HZ  # Hz
    max_log_magnitude: float = 7.0  # clip of the vocoder's log-magnitude before exp (stability)
    vocoder_segment_frames: int = 64  # frames per vocoder training segment
    vocoder_predicted_from_step: int = 3000  # from this step half the segments use predicted features
    mel_weight: float = 1.0  # weight of the decoder's log-mel L1
    duration_weight: float = 1.0  # weight of the log-duration MSE
    pitch_weight: float = 1.0  # weight of the token pitch MSE (in octaves)
    energy_weight: float = 0.5  # weight of the token energy MSE (log RMS)
    frame_pitch_weight: float = 1.0  # weight of the frame pitch L1 (in octaves)
    voicing_weight: float = 0.2  # weight of the voicing cross-entropy
    align_weight: float = 1.0  # weight of the alignment NLL (rows without teacher durations)
    vocoder_weight: float = 1.0  # weight of the vocoder's multi-resolution STFT + mel L1
    vocoder_version: int = VOCODER_VERSION  # head layout; a checkpoint without it predates version 2

    @property
    def vocoder_channels(self) -> int:
        """Vocoder input channels: log-mel, frame pitch, voicing probability."""
        return self.n_mels + 2


PRESETS: dict[str, StudentConfig] = {
    # CI: trains in seconds.
    "tiny": StudentConfig(
        d_model=48,
        n_heads=2,
        n_encoder_layers=1,
        n_decoder_layers=1,
        ffn_mult=2,
        predictor_channels=32,
        vocoder_dim=64,
        vocoder_hidden=192,
        vocoder_layers=2,
        dropout=0.0,
        vocoder_segment_frames=32,
        vocoder_predicted_from_step=10,
    ),
    # The embedded default: ≤ 6M parameters, many times faster than real time on one CPU core.
    "nano": StudentConfig(),
    "small": StudentConfig(
        d_model=256,
        n_heads=4,
        n_encoder_layers=4,
        n_decoder_layers=4,
        ffn_mult=4,
        predictor_channels=256,
        vocoder_dim=384,
        vocoder_hidden=1152,
        vocoder_layers=8,
    ),
    "base": StudentConfig(
        d_model=384,
        n_heads=6,
        n_encoder_layers=6,
        n_decoder_layers=6,
        ffn_mult=4,
        predictor_channels=384,
        vocoder_dim=512,
        vocoder_hidden=1536,
        vocoder_layers=8,
    ),
    # Teacher scale (Step-Audio-TTS-3B's LLM is 3072 × 32 layers): trains under torchrun + FSDP2.
    "3b": StudentConfig(
        d_model=3072,
        n_heads=24,
        n_encoder_layers=16,
        n_decoder_layers=16,
        ffn_mult=3,
        ffn_kernel=1,
        predictor_channels=1024,
        vocoder_dim=512,
        vocoder_hidden=1536,
        vocoder_layers=8,
        dropout=0.0,
    ),
}


def config_from_checkpoint(config: dict) -> StudentConfig:
    """The StudentConfig saved in a checkpoint; refuses one whose vocoder head predates this code."""
    version = config.get("vocoder_version", 1)
    if version != VOCODER_VERSION:
        raise StepTTSError(
            f"checkpoint has vocoder version {version}, this code builds version {VOCODER_VERSION}: "
            "start a new run from it with `steptts distill train --init-from CHECKPOINT`"
        )
    return StudentConfig(**config)


def upgrade_checkpoint(config: dict, state: dict[str, torch.Tensor]) -> tuple[StudentConfig, dict]:
    """Config and weights of a checkpoint, brought to the current vocoder head.

    Version 1 (Vocos head: log-magnitude and phase) → 2 (harmonic and noise log-magnitude filters):
    both filters start from the old log-magnitude rows (the pulse train's harmonics read 1.0 in the
    STFT, so the units agree); the noise starts 2 nats (≈ 17 dB) under the old magnitude. The phase
    rows are dropped.
    """
    version = config.get("vocoder_version", 1)
    if version == VOCODER_VERSION:
        return StudentConfig(**config), state
    if version != 1:
        raise StepTTSError(f"unknown vocoder version {version} in checkpoint")
    bins = config["n_fft"] // 2 + 1
    weight, bias = state["vocoder.head.weight"][:bins], state["vocoder.head.bias"][:bins]
    state = dict(state)
    state["vocoder.head.weight"] = torch.cat([weight, weight])
    state["vocoder.head.bias"] = torch.cat([bias, bias - 2.0])
    return StudentConfig(**{**config, "vocoder_version": VOCODER_VERSION}), state


class PresetError(StepTTSError, ValueError):
    """The student preset named does not exist."""


def make_config(preset: str, n_symbols: int, n_tags: int, n_speakers: int) -> StudentConfig:
    """The preset's config with the vocabulary sizes of the data filled in."""
    if preset not in PRESETS:
        raise PresetError(f"unknown student preset {preset!r}; choose one of: {', '.join(PRESETS)}")
    return replace(PRESETS[preset], n_symbols=n_symbols, n_tags=n_tags, n_speakers=n_speakers)


@dataclass
class TrainBatch:
    phoneme_ids: torch.Tensor  # int64 [B,T], 0-padded
    phoneme_lengths: torch.Tensor  # int64 [B]
    tag_ids: torch.Tensor  # int64 [B,K], 0-padded
    speaker_ids: torch.Tensor  # int64 [B]
    durations: torch.Tensor  # int64 [B,T] frames per token; rows with has_durations False are ignored (MAS)
    has_durations: torch.Tensor  # bool [B]
    mel: torch.Tensor  # float32 [B,F,80]
    f0_hz: torch.Tensor  # float32 [B,F]
    energy: torch.Tensor  # float32 [B,F]
    frame_lengths: torch.Tensor  # int64 [B]
    audio: torch.Tensor  # float32 [B, F*256]


# --------------------------------------------------------------------------------------------------
# Building blocks


class SinusoidalPositions(nn.Module):
    """Sinusoidal position encodings [L, dim] for the second axis of ``x`` [B,L,dim].

    A module of its own so that reduced-precision exports can keep it in fp32 (by its node names):
    an angle of several hundred radians loses a tenth of a radian in fp16. Positions and frequencies
    are both computed from the input's length, so the exporter cannot fold the frequencies into a
    stored (and then fp16-rounded) constant.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ones = torch.ones_like(x[0, :, 0])
        position = (torch.cumsum(ones, dim=0) - 1.0).unsqueeze(1)  # [L,1]; traced with a dynamic L
        dim = x.shape[-1]
        exponent = torch.arange(0, dim, 2, device=x.device, dtype=x.dtype) + 0.0 * ones.sum()
        frequency = torch.exp(exponent * (-math.log(10000.0) / dim))
        angle = position * frequency  # [L, dim/2]
        return torch.stack([angle.sin(), angle.cos()], dim=-1).flatten(1)


class TransformerBlock(nn.Module):
    """Pre-norm self-attention + conv FFN over a padded sequence: x [B,L,D], mask bool [B,L]."""

    def __init__(self, dim: int, heads: int, ffn_hidden: int, kernel: int, dropout: float) -> None:
        super().__init__()
        self.heads = heads
        self.attention_norm = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.attention_out = nn.Linear(dim, dim)
        self.ffn_norm = nn.LayerNorm(dim)
        # A kernel > 1 gives the FFN local context (FastSpeech's conv FFN); 1 is a plain MLP.
        self.ffn_in = nn.Conv1d(dim, ffn_hidden, kernel, padding=kernel // 2) if kernel > 1 else None
        self.ffn_in_linear = nn.Linear(dim, ffn_hidden) if kernel == 1 else None
        self.ffn_out = nn.Linear(ffn_hidden, dim)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        batch, length, dim = x.shape
        q, k, v = (
            self.qkv(self.attention_norm(x))
            .reshape(batch, length, 3, self.heads, dim // self.heads)
            .permute(2, 0, 3, 1, 4)
            .unbind(0)
        )
        attended = F.scaled_dot_product_attention(
            q,
            k,
            v,
            attn_mask=mask[:, None, None, :],
            dropout_p=self.dropout.p if self.training else 0.0,
        )
        x = x + self.dropout(self.attention_out(attended.transpose(1, 2).reshape(batch, length, dim)))
        hidden = self.ffn_norm(x) * mask.unsqueeze(-1)  # padding must not leak through the conv
        if self.ffn_in is not None:
            hidden = self.ffn_in(hidden.transpose(1, 2)).transpose(1, 2)
        else:
            hidden = self.ffn_in_linear(hidden)
        x = x + self.dropout(self.ffn_out(self.dropout(F.gelu(hidden))))
        return x * mask.unsqueeze(-1)


UnitBuilder = Callable[[Callable[[], nn.Module]], nn.Module]
"""Builds one shard unit (a transformer block, the vocoder) from its constructor. The default calls
it; distill/distributed.py builds each unit on the meta device and shards it as it comes."""


def _build(make: Callable[[], nn.Module]) -> nn.Module:
    return make()


class Transformer(nn.Module):
    """Positions + a stack of blocks + final norm: x [B,L,D], mask [B,L] → [B,L,D]."""

    def __init__(self, config: StudentConfig, n_layers: int, build_unit: UnitBuilder = _build) -> None:
        super().__init__()
        make_block = partial(
            TransformerBlock,
            config.d_model,
            config.n_heads,
            config.ffn_mult * config.d_model,
            config.ffn_kernel,
            config.dropout,
        )
        self.layers = nn.ModuleList(build_unit(make_block) for _ in range(n_layers))
        self.positions = SinusoidalPositions()
        self.dropout = nn.Dropout(config.dropout)
        self.norm = nn.LayerNorm(config.d_model)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = self.dropout(x + self.positions(x))
        for layer in self.layers:
            x = layer(x, mask)
        return self.norm(x) * mask.unsqueeze(-1)


class VariancePredictor(nn.Module):
    """Two conv + ReLU + LayerNorm layers, then one value per token: x [B,T,D] → [B,T]."""

    def __init__(self, config: StudentConfig) -> None:
        super().__init__()
        channels, kernel = config.predictor_channels, config.predictor_kernel
        self.conv1 = nn.Conv1d(config.d_model, channels, kernel, padding=kernel // 2)
        self.norm1 = nn.LayerNorm(channels)
        self.conv2 = nn.Conv1d(channels, channels, kernel, padding=kernel // 2)
        self.norm2 = nn.LayerNorm(channels)
        self.out = nn.Linear(channels, 1)
        self.dropout = nn.Dropout(config.predictor_dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        keep = mask.unsqueeze(-1)  # re-mask before every conv, so padding never reaches a real token
        x = self.dropout(self.norm1(F.relu(self.conv1((x * keep).transpose(1, 2))).transpose(1, 2)))
        x = self.dropout(self.norm2(F.relu(self.conv2((x * keep).transpose(1, 2))).transpose(1, 2)))
        return self.out(x).squeeze(-1) * mask


class ValueEmbedding(nn.Module):
    """A per-token scalar embedded by a conv over its neighbours: value [B,T] → [B,T,D]."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.conv = nn.Conv1d(1, dim, 3, padding=1)

    def forward(self, value: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        value = value * mask
        return self.conv(value.unsqueeze(1)).transpose(1, 2) * mask.unsqueeze(-1)


def regulate_length(
    tokens: torch.Tensor, durations: torch.Tensor, n_frames: torch.Tensor | int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Repeat each token for its frame count.

    Args:
        tokens: [B,T,D] token states.
        durations: int64 [B,T] frames per token (0 on padding).
        n_frames: number of output frames F (0-dim tensor or int).
    Returns:
        frames [B,F,D], frame_mask bool [B,F] (frame < sum of durations), token_index int64 [B,F].
    """
    ends = torch.cumsum(durations, dim=1)  # [B,T]
    frame = torch.arange(n_frames, device=tokens.device)  # [F]
    # The token of frame f is the number of tokens that end at or before f.
    token_index = (ends.unsqueeze(1) <= frame[None, :, None]).long().sum(-1)  # [B,F]
    frame_mask = frame[None, :] < ends[:, -1:]
    token_index = token_index.clamp(max=tokens.shape[1] - 1)
    index = token_index.unsqueeze(-1).expand(-1, -1, tokens.shape[-1])
    return torch.gather(tokens, 1, index), frame_mask, token_index


def scale_tempo(durations: torch.Tensor, speed: torch.Tensor, floor_frames: float = TEMPO_FLOOR_FRAMES) -> torch.Tensor:
    """Durations at ``speed`` × the tempo, Klatt-style: the total becomes ``sum / speed`` exactly.

    Each token's first ``floor_frames`` frames are incompressible; only the part above them is
    scaled. Fast speech thus shortens vowels and pauses and keeps short consonants audible (uniform
    scaling at ×1.33 turns 3-frame consonants into 2-frame ones; ``bench/bench_tag_wer.py`` measures
    the effect on intelligibility). When even the floors do not fit, everything scales uniformly.

    Args:
        durations: float [B,T] frames per token at speed 1 (0 on padding).
        speed: float [B,1] tempo factor (> 1 is faster).
    Returns:
        float [B,T] frames per token.
    """
    floor = durations.clamp(max=floor_frames)
    elastic = durations - floor
    target = durations.sum(1, keepdim=True) / speed
    floor_total = floor.sum(1, keepdim=True)
    stretch = ((target - floor_total) / elastic.sum(1, keepdim=True).clamp_min(1e-3)).clamp_min(0.0)
    squeeze = (target / floor_total.clamp_min(1e-3)).clamp(max=1.0)  # < 1 only when the floors overflow
    return (floor + stretch * elastic) * squeeze


def round_cumulative(durations: torch.Tensor) -> torch.Tensor:
    """Integer frames [B,T] int64 whose running sum follows that of ``durations`` (float [B,T]).

    Rounding each scaled token on its own biases the total (at ×1.33, 40 frames of 2.25 become 80, not
    90); rounding the running sum keeps every token within a frame and the total exact.
    """
    ends = torch.round(torch.cumsum(durations, dim=1))
    starts = torch.cat([torch.zeros_like(ends[:, :1]), ends[:, :-1]], dim=1)
    return (ends - starts).long()


def fill_gaps(values: torch.Tensor, known: torch.Tensor, default: float) -> torch.Tensor:
    """Linear interpolation along the last axis between known points (nearest at the ends).

    Args:
        values: [B,L]; known: bool [B,L]. Rows with nothing known become ``default``.
    """
    length = values.shape[1]
    index = torch.arange(length, device=values.device).expand_as(values)
    previous = torch.where(known, index, torch.full_like(index, -1)).cummax(dim=1).values
    following = torch.where(known, index, torch.full_like(index, length)).flip(1).cummin(dim=1).values.flip(1)
    has_previous, has_following = previous >= 0, following < length
    previous_value = torch.gather(values, 1, previous.clamp_min(0))
    following_value = torch.gather(values, 1, following.clamp(max=length - 1))
    weight = (index - previous).float() / (following - previous).clamp_min(1).float()
    between = previous_value + (following_value - previous_value) * weight
    return torch.where(
        has_previous & has_following,
        between,
        torch.where(has_previous, previous_value, torch.where(has_following, following_value, default)),
    )


def token_means(frame_values: torch.Tensor, weights: torch.Tensor, token_index: torch.Tensor, n_tokens: int):
    """Weighted mean of frame values per token: [B,F] each → (means [B,T], total weight [B,T])."""
    sums = frame_values.new_zeros(frame_values.shape[0], n_tokens).scatter_add_(
        1, token_index, frame_values * weights
    )
    counts = frame_values.new_zeros(frame_values.shape[0], n_tokens).scatter_add_(1, token_index, weights)
    return sums / counts.clamp_min(1e-6), counts


class ConvNeXtBlock(nn.Module):
    """Depthwise conv, LayerNorm, pointwise MLP, layer scale, residual: x [B,C,F] → [B,C,F]."""

    def __init__(self, dim: int, hidden: int, kernel: int, layer_scale: float) -> None:
        super().__init__()
        self.depthwise = nn.Conv1d(dim, dim, kernel, padding=kernel // 2, groups=dim)
        self.norm = nn.LayerNorm(dim)
        self.pointwise_in = nn.Linear(dim, hidden)
        self.pointwise_out = nn.Linear(hidden, dim)
        self.scale = nn.Parameter(torch.full((dim,), layer_scale))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hidden = self.norm(self.depthwise(x).transpose(1, 2))
        hidden = self.pointwise_out(F.gelu(self.pointwise_in(hidden))) * self.scale
        return x + hidden.transpose(1, 2)


def overlap_add(frames: torch.Tensor, hop: int) -> torch.Tensor:
    """Sum frames placed ``hop`` apart: [B,F,N] with N a multiple of hop → [B, (F + N/hop - 1)·hop].

    Written as N/hop shifted pads and adds: cheaper than a transposed conv and exported as plain
    Pad/Add ops (ONNX has no fold).
    """
    overlap = frames.shape[-1] // hop
    pieces = frames.unflatten(-1, (overlap, hop))  # [B,F,overlap,hop]
    total = F.pad(pieces[:, :, 0, :], (0, 0, 0, overlap - 1))
    for k in range(1, overlap):
        total = total + F.pad(pieces[:, :, k, :], (0, 0, k, overlap - 1 - k))
    return total.flatten(1)


class InverseSTFT(nn.Module):
    """Centred iSTFT with a fixed inverse-DFT basis: real, imag [B,F,n_fft/2+1] → audio [B, F*hop].

    torch.istft has no ONNX export. A matmul with the windowed inverse-DFT basis gives each frame's
    samples, overlap-add joins them, and dividing by the summed squared window undoes the window
    overlap (the least-squares inverse of a Hann-windowed STFT).
    """

    def __init__(self, n_fft: int, hop: int) -> None:
        super().__init__()
        if n_fft % hop:
            raise ValueError(f"n_fft ({n_fft}) must be a multiple of hop ({hop})")
        self.n_fft, self.hop = n_fft, hop
        bins = n_fft // 2 + 1
        window = torch.hann_window(n_fft, periodic=True, dtype=torch.float64)
        time = torch.arange(n_fft, dtype=torch.float64)
        frequency = torch.arange(bins, dtype=torch.float64)
        angle = 2 * math.pi * frequency[:, None] * time[None, :] / n_fft  # [bins, n_fft]
        # Hermitian symmetry: inner bins stand for two conjugate bins.
        weight = torch.full((bins, 1), 2.0 / n_fft, dtype=torch.float64)
        weight[0] = weight[-1] = 1.0 / n_fft
        # [2·bins, n_fft]: real parts then imaginary parts.
        basis = torch.cat([weight * torch.cos(angle), -weight * torch.sin(angle)]) * window
        self.register_buffer("basis", basis.float(), persistent=False)
        self.register_buffer("window_square", (window**2).float(), persistent=False)

    def forward(self, real: torch.Tensor, imag: torch.Tensor) -> torch.Tensor:
        frames = torch.matmul(torch.cat([real, imag], dim=-1), self.basis)  # [B,F,n_fft]
        signal = overlap_add(frames, self.hop)  # [B, (F-1)·hop + n_fft]
        envelope = overlap_add(torch.ones_like(frames[:1, :, :1]) * self.window_square, self.hop)
        # Centred frames: drop n_fft/2 samples at the start and keep exactly F·hop samples.
        start, stop = self.n_fft // 2, self.n_fft // 2 - self.hop
        signal, envelope = (
            signal[:, start : signal.shape[1] - stop],
            envelope[:, start : envelope.shape[1] - stop],
        )
        return signal / envelope.clamp_min(1e-6)


def upsample_linear(values: torch.Tensor, hop: int) -> torch.Tensor:
    """Frame values to samples, linear between frame centres: [B,F] → [B, F*hop] (the last frame holds)."""
    following = torch.cat([values[:, 1:], values[:, -1:]], dim=1)
    weight = torch.arange(hop, dtype=values.dtype, device=values.device) / hop  # [hop]
    samples = values.unsqueeze(-1) * (1.0 - weight) + following.unsqueeze(-1) * weight  # [B,F,hop]
    return samples.flatten(1)


class HarmonicSource(nn.Module):
    """Excitation of voiced speech: a band-limited pulse train following the frame pitch, gated by voicing.

    pitch [B,F] ((MIDI - 60) / 12), voicing probability [B,F] → excitation [B, F*hop]: every harmonic of f0 below
    Nyquist at amplitude 1 (the top one faded in by its fractional count, so no click when f0 moves),
    written in closed form (Dirichlet kernel) instead of a sum over harmonics. The phase is a running
    sum of f0 kept in whole-frame steps, so it stays precise over long sentences; consecutive frames
    continue the same waveform, which is what keeps a frame-rate buzz out of the audio.
    """

    def __init__(self, sample_rate: int, hop: int, amplitude: float = 1.0) -> None:
        super().__init__()
        self.sample_rate, self.hop, self.amplitude = sample_rate, hop, amplitude

    def forward(self, pitch: torch.Tensor, voicing: torch.Tensor) -> torch.Tensor:
        """pitch [B,F] in the features' scale, (MIDI - 60) / 12; voicing [B,F] in [0, 1]."""
        f0 = (PITCH_CENTRE_HZ * torch.pow(2.0, pitch)).clamp(30.0, 1000.0)  # [B,F] Hz
        cycles_per_sample = upsample_linear(f0 / self.sample_rate, self.hop).unflatten(1, (-1, self.hop))
        within_frame = torch.cumsum(cycles_per_sample, dim=2)  # [B,F,hop]
        frame_total = within_frame[:, :, -1]
        frame_start = torch.cumsum(frame_total, dim=1) - frame_total  # [B,F], cycles before each frame
        frame_start = frame_start - torch.floor(frame_start)
        cycles = frame_start.unsqueeze(-1) + within_frame
        theta = (2.0 * math.pi) * (cycles - torch.floor(cycles))  # [B,F,hop] in [0, 2π)

        harmonics = (0.5 * self.sample_rate) / (cycles_per_sample * self.sample_rate)
        whole = torch.floor(harmonics)
        half_sine = torch.sin(0.5 * theta)
        near_zero = half_sine.abs() < 1e-4
        safe = half_sine.masked_fill(near_zero, 1.0)  # (ones_like would trace a fixed shape)
        dirichlet = torch.where(near_zero, whole, torch.sin((whole + 0.5) * theta) / (2.0 * safe) - 0.5)
        pulses = dirichlet + (harmonics - whole) * torch.cos((whole + 1.0) * theta)
        return pulses.flatten(1) * (self.amplitude * upsample_linear(voicing, self.hop))


class ShortTimeSpectrum(nn.Module):
    """Centred STFT through the iSTFT's own basis (no second 4 MB constant in the graph).

    audio [B, F*hop] → (real, imag) [B,F,n_fft/2+1], Hann window, zero padding of n_fft/2 at both ends:
    the exact analysis that :class:`InverseSTFT` undoes.
    """

    def __init__(self, inverse: InverseSTFT) -> None:
        super().__init__()
        self.inverse = [inverse]  # a list: shares the basis buffer without registering it twice
        bins = inverse.n_fft // 2 + 1
        weight = torch.full((bins,), 2.0 / inverse.n_fft)
        weight[0] = weight[-1] = 1.0 / inverse.n_fft
        self.register_buffer("bin_scale", (1.0 / weight).repeat(2), persistent=False)

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        inverse = self.inverse[0]
        n_fft, hop = inverse.n_fft, inverse.hop
        n_frames = audio.shape[1] // hop
        chunks = F.pad(audio, (n_fft // 2, n_fft // 2)).unflatten(1, (-1, hop))  # [B, F + n_fft/hop, hop]
        overlap = n_fft // hop
        frames = torch.cat([chunks[:, k : k + n_frames] for k in range(overlap)], dim=-1)  # [B,F,n_fft]
        # The basis rows are window · DFT row · bin weight; an einsum keeps the shared constant as it is.
        return torch.einsum("bfn,kn->bfk", frames, inverse.basis) * self.bin_scale


class MinimumPhase(nn.Module):
    """Minimum phase of a log-magnitude response, by folding its real cepstrum.

    log-magnitude [B,F,bins] (bins = n_fft/2 + 1, the positive half of an even spectrum) → phase
    [B,F,bins] in radians. A pulse train through a zero-phase filter is a train of symmetric clicks and
    sounds buzzy; the minimum-phase filter with the same magnitude rings after each pulse as a vocal
    tract does. Only the first ``lifter`` cepstral samples are kept, so both transforms are thin matmuls;
    their cosine and sine matrices are computed on the fly rather than stored in the graph.
    """

    def __init__(self, lifter: int) -> None:
        super().__init__()
        self.lifter = lifter

    def forward(self, log_magnitude: torch.Tensor) -> torch.Tensor:
        bins = log_magnitude.shape[-1]
        n_fft = 2 * (bins - 1)
        # Tied to the frame count (0 · frames) so the exporter computes it at run time, not as a constant.
        frequency = torch.arange(bins, device=log_magnitude.device, dtype=log_magnitude.dtype)
        frequency = frequency + 0.0 * log_magnitude.shape[1]
        quefrency = frequency[: self.lifter]
        angle = (2.0 * math.pi / n_fft) * frequency[:, None] * quefrency[None, :]  # [bins, lifter]
        # Real cepstrum c[n] of the even log spectrum, only n < lifter (the envelope, not harmonic
        # ripple), doubled past n = 0 (the fold that makes it causal).
        spectrum_weight = torch.where((frequency == 0) | (frequency == bins - 1), 1.0 / n_fft, 2.0 / n_fft)
        fold = torch.where(quefrency == 0, 1.0, 2.0)
        cepstrum = torch.matmul(log_magnitude * spectrum_weight, torch.cos(angle)) * fold  # [B,F,lifter]
        return -torch.matmul(cepstrum, torch.sin(angle).transpose(0, 1))


class Vocoder(nn.Module):
    """Source-filter vocoder: features [B,F,n_mels+2] (log-mel, pitch, voicing) → audio [B, F*hop].

    ConvNeXt blocks (as in Vocos) predict two log-magnitude filters per frame. One shapes the
    spectrum of a harmonic pulse train at the frame's pitch (voiced sound), the other a fixed
    random-phase noise spectrum (breath, fricatives); their sum goes through the inverse STFT. The
    network never predicts phase: the harmonics keep the pitch the features ask for, exactly, and
    consecutive frames join without the frame-rate buzz of a learned phase.
    """

    def __init__(self, config: StudentConfig) -> None:
        super().__init__()
        dim = config.vocoder_dim
        bins = config.n_fft // 2 + 1
        self.n_mels = config.n_mels
        self.max_log_magnitude = config.max_log_magnitude
        self.embed = nn.Conv1d(config.vocoder_channels, dim, 7, padding=3)
        self.embed_norm = nn.LayerNorm(dim)
        self.blocks = nn.ModuleList(
            ConvNeXtBlock(dim, config.vocoder_hidden, config.vocoder_kernel, 1.0 / config.vocoder_layers)
            for _ in range(config.vocoder_layers)
        )
        self.final_norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, 2 * bins)  # log-magnitude filters: harmonic, noise
        with torch.no_grad():
            # Flat filters at first: random ones would give every harmonic its own random level.
            self.head.weight.mul_(0.1)
            self.head.bias[:bins].fill_(HARMONIC_FILTER_INIT)
            self.head.bias[bins:].fill_(NOISE_FILTER_INIT)
        # Harmonics at 4/n_fft read 1.0 in the Hann STFT: the filters are in the units of a magnitude
        # spectrogram, and their products stay well inside fp16's range.
        self.source = HarmonicSource(config.sample_rate, config.hop_length, amplitude=4.0 / config.n_fft)
        self.istft = InverseSTFT(config.n_fft, config.hop_length)
        self.analysis = ShortTimeSpectrum(self.istft)
        self.minimum_phase = MinimumPhase(MINIMUM_PHASE_LIFTER)
        generator = torch.Generator().manual_seed(NOISE_PHASE_SEED)
        noise_phase = 2 * math.pi * torch.rand(NOISE_PHASE_FRAMES, bins, generator=generator)
        self.register_buffer("noise_real", torch.cos(noise_phase), persistent=False)
        self.register_buffer("noise_imag", torch.sin(noise_phase), persistent=False)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        x = self.embed(features.transpose(1, 2))
        x = self.embed_norm(x.transpose(1, 2)).transpose(1, 2)
        for block in self.blocks:
            x = block(x)
        log_filters = self.head(self.final_norm(x.transpose(1, 2))).clamp(max=self.max_log_magnitude)
        log_harmonic, log_noise = log_filters.chunk(2, dim=-1)  # [B,F,bins] each
        phase = self.minimum_phase(log_harmonic)
        harmonic_filter, noise_filter = torch.exp(log_harmonic), torch.exp(log_noise)

        excitation = self.source(features[..., self.n_mels], features[..., self.n_mels + 1])
        pulse_real, pulse_imag = self.analysis(excitation).chunk(2, dim=-1)
        # The harmonic spectrum times the minimum-phase filter, as a complex product.
        cos_phase, sin_phase = torch.cos(phase), torch.sin(phase)
        harmonic_real = pulse_real * cos_phase - pulse_imag * sin_phase
        harmonic_imag = pulse_real * sin_phase + pulse_imag * cos_phase
        frame_index = torch.arange(features.shape[1], device=features.device) % NOISE_PHASE_FRAMES
        noise_real, noise_imag = self.noise_real[frame_index], self.noise_imag[frame_index]  # [F,bins]
        return self.istft(
            harmonic_filter * harmonic_real + noise_filter * noise_real,
            harmonic_filter * harmonic_imag + noise_filter * noise_imag,
        )


# --------------------------------------------------------------------------------------------------
# The student


class Student(nn.Module):
    """Maps phoneme ids, tags, speaker and controls to audio; knows nothing of text or G2P."""

    def __init__(self, config: StudentConfig, build_unit: UnitBuilder = _build) -> None:
        """``build_unit`` builds each of :meth:`shard_units`, in construction order (see UnitBuilder)."""
        super().__init__()
        self.config = config
        d = config.d_model
        self.phoneme_embedding = nn.Embedding(config.n_symbols, d, padding_idx=0)
        self.tag_embedding = nn.Embedding(config.n_tags, d, padding_idx=0)
        self.speaker_embedding = nn.Embedding(config.n_speakers, d)
        self.encoder = Transformer(config, config.n_encoder_layers, build_unit)
        self.duration_predictor = VariancePredictor(config)
        self.pitch_predictor = VariancePredictor(config)
        self.energy_predictor = VariancePredictor(config)
        self.pitch_embedding = ValueEmbedding(d)
        self.energy_embedding = ValueEmbedding(d)
        self.decoder = Transformer(config, config.n_decoder_layers, build_unit)
        self.frame_out = nn.Linear(d, config.n_mels + 2)  # log-mel, pitch residual, voicing logit
        self.align_projection = nn.Linear(d, config.n_mels)  # token means for MAS
        self.vocoder = build_unit(partial(Vocoder, config))
        # Conditioning starts neutral so an unseen tag or speaker id cannot blow up early training.
        nn.init.normal_(self.tag_embedding.weight, std=0.02)
        nn.init.normal_(self.speaker_embedding.weight, std=0.02)
        with torch.no_grad():
            self.tag_embedding.weight[0].zero_()
            # Start the mel outputs and the alignment means near a typical log-mel level, not at 0.
            self.frame_out.bias[: config.n_mels].fill_(MEL_INIT_LEVEL)
            self.align_projection.bias.fill_(MEL_INIT_LEVEL)
            # About five frames per token before training, so even an untrained graph makes sound.
            self.duration_predictor.out.bias.fill_(math.log1p(5.0))

    def shard_units(self) -> list[nn.Module]:
        """Blocks to wrap with FSDP2 ``fully_shard`` (before wrapping the whole model)."""
        return [*self.encoder.layers, *self.decoder.layers, self.vocoder]

    # ---- shared pieces of training and inference

    def encode(self, phoneme_ids, phoneme_lengths, tag_ids, speaker_ids) -> tuple[torch.Tensor, torch.Tensor]:
        """Token states with tag and speaker added: ids [B,T] … → (states [B,T,D], mask bool [B,T])."""
        token_mask = (
            torch.arange(phoneme_ids.shape[1], device=phoneme_ids.device)[None, :] < phoneme_lengths[:, None]
        )
        states = self.encoder(self.phoneme_embedding(phoneme_ids), token_mask)
        condition = self.tag_embedding(tag_ids).sum(1) + self.speaker_embedding(speaker_ids)  # [B,D]
        return (states + condition.unsqueeze(1)) * token_mask.unsqueeze(-1), token_mask

    def predict_pitch(self, states: torch.Tensor, token_mask: torch.Tensor) -> torch.Tensor:
        """Predicted pitch per token, MIDI note number [B,T]."""
        return PITCH_CENTRE_MIDI + 12.0 * self.pitch_predictor(states, token_mask)

    def predict_energy(self, states: torch.Tensor, token_mask: torch.Tensor) -> torch.Tensor:
        """Predicted energy per token, natural log of RMS [B,T]."""
        return ENERGY_CENTRE + ENERGY_SCALE * self.energy_predictor(states, token_mask)

    def add_variance(self, states, token_mask, pitch_midi, energy) -> torch.Tensor:
        """States plus the pitch and energy embeddings: [B,T,D], values [B,T] → [B,T,D]."""
        return (
            states
            + self.pitch_embedding((pitch_midi - PITCH_CENTRE_MIDI) / 12.0, token_mask)
            + self.energy_embedding((energy - ENERGY_CENTRE) / ENERGY_SCALE, token_mask)
        )

    def decode(
        self, frames, frame_mask, frame_token_pitch
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Frame states [B,F,D] → (log-mel [B,F,80], frame pitch MIDI [B,F], voicing logit [B,F])."""
        out = self.frame_out(self.decoder(frames, frame_mask))
        n_mels = self.config.n_mels
        mel = out[..., :n_mels]
        frame_pitch = frame_token_pitch + out[..., n_mels]
        return mel, frame_pitch, out[..., n_mels + 1]

    @staticmethod
    def vocoder_features(mel, frame_pitch, voicing, frame_mask) -> torch.Tensor:
        """Vocoder input [B,F,82]; frames beyond the mask become silence."""
        features = torch.cat(
            [mel, ((frame_pitch - PITCH_CENTRE_MIDI) / 12.0).unsqueeze(-1), voicing.unsqueeze(-1)], dim=-1
        )
        silence = torch.cat(
            [torch.full_like(mel, SILENCE_LOG_MEL), torch.zeros_like(features[..., -2:])], dim=-1
        )
        return torch.where(frame_mask.unsqueeze(-1), features, silence)

    # ---- inference: the ONNX graph

    def features(
        self, phoneme_ids, phoneme_lengths, tag_ids, speaker_ids, controls, duration_override, pitch_override
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Acoustic model alone: same inputs as :meth:`forward` →
        (vocoder features [B,F,82], frame_mask bool [B,F], durations int64 [B,T])."""
        states, token_mask = self.encode(phoneme_ids, phoneme_lengths, tag_ids, speaker_ids)
        speed = controls[:, 0:1].clamp_min(MIN_SPEED)
        predicted = (torch.exp(self.duration_predictor(states, token_mask)) - 1.0).clamp_min(0.0)
        predicted = scale_tempo(predicted * token_mask, speed)
        durations = torch.where(duration_override >= 0, duration_override, predicted) * token_mask
        # At the trained tempo each token keeps its own rounded prediction (what the teacher's integer
        # durations taught); at any other tempo the running sum is rounded, so the tempo is exact.
        durations = torch.where(speed == 1.0, torch.round(durations).long(), round_cumulative(durations))

        pitch = torch.where(
            pitch_override > 0, pitch_override, self.predict_pitch(states, token_mask) + controls[:, 1:2]
        )
        energy = self.predict_energy(states, token_mask) + controls[:, 2:3] * DB_TO_LOG_RMS
        states = self.add_variance(states, token_mask, pitch, energy)

        n_frames = durations.sum(1).max().clamp_min(1)
        frames, frame_mask, token_index = regulate_length(states, durations, n_frames)
        frame_token_pitch = torch.gather(pitch, 1, token_index)
        mel, frame_pitch, voicing_logit = self.decode(frames, frame_mask, frame_token_pitch)
        features = self.vocoder_features(mel, frame_pitch, torch.sigmoid(voicing_logit), frame_mask)
        return features, frame_mask, durations

    def forward(
        self,
        phoneme_ids: torch.Tensor,
        phoneme_lengths: torch.Tensor,
        tag_ids: torch.Tensor,
        speaker_ids: torch.Tensor,
        controls: torch.Tensor,
        duration_override: torch.Tensor,
        pitch_override: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The inference graph (docs/CONTRACTS.md, schema_version 1).

        Args:
            phoneme_ids: int64 [B,T], 0-padded. phoneme_lengths: int64 [B].
            tag_ids: int64 [B,K], 0-padded. speaker_ids: int64 [B].
            controls: float32 [B,3]: speed (tempo ×, see :func:`scale_tempo`), pitch_semitones, energy_db.
            duration_override: float32 [B,T] frames per token, < 0 = predict (speed not applied).
            pitch_override: float32 [B,T] MIDI note per token, <= 0 = predict.
        Returns:
            audio float32 [B,S] (S = max frames × hop, zero beyond the length),
            audio_lengths int64 [B] samples, durations int64 [B,T] frames per token used.
        """
        features, frame_mask, durations = self.features(
            phoneme_ids, phoneme_lengths, tag_ids, speaker_ids, controls, duration_override, pitch_override
        )
        audio = self.vocoder(features)
        sample_mask = frame_mask.unsqueeze(-1).expand(-1, -1, self.config.hop_length).flatten(1)
        audio = audio * sample_mask.to(audio.dtype)
        return audio, durations.sum(1) * self.config.hop_length, durations

    # ---- training

    def training_losses(
        self, batch: TrainBatch, step: int, vocoder_audio: bool = False
    ) -> dict[str, torch.Tensor]:
        """All scalar losses of one step, "total" included; random only through torch's global RNG.

        With ``vocoder_audio``, the dict also holds the vocoder's training segments: ``VOCODER_GENERATED``
        (its output) and ``VOCODER_TARGET`` (the teacher's audio), float32 [B, L*hop] each, for the
        adversarial phase (distill/adversarial.py).

        Durations, pitch and energy are teacher-forced. Rows without teacher durations are aligned
        by monotonic alignment search. The vocoder trains on random segments of ground-truth features
        (and, from ``config.vocoder_predicted_from_step``, of predicted features for half the rows).
        """
        config = self.config
        states, token_mask = self.encode(
            batch.phoneme_ids, batch.phoneme_lengths, batch.tag_ids, batch.speaker_ids
        )
        n_tokens, n_frames = batch.phoneme_ids.shape[1], batch.mel.shape[1]
        frame_valid = torch.arange(n_frames, device=states.device)[None, :] < batch.frame_lengths[:, None]
        losses: dict[str, torch.Tensor] = {}

        # Durations: the teacher's, or monotonic alignment search for black-box rows.
        durations = batch.durations * token_mask.long()
        needs_alignment = ~batch.has_durations
        if bool(needs_alignment.any()):
            rows = needs_alignment.nonzero().squeeze(1)
            log_likelihood = gaussian_log_likelihood(self.align_projection(states[rows]), batch.mel[rows])
            path = monotonic_alignment_search(
                log_likelihood.detach(), batch.phoneme_lengths[rows], batch.frame_lengths[rows]
            )
            losses["align"] = -(log_likelihood * path).sum() / (
                batch.frame_lengths[rows].sum().clamp_min(1) * config.n_mels
            )
            durations = durations.index_copy(0, rows, durations_from_path(path))
        else:
            losses["align"] = states.new_zeros(())

        # Per-token targets from the frames each token covers.
        _, frame_mask, token_index = regulate_length(states, durations, n_frames)
        frame_mask = frame_mask & frame_valid
        voiced = (batch.f0_hz > 0) & frame_mask
        frame_midi = fill_gaps(hz_to_midi(batch.f0_hz), voiced, DEFAULT_MIDI)
        token_pitch, voiced_frames = token_means(frame_midi, voiced.float(), token_index, n_tokens)
        token_pitch = fill_gaps(token_pitch, (voiced_frames > 0) & token_mask, DEFAULT_MIDI)
        token_energy, covered = token_means(batch.energy, frame_mask.float(), token_index, n_tokens)
        token_energy = fill_gaps(token_energy, (covered > 0) & token_mask, ENERGY_CENTRE)

        log_duration = self.duration_predictor(states, token_mask)
        losses["duration"] = masked_mse(log_duration, torch.log1p(durations.float()), token_mask)
        losses["pitch"] = masked_mse(
            self.predict_pitch(states, token_mask) / 12.0, token_pitch / 12.0, token_mask
        )
        losses["energy"] = masked_mse(self.predict_energy(states, token_mask), token_energy, token_mask)

        # Decoder, teacher-forced.
        states = self.add_variance(states, token_mask, token_pitch, token_energy)
        frames, _, _ = regulate_length(states, durations, n_frames)
        frame_token_pitch = torch.gather(token_pitch, 1, token_index)
        mel, frame_pitch, voicing_logit = self.decode(frames, frame_mask, frame_token_pitch)
        losses["mel"] = masked_l1(mel, batch.mel, frame_mask)
        losses["frame_pitch"] = masked_l1(frame_pitch / 12.0, frame_midi / 12.0, frame_mask)
        losses["voicing"] = masked_bce_with_logits(voicing_logit, voiced.float(), frame_mask)

        # Vocoder on random segments.
        truth = self.vocoder_features(batch.mel, frame_midi, voiced.float(), frame_mask)
        predicted = self.vocoder_features(mel, frame_pitch, torch.sigmoid(voicing_logit), frame_mask).detach()
        segment_features, segment_audio = self._vocoder_segments(batch, truth, predicted, frame_mask, step)
        generated = self.vocoder(segment_features)
        losses["vocoder_stft"] = multi_resolution_stft_loss(generated, segment_audio)
        losses["vocoder_mel"] = mel_l1_loss(generated, segment_audio)
        if vocoder_audio:
            losses[VOCODER_GENERATED], losses[VOCODER_TARGET] = generated, segment_audio

        losses["total"] = (
            config.mel_weight * losses["mel"]
            + config.duration_weight * losses["duration"]
            + config.pitch_weight * losses["pitch"]
            + config.energy_weight * losses["energy"]
            + config.frame_pitch_weight * losses["frame_pitch"]
            + config.voicing_weight * losses["voicing"]
            + config.align_weight * losses["align"]
            + config.vocoder_weight * (losses["vocoder_stft"] + losses["vocoder_mel"])
        )
        return losses

    def _vocoder_segments(self, batch: TrainBatch, truth, predicted, frame_mask, step: int):
        """One random segment per row: features [B,L,82] and the matching audio [B, L*hop]."""
        config = self.config
        segment, hop = config.vocoder_segment_frames, config.hop_length
        batch_size, n_frames = frame_mask.shape
        if step >= config.vocoder_predicted_from_step:
            use_predicted = torch.rand(batch_size, device=truth.device) < 0.5
            features = torch.where(use_predicted[:, None, None], predicted, truth)
        else:
            features = truth
        audio = batch.audio[:, : n_frames * hop].reshape(batch_size, n_frames, hop) * frame_mask.unsqueeze(-1)
        if n_frames < segment:  # pad short batches with silence
            pad = segment - n_frames
            silence = self.vocoder_features(
                features.new_full((batch_size, pad, config.n_mels), SILENCE_LOG_MEL),
                features.new_zeros(batch_size, pad),
                features.new_zeros(batch_size, pad),
                torch.zeros(batch_size, pad, dtype=torch.bool, device=features.device),
            )
            features = torch.cat([features, silence], dim=1)
            audio = torch.cat([audio, audio.new_zeros(batch_size, pad, hop)], dim=1)
            n_frames = segment
        lengths = frame_mask.sum(1)
        latest_start = (lengths - segment).clamp_min(0)
        start = (torch.rand(batch_size, device=features.device) * (latest_start + 1).float()).long()
        index = (start[:, None] + torch.arange(segment, device=features.device)[None, :]).clamp(
            max=n_frames - 1
        )
        segment_features = torch.gather(features, 1, index.unsqueeze(-1).expand(-1, -1, features.shape[-1]))
        segment_audio = torch.gather(audio, 1, index.unsqueeze(-1).expand(-1, -1, hop)).flatten(1)
        return segment_features, segment_audio


def count_parameters(module: nn.Module) -> int:
    """Number of parameters (works on the meta device)."""
    return sum(parameter.numel() for parameter in module.parameters())
