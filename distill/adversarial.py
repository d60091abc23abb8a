"""The vocoder's adversarial phase: least-squares GAN and feature-matching losses, and the step that trains
the discriminators and hands the generator its share.

Opt-in (``steptts distill train --adversarial-from N``): from optimizer step ``N`` on, every step

1. updates the discriminators (:mod:`distill.discriminators`) on the teacher's audio against the
   vocoder's output for the same training segments (detached), with their own AdamW;
2. adds to the student's total loss ``adversarial_weight`` × the least-squares generator loss and
   ``feature_matching_weight`` × the L1 between the discriminators' feature maps of the teacher's and
   the vocoder's audio, both computed by the freshly updated discriminators.

What is fine-tuned: the vocoder's segments are rendered from features that carry no gradient (the
teacher's, or the student's own detached), so the adversarial losses reach the vocoder's parameters
only; the acoustic model keeps learning from its own losses as before. The spectral losses stay on.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

import torch
import torch.distributed as dist
import torch.nn.functional as F

from distill.discriminators import DiscriminatorConfig, DiscriminatorOutput, Discriminators
from distill.model import VOCODER_GENERATED, VOCODER_TARGET

SEED_OFFSET = 7919  # the discriminators' initial weights come from the run's seed + this, on a forked RNG


@dataclass(frozen=True)
class AdversarialConfig:
    """Weights and optimizer of the adversarial phase; the discriminators' shapes."""

    adversarial_weight: float = 0.2  # × the generator's LSGAN loss (mean over discriminators); HiFi-GAN's
    # 1 : 45 against its mel L1, with its sum over 8 discriminators made a mean
    feature_matching_weight: float = 2.0  # × the mean L1 over all feature maps; HiFi-GAN's 2 : 45, likewise
    lr: float = 2e-4  # the discriminators' AdamW learning rate, constant (HiFi-GAN, Vocos)
    betas: tuple[float, float] = (0.8, 0.99)  # their AdamW betas
    weight_decay: float = 0.01  # their AdamW decoupled weight decay
    grad_clip: float = 10.0  # max global grad norm of the discriminators
    window_samples: int | None = 8192  # the discriminators see the first this many samples of each vocoder
    # segment (HiFi-GAN's 8192, 0.37 s at 22050 Hz; segments start at random places); None: all of it
    discriminators: DiscriminatorConfig = field(default_factory=DiscriminatorConfig)  # their shapes


def discriminator_loss(real: list[DiscriminatorOutput], fake: list[DiscriminatorOutput]) -> torch.Tensor:
    """Least-squares loss of the discriminators (real → 1, generated → 0), mean over discriminators."""
    terms = [((1 - r) ** 2).mean() + (f**2).mean() for (r, _), (f, _) in zip(real, fake)]
    return torch.stack(terms).mean()


def generator_loss(fake: list[DiscriminatorOutput]) -> torch.Tensor:
    """Least-squares loss of the generator (its audio → 1), mean over discriminators."""
    return torch.stack([((1 - f) ** 2).mean() for f, _ in fake]).mean()


def feature_matching_loss(real: list[DiscriminatorOutput], fake: list[DiscriminatorOutput]) -> torch.Tensor:
    """Mean over every discriminator layer of the L1 between its feature maps of real and generated audio
    (real ones detached)."""
    terms = [
        F.l1_loss(f, r.detach())
        for (_, real_maps), (_, fake_maps) in zip(real, fake)
        for r, f in zip(real_maps, fake_maps)
    ]
    return torch.stack(terms).mean()


