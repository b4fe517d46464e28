r"""Measurements of toy generators and critics, member by member.

A run may train ``K`` members side by side (:mod:`wganlib.ensemble`): rows come in ``K``
contiguous blocks, block ``k`` belonging to member ``k``. These functions measure each member:

* :func:`member_samples`: ``n`` samples of each member, ``(K, n, d)``;
* :func:`evaluate`: VEEGAN-protocol mode coverage (:func:`wganlib.metrics.mode_coverage`) and the
  exact :math:`W_1` (POT) to a fresh target sample;
* :func:`ring_error`: the mean distance to the circle of the 8 Gaussians;
* :func:`member_estimates`: the quantity each member's critic estimates, on fresh samples
  (WGAN: :math:`\frac1n\sum f(x_i) - \frac1n\sum f(g(z_i))`; GAN: the Jensen-Shannon lower
  bound :math:`\tfrac12 L(D, g) + \log 2`);
* :func:`member_critic_on_grid`: one member's critic on a square grid (for contours);
* :class:`Tracker`: a training callback that records mode coverage during training.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from wganlib import toy
from wganlib.history import Callback

__all__ = [
    "MIXTURES",
    "EVAL_SEED",
    "TARGET_SEED",
    "member_samples",
    "ring_error",
    "evaluate",
    "member_estimates",
    "member_critic_on_grid",
    "Tracker",
]

#: Data sets with mode centres (mode coverage is measured on these only).
MIXTURES: tuple[str, ...] = ("8gaussians", "25gaussians")
EVAL_SEED = 12_345  # the prior draw of the evaluation samples
TARGET_SEED = 54_321  # the target draws W1 is measured against


def _members(run: Any) -> int:
    return int(getattr(run.config, "members", 1))


def member_samples(run: Any, n: int, *, seed: int = EVAL_SEED) -> torch.Tensor:
    """``n`` generator samples of each member of ``run``: a tensor ``(members, n, d)`` on the CPU.

    One prior draw (``seed``) of ``members * n`` rows goes through the ensemble; block ``k`` is
    member ``k``'s. A plain run (``members = 1``) gives shape ``(1, n, d)``.
    """
    k = getattr(run.config, "members", 1)
    x = run.sample(k * n, seed=seed).detach().cpu()
    return x.reshape(k, n, -1)


def ring_error(x: Any, radius: float | None = None) -> float:
    r"""Mean distance of 2-D samples to the circle of the 8 Gaussians, :math:`\frac1n\sum_i
    \bigl|\,\|x_i\| - r\bigr|`.

    ``radius`` defaults to the radius of the ``"8gaussians"`` centres. It measures how well the
    samples lie on the circle, whatever their angle: it is small for a ring and for the eight
    bumps alike (for the target itself it is about :math:`\sigma\sqrt{2/\pi}`).
    """
    x = torch.as_tensor(x, dtype=torch.float64)
    if x.dim() != 2 or x.shape[1] != 2 or len(x) == 0:
        raise ValueError(f"x must have shape (n, 2) with n >= 1, got {tuple(x.shape)}")
    r = float(toy.centers("8gaussians").norm(dim=1)[0]) if radius is None else float(radius)
    return float((x.norm(dim=1) - r).abs().mean())


def evaluate(
    samples: Any, data: str, *, n_w1: int = 1000, target_seed: int = TARGET_SEED
) -> dict[str, float | int | None]:
    """Metrics of one generator's ``samples`` ``(n, 2)`` against toy distribution ``data``.

    Returns ``modes``, ``high_quality`` (a fraction), ``reverse_kl`` (None when no sample is of
    high quality) for mixtures (None otherwise), and ``w1``: exact :math:`W_1` between the first
    ``n_w1`` samples and ``n_w1`` target samples drawn with ``target_seed``.
    """
    from wganlib.distances import exact_w1
    from wganlib.metrics import mode_coverage

    x = torch.as_tensor(samples).detach().cpu().float()
    if len(x) < n_w1:
        raise ValueError(f"need at least n_w1={n_w1} samples, got {len(x)}")
    out: dict[str, float | int | None] = {"modes": None, "high_quality": None, "reverse_kl": None}
    if data in MIXTURES:
        cov = mode_coverage(x, toy.centers(data), toy.mode_std(data))
        kl = cov.reverse_kl if math.isfinite(cov.reverse_kl) else None
        out.update(modes=cov.modes, high_quality=cov.high_quality, reverse_kl=kl)
    target = toy.sample(data, n_w1, generator=torch.Generator().manual_seed(target_seed))
    out["w1"] = exact_w1(x[:n_w1], target)
    return out


class Tracker:
    r"""A training callback that measures every member every ``every`` generator iterations.

    For each check it appends to ``records`` one dict per member: ``iteration``, ``member``,
    ``modes``, ``high_quality``, ``reverse_kl`` (mixtures) and ``ring_error`` (8 Gaussians),
    from ``n`` samples; with ``keep_samples`` the samples themselves go to ``samples``
    (``{iteration: tensor (members, n, 2)}``), for pictures of training. Use it as
    ``train(config, callbacks=[tracker.callback()])``.
    """

    def __init__(self, data: str, every: int, *, n: int = 2500, keep_samples: bool = False):
        if every <= 0:
            raise ValueError(f"every must be positive, got {every}")
        self.data, self.every, self.n, self.keep_samples = data, int(every), int(n), keep_samples
        self.records: list[dict[str, Any]] = []
        self.samples: dict[int, torch.Tensor] = {}

    def __call__(self, run: Any, iteration: int) -> None:
        from wganlib.metrics import mode_coverage

        xs = member_samples(run, self.n)
        if self.keep_samples:
            self.samples[iteration] = xs
        for k, x in enumerate(xs):
            rec: dict[str, Any] = {"iteration": int(iteration), "member": k}
            if self.data in MIXTURES:
                cov = mode_coverage(x, toy.centers(self.data), toy.mode_std(self.data))
                rec.update(modes=cov.modes, high_quality=cov.high_quality)
                rec["reverse_kl"] = cov.reverse_kl if math.isfinite(cov.reverse_kl) else None
            if self.data == "8gaussians":
                rec["ring_error"] = ring_error(x)
            self.records.append(rec)

    def callback(self) -> Callback:
        """A :class:`~wganlib.history.Callback` that runs this tracker (and after the last step)."""
        return Callback(self.every, self, at_end=True, sync=False)


@torch.no_grad()
def member_estimates(run: Any, n: int, *, seed: int = EVAL_SEED) -> list[float]:
    r"""Each member's critic estimate on ``n`` fresh generator and ``n`` target samples.

    Uses the run's objective (:meth:`wganlib.objectives.Objective.estimate`); the critic is put
    in eval mode for the measurement (spectral norm's power iteration does not advance) and
    restored. The target sample (drawn with ``TARGET_SEED + seed``) is the same for every
    member; each member sees its own generator's samples.
    """
    k = _members(run)
    fake = run.sample(k * n, seed=seed)  # (K n, d), block k from member k
    g = torch.Generator().manual_seed(TARGET_SEED + seed)
    real = toy.sample(run.config.data, n, generator=g).to(fake.device).repeat(k, 1)
    critic = run.critic
    was_training = critic.training
    critic.eval()
    try:
        real_scores = critic(real).reshape(k, n)
        fake_scores = critic(fake).reshape(k, n)
    finally:
        critic.train(was_training)
    return [float(run.objective.estimate(real_scores[i], fake_scores[i])) for i in range(k)]


@torch.no_grad()
def member_critic_on_grid(
    run: Any, lo: float, hi: float, size: int = 64, *, member: int = 0
) -> np.ndarray:
    """Member ``member``'s critic on a ``size x size`` grid over ``[lo, hi]^2``.

    Returns an array ``(size, size)`` whose entry ``[i, j]`` is the critic at
    ``(x_j, y_i)`` (rows along y, as ``matplotlib``'s ``contourf`` expects).
    """
    k = _members(run)
    if not 0 <= member < k:
        raise ValueError(f"member must be in [0, {k}), got {member}")
    axis = torch.linspace(lo, hi, size)
    yy, xx = torch.meshgrid(axis, axis, indexing="ij")
    pts = torch.stack([xx.reshape(-1), yy.reshape(-1)], dim=1)  # (size^2, 2)
    device = next(run.critic.parameters()).device
    critic = run.critic
    was_training = critic.training
    critic.eval()
    try:
        scores = critic(pts.repeat(k, 1).to(device)).reshape(k, -1)[member]
    finally:
        critic.train(was_training)
    return scores.cpu().double().numpy().reshape(size, size)
