r"""Critic and generator losses of the GAN, the non-saturating GAN and the WGAN.

Sign conventions (stated once, used everywhere)
-----------------------------------------------
* ``real_scores`` and ``fake_scores`` are the raw outputs of the critic, shape ``(B,)``: the
  WGAN critic's :math:`f_w(x)`, or the GAN discriminator's *logit* :math:`s`, with
  :math:`D = \sigma(s)`. The network is the same; only the objective reads it differently.
* Both losses are **minimised** by their optimisers (``loss.backward(); opt.step()``).
* ``estimate`` is the quantity the critic's objective estimates, for plotting:

  WGAN
      :math:`\widehat W = \frac1B\sum_i f(x_i) - \frac1B\sum_i f(g(z_i))`, which the critic
      maximises, so ``critic_loss = -estimate``. This is the 2017 reference code's
      ``Loss_D = errD_real - errD_fake`` up to its sign: "-Loss_D is the W estimate"
      (up to the critic's Lipschitz constant :math:`K`: it estimates :math:`K\cdot W`).
      ``generator_loss`` :math:`= -\frac1B\sum_i f(g(z_i))`; its value alone means little.
  GAN (minimax)
      :math:`L(D, g) = \mathbb E\log D(x) + \mathbb E\log(1 - D(g(z)))`, which the
      discriminator maximises (``critic_loss = -L``) and the generator minimises
      (``generator_loss`` :math:`= \mathbb E \log(1 - D(g(z)))`, which saturates when
      :math:`D(g(z)) \to 0`). Since :math:`\max_D L = 2\,\mathrm{JS} - 2\log 2`,
      ``estimate`` :math:`= \tfrac12 L + \log 2` is a lower bound of the Jensen-Shannon
      divergence: 0 when :math:`D \equiv \tfrac12`, :math:`\log 2` for a perfect discriminator.
  Non-saturating GAN (the :math:`-\log D` trick)
      As the GAN, except ``generator_loss`` :math:`= -\mathbb E\log D(g(z))`.

The logarithms are computed stably from logits: :math:`\log\sigma(s) = -\operatorname{softplus}(-s)`
and :math:`\log(1-\sigma(s)) = -\operatorname{softplus}(s)`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

__all__ = [
    "Objective",
    "WGANObjective",
    "GANObjective",
    "NonSaturatingGANObjective",
    "get_objective",
    "OBJECTIVES",
]


@dataclass(frozen=True)
class Objective:
    """Base class: the two losses of an adversarial game and the estimate the critic yields."""

    name: str = "objective"

    def critic_loss(self, real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
        """Scalar minimised by the critic's (discriminator's) optimiser."""
        raise NotImplementedError

    def generator_loss(self, fake_scores: torch.Tensor) -> torch.Tensor:
        """Scalar minimised by the generator's optimiser."""
        raise NotImplementedError

    def estimate(self, real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
        """The distance estimate the critic's objective yields (see the module docstring)."""
        raise NotImplementedError


@dataclass(frozen=True)
class WGANObjective(Objective):
    r"""Wasserstein GAN: the critic maximises :math:`\mathbb E f(x) - \mathbb E f(g(z))`."""

    name: str = "wgan"

    def critic_loss(self, real_scores, fake_scores):
        return -self.estimate(real_scores, fake_scores)

    def generator_loss(self, fake_scores):
        return -fake_scores.mean()

    def estimate(self, real_scores, fake_scores):
        return real_scores.mean() - fake_scores.mean()


@dataclass(frozen=True)
class GANObjective(Objective):
    r"""Original minimax GAN on logits; ``estimate`` is the JS lower bound :math:`\tfrac12 L + \log 2`."""

    name: str = "gan"

    @staticmethod
    def value(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
        r""":math:`L(D,g) = \mathbb E\log D(x) + \mathbb E\log(1 - D(g(z)))`, from logits."""
        return -F.softplus(-real_scores).mean() - F.softplus(fake_scores).mean()

    def critic_loss(self, real_scores, fake_scores):
        return -self.value(real_scores, fake_scores)

    def generator_loss(self, fake_scores):
        return -F.softplus(fake_scores).mean()  # E log(1 - D(g(z)))

    def estimate(self, real_scores, fake_scores):
        return 0.5 * self.value(real_scores, fake_scores) + math.log(2.0)


@dataclass(frozen=True)
class NonSaturatingGANObjective(GANObjective):
    r"""GAN with the :math:`-\log D(g(z))` generator loss (same discriminator and estimate)."""

    name: str = "nsgan"

    def generator_loss(self, fake_scores):
        return F.softplus(-fake_scores).mean()  # -E log D(g(z))


OBJECTIVES: dict[str, type[Objective]] = {
    "wgan": WGANObjective,
    "gan": GANObjective,
    "nsgan": NonSaturatingGANObjective,
}


def get_objective(name: str) -> Objective:
    """The objective called ``name``: ``"wgan"``, ``"gan"`` (minimax) or ``"nsgan"`` (-log D)."""
    try:
        return OBJECTIVES[name]()
    except KeyError:
        raise ValueError(
            f"unknown objective {name!r}; choose one of {', '.join(OBJECTIVES)}"
        ) from None
