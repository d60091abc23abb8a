"""Synthetic utterances for the student's tests: each token is a tone or a noise burst of known length.

Every symbol has its own pitch (or is unvoiced noise) and its own duration, so a model can learn the
mapping in a few steps, and the real feature extractor (WORLD F0, log-mel) runs on real waveforms.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
import torch

from distill.features import HOP, SAMPLE_RATE_HZ, extract_features
from distill.model import TrainBatch


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread() -> Iterator[None]:
    """Tiny models run fastest on one thread; on a shared 2-core machine two threads thrash (10× slower)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


N_SYMBOLS = 12  # id 0 is padding
_PITCH_HZ = {i: 110.0 * 2 ** ((i % 7) / 6) for i in range(1, N_SYMBOLS)}
_UNVOICED = {3, 8}


def symbol_frames(symbol: int) -> int:
    return 3 + symbol % 5


def render(ids: list[int], rng: np.random.Generator) -> np.ndarray:
    """Audio of a token sequence: float32 [sum of frames × 256]."""
    pieces = []
    phase = 0.0
    for symbol in ids:
        n = symbol_frames(symbol) * HOP
        if symbol in _UNVOICED:
            pieces.append(0.05 * rng.standard_normal(n))
            continue
        f0 = _PITCH_HZ[symbol]
        t = np.arange(n) / SAMPLE_RATE_HZ
        tone = sum(0.3 / k * np.sin(phase + 2 * np.pi * k * f0 * t) for k in range(1, 6))
        phase += 2 * np.pi * f0 * n / SAMPLE_RATE_HZ
        pieces.append(tone)
    return np.concatenate(pieces).astype(np.float32)


def synthetic_batch(
    batch_size: int = 4, with_durations: bool = True, seed: int = 0
) -> tuple[TrainBatch, int]:
    """A padded TrainBatch of random token strings and the number of symbols (ids 1..N_SYMBOLS-1)."""
    rng = np.random.default_rng(seed)
    sequences = [list(rng.integers(1, N_SYMBOLS, size=int(rng.integers(6, 14)))) for _ in range(batch_size)]
    audios = [render(ids, rng) for ids in sequences]
    features = [extract_features(audio) for audio in audios]
    n_tokens = max(len(ids) for ids in sequences)
    n_frames = max(len(f["mel"]) for f in features)
    phoneme_ids = torch.zeros(batch_size, n_tokens, dtype=torch.long)
    durations = torch.zeros(batch_size, n_tokens, dtype=torch.long)
    mel = torch.full((batch_size, n_frames, 80), float(np.log(1e-5)))
    f0_hz = torch.zeros(batch_size, n_frames)
    energy = torch.zeros(batch_size, n_frames)
    audio = torch.zeros(batch_size, n_frames * HOP)
    for b, (ids, wave, feats) in enumerate(zip(sequences, audios, features)):
        phoneme_ids[b, : len(ids)] = torch.tensor(ids)
        durations[b, : len(ids)] = torch.tensor([symbol_frames(s) for s in ids])
        frames = len(feats["mel"])
        mel[b, :frames] = torch.from_numpy(feats["mel"])
        f0_hz[b, :frames] = torch.from_numpy(feats["f0_hz"])
        energy[b, :frames] = torch.from_numpy(feats["energy"])
        audio[b, : len(wave)] = torch.from_numpy(wave)
    batch = TrainBatch(
        phoneme_ids=phoneme_ids,
        phoneme_lengths=torch.tensor([len(ids) for ids in sequences]),
        tag_ids=torch.tensor([[1, 0], [2, 3]] * (batch_size // 2) + [[0, 0]] * (batch_size % 2)),
        speaker_ids=torch.arange(batch_size) % 2,
        durations=durations,
        has_durations=torch.full((batch_size,), with_durations),
        mel=mel,
        f0_hz=f0_hz,
        energy=energy,
        frame_lengths=torch.tensor([len(f["mel"]) for f in features]),
        audio=audio,
    )
    return batch, N_SYMBOLS


def fit(student, batch: TrainBatch, steps: int, lr: float = 3e-3):
    """``student`` after ``steps`` AdamW steps on one batch (a few seconds for a tiny one)."""
    optimizer = torch.optim.AdamW(student.parameters(), lr=lr)
    for step in range(steps):
        losses = student.training_losses(batch, step)
        optimizer.zero_grad()
        losses["total"].backward()
        optimizer.step()
    return student
