"""Monotonic alignment search recovers known durations, and the student trains on rows without them."""

from __future__ import annotations

import torch

from distill.alignment import durations_from_path, gaussian_log_likelihood, monotonic_alignment_search
from distill.model import Student, make_config
from tests.student_helpers import one_torch_thread, synthetic_batch  # noqa: F401 (autouse fixture)


def _synthetic_alignment(generator: torch.Generator, n_tokens: int, channels: int = 16):
    durations = torch.randint(1, 9, (n_tokens,), generator=generator)
    means = torch.randn(n_tokens, channels, generator=generator) * 3.0
    frames = means.repeat_interleave(durations, dim=0)
    frames = frames + 0.3 * torch.randn(frames.shape, generator=generator)
    return durations, means, frames


def test_mas_recovers_known_durations_in_a_padded_batch() -> None:
    generator = torch.Generator().manual_seed(1)
    rows = [_synthetic_alignment(generator, n) for n in (12, 7, 20)]
    n_tokens = max(len(d) for d, _, _ in rows)
    n_frames = max(len(f) for _, _, f in rows)
    means = torch.zeros(len(rows), n_tokens, 16)
    frames = torch.zeros(len(rows), n_frames, 16)
    for b, (_, m, f) in enumerate(rows):
        means[b, : len(m)] = m
        frames[b, : len(f)] = f
    token_lengths = torch.tensor([len(d) for d, _, _ in rows])
    frame_lengths = torch.tensor([len(f) for _, _, f in rows])

    path = monotonic_alignment_search(gaussian_log_likelihood(means, frames), token_lengths, frame_lengths)
    durations = durations_from_path(path)
    for b, (wanted, _, _) in enumerate(rows):
        assert durations[b, : len(wanted)].tolist() == wanted.tolist()
        assert int(durations[b, len(wanted) :].sum()) == 0
    # Monotonic, one token per valid frame, nothing in padding.
    assert torch.equal(path.sum(1).sum(1).long(), frame_lengths)
    assert bool((path.sum(1) <= 1).all())


def test_mas_gives_every_token_a_frame_when_the_scores_say_otherwise() -> None:
    # Token 1 scores badly everywhere, yet the path must still pass through it.
    scores = torch.zeros(1, 3, 5)
    scores[0, 1] = -100.0
    path = monotonic_alignment_search(scores, torch.tensor([3]), torch.tensor([5]))
    durations = durations_from_path(path)[0].tolist()
    assert durations[1] == 1 and sum(durations) == 5 and min(durations) >= 1


def test_training_step_without_teacher_durations_aligns_and_learns() -> None:
    torch.manual_seed(0)
    batch, n_symbols = synthetic_batch(batch_size=3, with_durations=False)
    student = Student(make_config("tiny", n_symbols=n_symbols, n_tags=4, n_speakers=2))
    optimizer = torch.optim.AdamW(student.parameters(), lr=3e-3)
    first = None
    for step in range(15):
        losses = student.training_losses(batch, step)
        assert losses["align"] > 0 and torch.isfinite(losses["total"])
        optimizer.zero_grad()
        losses["total"].backward()
        optimizer.step()
        first = first if first is not None else {k: float(v.detach()) for k, v in losses.items()}
    assert float(losses["align"].detach()) < first["align"]
    assert float(losses["total"].detach()) < first["total"]
    # The projection that MAS uses receives gradient.
    assert student.align_projection.weight.grad is not None
    assert float(student.align_projection.weight.grad.abs().sum()) > 0
