"""Monotonic alignment search (Glow-TTS style) for utterances whose teacher gave no durations.

The encoder's output is projected to mel space (one Gaussian mean per token, unit variance); the
log-likelihood of every frame under every token forms a [T, F] matrix, and dynamic programming finds
the monotonic path, each token taking at least one frame, that maximises it. The path's counts per
token are the durations. The loop runs over frames only; tokens and the batch are vectorised.
"""

from __future__ import annotations

import math

import torch

_NEG = -1e9  # finite "minus infinity": keeps max() and comparisons free of NaN


def gaussian_log_likelihood(means: torch.Tensor, mel: torch.Tensor) -> torch.Tensor:
    """log N(mel_f; mean_t, I) for every token and frame.

    Args:
        means: [B,T,C] per-token means in log-mel space.
        mel: [B,F,C] target frames.
    Returns:
        [B,T,F] log-likelihoods (nats, summed over the C channels).
    """
    channels = means.shape[-1]
    cross = torch.matmul(means, mel.transpose(1, 2))  # [B,T,F]
    return (
        cross
        - 0.5 * (means**2).sum(-1, keepdim=True)
        - 0.5 * (mel**2).sum(-1).unsqueeze(1)
        - 0.5 * channels * math.log(2 * math.pi)
    )


@torch.no_grad()
def monotonic_alignment_search(
    log_likelihood: torch.Tensor, token_lengths: torch.Tensor, frame_lengths: torch.Tensor
) -> torch.Tensor:
    """Best monotonic path through a [T,F] score matrix per utterance.

    Every token takes at least one frame, so each row needs frame_lengths >= token_lengths.

    Args:
        log_likelihood: [B,T,F] scores.
        token_lengths: int64 [B] valid tokens per row.
        frame_lengths: int64 [B] valid frames per row.
    Returns:
        float [B,T,F] path, 1 where frame f belongs to token t, 0 elsewhere and in padding.
    """
    batch, n_tokens, n_frames = log_likelihood.shape
    device = log_likelihood.device
    scores = log_likelihood.float()
    token_index = torch.arange(n_tokens, device=device)
    frame_index = torch.arange(n_frames, device=device)
    valid = (token_index[None, :, None] < token_lengths[:, None, None]) & (
        frame_index[None, None, :] < frame_lengths[:, None, None]
    )
    scores = torch.where(valid, scores, torch.full_like(scores, _NEG))

    # best[b, t, f]: best total score of a path that ends on token t at frame f.
    best = torch.full_like(scores, _NEG)
    best[:, 0, 0] = scores[:, 0, 0]
    neg_row = torch.full((batch, 1), _NEG, device=device)
    for frame in range(1, n_frames):
        stay = best[:, :, frame - 1]
        advance = torch.cat([neg_row, stay[:, :-1]], dim=1)
        best[:, :, frame] = scores[:, :, frame] + torch.maximum(stay, advance)

    path = torch.zeros_like(scores)
    rows = torch.arange(batch, device=device)
    token = (token_lengths - 1).clamp_min(0).clone()
    for frame in range(n_frames - 1, -1, -1):
        active = frame < frame_lengths
        path[rows[active], token[active], frame] = 1.0
        if frame == 0:
            break
        previous = best[rows, token, frame - 1]
        previous_advance = best[rows, (token - 1).clamp_min(0), frame - 1]
        # Step up a token when forced (as many frames left as tokens) or when the diagonal scores better.
        move = (token > 0) & ((token == frame) | (previous_advance > previous))
        token = token - (move & active).long()
    return path


def durations_from_path(path: torch.Tensor) -> torch.Tensor:
    """Frames per token of an alignment path: [B,T,F] → int64 [B,T]."""
    return path.sum(-1).round().long()
