r"""The two updates: one critic step and one generator step (Algorithm 1, lines 5-7 and 9-11).

:func:`critic_step` and :func:`generator_step` are the only places where weights move; the
trainer (:mod:`wganlib.train`), :func:`wganlib.critic_fit.fit_critic` and
:mod:`wganlib.thetafit` all call them. What they update with is built from a config in
:mod:`wganlib.build`. The names that used to live here (``fit_critic``, ``critic_steps_at``,
``make_optimizer``, ``make_lipschitz``, ``weight_max_abs``, ``FIT_HOST_COLUMNS``,
``FIT_DEVICE_COLUMNS``) are still importable from this module.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
from torch import nn

from wganlib.lipschitz import LipschitzMethod
from wganlib.objectives import Objective
from wganlib.precision import Precision

_FULL = Precision("none")

__all__ = ["CriticStep", "critic_step", "generator_step"]

#: Names that moved, and the module that holds them now.
_MOVED = {
    "fit_critic": "wganlib.critic_fit",
    "FIT_HOST_COLUMNS": "wganlib.critic_fit",
    "FIT_DEVICE_COLUMNS": "wganlib.critic_fit",
    "critic_steps_at": "wganlib.build",
    "make_optimizer": "wganlib.build",
    "make_lipschitz": "wganlib.build",
    "weight_max_abs": "wganlib.lipschitz",
}


def __getattr__(name: str) -> Any:
    if name in _MOVED:
        import importlib

        return getattr(importlib.import_module(_MOVED[name]), name)
    raise AttributeError(f"module 'wganlib.steps' has no attribute {name!r}")


def _grad_norm(module: nn.Module) -> torch.Tensor:
    norms = [p.grad.norm() for p in module.parameters() if p.grad is not None]
    if not norms:
        return torch.zeros((), device=next(module.parameters()).device)
    return torch.stack(norms).norm()


class CriticStep(NamedTuple):
    """Detached scalars of one critic step (``estimate``/``grad_norm`` only with ``stats``)."""

    loss: torch.Tensor
    penalty: torch.Tensor
    estimate: torch.Tensor | None
    grad_norm: torch.Tensor | None


def critic_step(
    critic: nn.Module,
    optimizer: torch.optim.Optimizer,
    objective: Objective,
    lipschitz: LipschitzMethod,
    real: torch.Tensor,
    fake: torch.Tensor,
    *,
    penalty_generator: torch.Generator | None = None,
    stats: bool = False,
    precision: Precision | None = None,
) -> CriticStep:
    r"""One critic update on a real and a (detached) fake batch: Algorithm 1, lines 5-7.

    Minimises ``objective.critic_loss(f(real), f(fake)) + lipschitz.penalty(...)`` with one
    optimiser step, between the Lipschitz method's ``before``/``after`` hooks (clipping).
    ``precision`` (:class:`wganlib.precision.Precision`) runs the forward passes under autocast
    and scales the loss for fp16; the scores are cast to float32 before the losses.
    """
    prec = precision if precision is not None else _FULL
    lipschitz.before_critic_step(critic)
    with prec.autocast():
        real_scores, fake_scores = critic(real), critic(fake)  # (B,), (B,)
    real_scores, fake_scores = real_scores.float(), fake_scores.float()
    loss = objective.critic_loss(real_scores, fake_scores)
    if lipschitz.has_penalty:
        with prec.penalty_context():
            penalty = lipschitz.penalty(critic, real, fake, penalty_generator).float()
        total = loss + penalty
    else:
        penalty, total = torch.zeros((), device=loss.device), loss
    optimizer.zero_grad(set_to_none=True)
    prec.backward(total)
    if stats:
        prec.unscale_(optimizer)
    grad_norm = _grad_norm(critic) if stats else None
    prec.step(optimizer)
    lipschitz.after_critic_step(critic)
    estimate = None
    if stats:
        with torch.no_grad():
            estimate = objective.estimate(real_scores.detach(), fake_scores.detach())
    return CriticStep(loss.detach(), penalty.detach(), estimate, grad_norm)


def generator_step(
    generator: nn.Module,
    critic: nn.Module,
    optimizer: torch.optim.Optimizer,
    objective: Objective,
    z: torch.Tensor,
    *,
    precision: Precision | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    r"""One generator update (Algorithm 1, lines 9-11); returns (loss, gradient norm), detached.

    The critic's parameters stop requiring gradients for the step (only :math:`\theta` moves),
    which skips the critic's weight gradients in the backward pass.
    """
    params = list(critic.parameters())
    flags = [p.requires_grad for p in params]
    for p in params:
        p.requires_grad_(False)
    try:
        prec = precision if precision is not None else _FULL
        with prec.autocast():
            scores = critic(generator(z))
        loss = objective.generator_loss(scores.float())
        optimizer.zero_grad(set_to_none=True)
        prec.backward(loss)
        prec.unscale_(optimizer)
        grad_norm = _grad_norm(generator)
        prec.step(optimizer)
    finally:
        for p, flag in zip(params, flags, strict=True):
            p.requires_grad_(flag)
    return loss.detach(), grad_norm
