r"""Looking inside a critic: its weights, its gradients layer by layer, its gradient on interpolates.

Measurements for comparing ways of making a critic Lipschitz (:mod:`wganlib.lipschitz`):

* :func:`weight_values` and :func:`fraction_at_bound`: under weight clipping the weights pile up
  at :math:`\pm c` (Gulrajani et al. 2017, their Figure 1b);
* :func:`layer_grad_norms`: the norm of :math:`\partial \mathcal L / \partial W_\ell` for each
  Linear/Conv layer :math:`\ell` of one backward pass of the WGAN critic loss
  :math:`\mathcal L = \frac1B\sum_i f(\tilde x_i) - \frac1B\sum_i f(x_i)`, input layer first --
  with clipping these vanish or explode with depth (their Figure 1a);
* :func:`interpolate_grad_norms`: :math:`\|\nabla_x f(\hat x_i)\|_2` at the points
  :math:`\hat x_i` where the gradient penalty looks (:func:`wganlib.lipschitz.interpolates`).

All functions leave the critic's parameters and ``.grad`` fields as they found them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from wganlib.lipschitz import clipped_parameters, interpolates

__all__ = [
    "weight_values",
    "fraction_at_bound",
    "weighted_layers",
    "layer_grad_norms",
    "interpolate_grad_norms",
    "CriticSummary",
    "summarize_critic",
]

_WEIGHTED = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose2d)


def weight_values(module: nn.Module, *, include_batch_norm: bool = True) -> np.ndarray:
    """All the scalars that weight clipping clamps (:func:`~wganlib.lipschitz.clipped_parameters`),
    flattened into one float64 array."""
    params = clipped_parameters(module, include_batch_norm=include_batch_norm)
    if not params:
        raise ValueError("the module has no parameters")
    return torch.cat([p.detach().reshape(-1).double().cpu() for _, p in params]).numpy()


def fraction_at_bound(
    module: nn.Module, c: float, *, rtol: float = 0.01, include_batch_norm: bool = True
) -> float:
    r"""Fraction of the clipped scalars :math:`w` with :math:`|w| \ge (1 - \mathrm{rtol})\,c`:
    those sitting (within ``rtol``) at the clipping bound :math:`\pm c`."""
    if c <= 0:
        raise ValueError(f"the clipping bound c must be positive, got {c}")
    w = np.abs(weight_values(module, include_batch_norm=include_batch_norm))
    return float((w >= (1.0 - rtol) * c).mean())


def weighted_layers(module: nn.Module) -> list[tuple[str, nn.Module]]:
    """The ``(name, layer)`` pairs of the Linear and Conv layers, in forward (registration) order."""
    return [(n, m) for n, m in module.named_modules() if isinstance(m, _WEIGHTED)]


def _weight(layer: nn.Module) -> torch.Tensor:
    """The weight the layer computes with (the original one under a parametrisation)."""
    p = getattr(layer, "parametrizations", None)
    if p is not None and "weight" in p:
        return p.weight.original
    return layer.weight


def layer_grad_norms(
    critic: nn.Module, real: torch.Tensor, fake: torch.Tensor
) -> list[tuple[str, float]]:
    r"""Frobenius norms :math:`\|\partial \mathcal L / \partial W_\ell\|` of the WGAN critic loss
    :math:`\mathcal L = \operatorname{mean} f(\text{fake}) - \operatorname{mean} f(\text{real})`
    for each Linear/Conv weight, input layer first (:func:`weighted_layers`).

    One forward and backward pass in the critic's current mode; existing ``.grad`` fields are
    left untouched (the gradients are computed with :func:`torch.autograd.grad`).
    """
    layers = weighted_layers(critic)
    if not layers:
        raise ValueError("the critic has no Linear or Conv layers")
    weights = [_weight(m) for _, m in layers]
    with torch.enable_grad():
        loss = critic(fake).mean() - critic(real).mean()
        grads = torch.autograd.grad(loss, weights, allow_unused=True)
    return [
        (name, 0.0 if g is None else float(g.norm()))
        for (name, _), g in zip(layers, grads, strict=True)
    ]


def interpolate_grad_norms(
    critic: nn.Module,
    real: torch.Tensor,
    fake: torch.Tensor,
    *,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    r""":math:`\|\nabla_x f(\hat x_i)\|_2` at :math:`\hat x_i = t_i x_i + (1-t_i)\tilde x_i`,
    :math:`t_i \sim U[0, 1]` per example, norm over all non-batch dimensions: a ``(B,)`` tensor.

    These are the norms the gradient penalty pushes to 1 (WGAN-GP) or below 1 (WGAN-LP).
    Put a critic with batch norm in ``eval()`` mode first.
    """
    x_hat = interpolates(real, fake, generator=generator).requires_grad_(True)
    with torch.enable_grad():
        (grad,) = torch.autograd.grad(critic(x_hat).sum(), x_hat)
    return grad.flatten(start_dim=1).norm(dim=1).detach()


@dataclass(frozen=True)
class CriticSummary:
    r"""What :func:`summarize_critic` measured on one critic.

    ``estimate``: :math:`\frac1n\sum f(x_i) - \frac1m\sum f(\tilde x_j)`; ``lipschitz``: the
    largest :math:`\|\nabla f\|` seen at the real, fake and interpolated points (a lower bound of
    the Lipschitz constant :math:`K`); ``interpolate_norms``: the ``(n,)`` gradient norms on the
    interpolates; ``layer_norms``: :func:`layer_grad_norms` values, input layer first;
    ``at_bound``: :func:`fraction_at_bound` for the clipping bound ``c`` (None without one).
    """

    estimate: float
    lipschitz: float
    interpolate_norms: np.ndarray
    layer_norms: tuple[float, ...]
    at_bound: float | None


def summarize_critic(
    critic: nn.Module,
    real: torch.Tensor,
    fake: torch.Tensor,
    *,
    c: float | None = None,
    seed: int = 0,
) -> CriticSummary:
    """Measure a trained critic on held-out ``real`` and ``fake`` samples of equal size.

    Runs the critic in eval mode (restoring its mode afterwards); the interpolation weights come
    from ``seed``. See :class:`CriticSummary` for the fields.
    """
    was_training = critic.training
    critic.eval()
    try:
        gen = torch.Generator(real.device).manual_seed(seed)
        with torch.no_grad():
            estimate = float(critic(real).mean() - critic(fake).mean())
        inter = interpolate_grad_norms(critic, real, fake, generator=gen)
        ends = torch.cat([real, fake]).detach().requires_grad_(True)
        with torch.enable_grad():
            (grad,) = torch.autograd.grad(critic(ends).sum(), ends)
        k = max(float(inter.max()), float(grad.flatten(start_dim=1).norm(dim=1).max()))
        layers = ()
        if weighted_layers(critic):
            layers = tuple(v for _, v in layer_grad_norms(critic, real, fake))
        at = None if c is None else fraction_at_bound(critic, c)
    finally:
        critic.train(was_training)
    return CriticSummary(estimate, k, inter.cpu().numpy(), layers, at)