class Adversary:
    """The discriminators and their optimizer; :meth:`step` is the adversarial part of one training step.

    Replicated on every rank: their gradients are averaged across ranks by hand (no DDP wrapper).
    """

    def __init__(self, config: AdversarialConfig, from_step: int, device: torch.device, seed: int) -> None:
        """``from_step``: the first optimizer step (0-based) of the phase. ``seed``: the run's seed."""
        self.config, self.from_step = config, from_step
        # A forked RNG: building them leaves the run's random stream (and so its losses) as it was.
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            torch.manual_seed(seed + SEED_OFFSET)
            self.discriminators = Discriminators(config.discriminators).to(device)
        self.optimizer = torch.optim.AdamW(
            self.discriminators.parameters(), lr=config.lr, betas=config.betas, weight_decay=config.weight_decay
        )

    def active(self, step: int) -> bool:
        """Whether optimizer step ``step`` (0-based) is in the phase."""
        return step >= self.from_step

    def n_parameters(self) -> int:
        return sum(p.numel() for p in self.discriminators.parameters())

    def step(self, losses: dict[str, torch.Tensor], share: float, world_size: int) -> dict[str, torch.Tensor]:
        """Update the discriminators, then add the generator's adversarial losses to ``losses["total"]``.

        Args:
            losses: ``Student.training_losses(batch, step, vocoder_audio=True)`` of this rank; its two
                audio entries (``VOCODER_GENERATED``, ``VOCODER_TARGET``, [B, L*hop]) are taken out, and
                their first ``config.window_samples`` judged.
            share: this rank's share of the global batch (its frames over all ranks'), as the
                student's loss is weighted, so the averaged gradient is the global batch's.
            world_size: ranks in the run.
        Returns:
            ``losses`` without the audio, plus the scalars ``adversarial``, ``feature_matching`` (the
            generator's, before weighting) and ``discriminator``; ``total`` includes the weighted two.
        """
        window = self.config.window_samples
        generated, target = losses.pop(VOCODER_GENERATED)[:, :window], losses.pop(VOCODER_TARGET)[:, :window]
        losses["discriminator"] = self._update_discriminators(generated.detach(), target, share, world_size)
        self.discriminators.requires_grad_(False)  # the generator's losses train the vocoder only
        try:
            fake = self.discriminators(generated)
            with torch.no_grad():
                real = self.discriminators(target)
        finally:
            self.discriminators.requires_grad_(True)
        losses["adversarial"] = generator_loss(fake)
        losses["feature_matching"] = feature_matching_loss(real, fake)
        losses["total"] = (
            losses["total"]
            + self.config.adversarial_weight * losses["adversarial"]
            + self.config.feature_matching_weight * losses["feature_matching"]
        )
        return losses

    def _update_discriminators(
        self, generated: torch.Tensor, target: torch.Tensor, share: float, world_size: int
    ) -> torch.Tensor:
        """One AdamW step of the discriminators on audio [B,S] each; returns their loss (detached)."""
        self.optimizer.zero_grad(set_to_none=True)
        # One pass over both halves: the same numbers as two passes, a third less time on a CPU.
        outputs, n = self.discriminators(torch.cat([target, generated])), target.shape[0]
        real = [(logits[:n], [f[:n] for f in features]) for logits, features in outputs]
        fake = [(logits[n:], [f[n:] for f in features]) for logits, features in outputs]
        loss = discriminator_loss(real, fake)
        (loss * (share * world_size)).backward()
        parameters = list(self.discriminators.parameters())
        if world_size > 1:
            for parameter in parameters:
                dist.all_reduce(parameter.grad)
                parameter.grad /= world_size
        torch.nn.utils.clip_grad_norm_(parameters, self.config.grad_clip)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        return loss.detach()

    def state_dict(self) -> dict:
        """The checkpoint's ``adversarial`` entry: config, discriminator weights (CPU), optimizer state."""
        return {
            "config": asdict(self.config),
            "from_step": self.from_step,
            "discriminators": {k: v.detach().cpu() for k, v in self.discriminators.state_dict().items()},
            "optimizer": self.optimizer.state_dict(),
        }

    def load_state_dict(self, state: dict) -> None:
        self.discriminators.load_state_dict(state["discriminators"])
        self.optimizer.load_state_dict(state["optimizer"])


def _discriminator_config(saved: dict) -> DiscriminatorConfig:
    """A DiscriminatorConfig from its ``asdict`` form (lists, after a round trip, become tuples)."""
    def as_tuple(value):
        return tuple(as_tuple(v) for v in value) if isinstance(value, (list, tuple)) else value

    return DiscriminatorConfig(**{key: as_tuple(value) for key, value in saved.items()})


def for_run(
    config: AdversarialConfig, from_step: int | None, checkpoint: dict | None, device: torch.device, seed: int
) -> Adversary | None:
    """The run's adversary: None without the phase; restored from ``checkpoint["adversarial"]`` when the
    resumed checkpoint has one (the discriminators' shapes are the checkpoint's), else fresh (a new
    run, ``--init-from``, or a checkpoint saved without the phase)."""
    if from_step is None:
        return None
    saved = (checkpoint or {}).get("adversarial")
    if saved is None:
        return Adversary(config, from_step, device, seed)
    config = replace(config, discriminators=_discriminator_config(saved["config"]["discriminators"]))
    adversary = Adversary(config, from_step, device, seed)
    adversary.load_state_dict(saved)
    return adversary
