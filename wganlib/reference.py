r"""Readable references: the paper's Algorithm 1 line for line, and the same loop with WGAN-GP.

These are for reading (the book shows them) and for checking: the trainer
(:func:`wganlib.train.train`) with the matching config ends with the same parameters
(``tests/test_reference.py``), and ``benchmarks/bench_trainer.py`` times it against them.

Random numbers are drawn in this order, which the trainer follows: for each critic step a real
batch (``sample_real``), then a prior batch (``sample_prior``), then, with the penalty, the
interpolation weights :math:`t` (``penalty_generator``); then one prior batch for the
generator step. Pass samplers bound to separate generators (as :class:`wganlib.train.Run`
has: ``run.sample_real``, ``run.sample_prior``, ``run.penalty_generator``) to reproduce a run.

Algorithm 1 of Arjovsky, Chintala & Bottou (2017), with :math:`\alpha = 5\cdot 10^{-5}`,
:math:`c = 0.01`, :math:`m = 64`, :math:`n_{\text{critic}} = 5`::

    while theta has not converged do
        for t = 0, ..., n_critic do
            sample {x_i} ~ P_r, a batch of real data; sample {z_i} ~ p(z), a batch of priors
            g_w <- grad_w [ 1/m sum f_w(x_i) - 1/m sum f_w(g_theta(z_i)) ]
            w <- w + alpha * RMSProp(w, g_w)
            w <- clip(w, -c, c)
        sample {z_i} ~ p(z)
        g_theta <- -grad_theta 1/m sum f_w(g_theta(z_i))
        theta <- theta - alpha * RMSProp(theta, g_theta)
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

__all__ = ["reference_algorithm1", "reference_wgan_gp"]

Sampler = Callable[[int], torch.Tensor]


def reference_algorithm1(
    generator: nn.Module,
    critic: nn.Module,
    sample_real: Sampler,
    sample_prior: Sampler,
    *,
    iterations: int,
    alpha: float = 5e-5,
    c: float = 0.01,
    m: int = 64,
    n_critic: int = 5,
) -> None:
    """Algorithm 1 (WGAN with weight clipping), in place on ``generator`` and ``critic``."""
    rmsprop_w = torch.optim.RMSprop(critic.parameters(), lr=alpha)
    rmsprop_theta = torch.optim.RMSprop(generator.parameters(), lr=alpha)
    for _ in range(iterations):  # while theta has not converged
        for _ in range(n_critic):
            x = sample_real(m)  # {x_i} ~ P_r, (m, ...)
            z = sample_prior(m)  # {z_i} ~ p(z), (m, nz)
            fake = generator(z).detach()  # g_theta(z), no gradient into theta
            # g_w = grad of the bracket; RMSProp minimises, so we hand it minus the bracket
            loss_w = -(critic(x).mean() - critic(fake).mean())
            rmsprop_w.zero_grad()
            loss_w.backward()
            rmsprop_w.step()  # w <- w + alpha * RMSProp(w, g_w)
            with torch.no_grad():
                for w in critic.parameters():
                    w.clamp_(-c, c)  # w <- clip(w, -c, c)
        z = sample_prior(m)  # {z_i} ~ p(z)
        loss_theta = -critic(generator(z)).mean()  # g_theta = grad of this
        rmsprop_theta.zero_grad()
        loss_theta.backward()
        rmsprop_theta.step()  # theta <- theta - alpha * RMSProp(theta, g_theta)


def reference_wgan_gp(
    generator: nn.Module,
    critic: nn.Module,
    sample_real: Sampler,
    sample_prior: Sampler,
    *,
    iterations: int,
    lr: float = 1e-4,
    betas: tuple[float, float] = (0.5, 0.9),
    lam: float = 10.0,
    m: int = 256,
    n_critic: int = 5,
    penalty_generator: torch.Generator | None = None,
) -> None:
    r"""The same loop with WGAN-GP (Gulrajani et al. 2017): Adam, no clipping, and the penalty
    :math:`\lambda\,\mathbb E(\|\nabla f(\hat x)\|_2 - 1)^2`, :math:`\hat x = t x + (1-t) g(z)`,
    one :math:`t \sim U[0, 1]` per example."""
    adam_w = torch.optim.Adam(critic.parameters(), lr=lr, betas=betas)
    adam_theta = torch.optim.Adam(generator.parameters(), lr=lr, betas=betas)
    for _ in range(iterations):
        for _ in range(n_critic):
            x = sample_real(m)  # (m, ...)
            z = sample_prior(m)  # (m, nz)
            fake = generator(z).detach()
            loss_w = -(critic(x).mean() - critic(fake).mean())
            # the gradient penalty at random points between real and fake samples
            shape = (m,) + (1,) * (x.dim() - 1)  # one t per example
            t = torch.rand(shape, generator=penalty_generator, device=x.device, dtype=x.dtype)
            x_hat = (t * x + (1 - t) * fake).requires_grad_(True)  # (m, ...)
            (grad,) = torch.autograd.grad(critic(x_hat).sum(), x_hat, create_graph=True)
            penalty = ((grad.flatten(start_dim=1).norm(dim=1) - 1) ** 2).mean()
            loss_w = loss_w + lam * penalty
            adam_w.zero_grad()
            loss_w.backward()
            adam_w.step()
        z = sample_prior(m)
        loss_theta = -critic(generator(z)).mean()
        adam_theta.zero_grad()
        loss_theta.backward()
        adam_theta.step()
