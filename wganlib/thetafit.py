r"""Gradient descent on :math:`\theta` of the parallel-lines model under a sample-based distance.

The model is the paper's Example 1: :math:`g_\theta(z) = z + \theta e_1` with
:math:`z = (0, Z)`, :math:`Z \sim U[0, 1]` (:class:`wganlib.models.ShiftGenerator`), and the
data is :math:`P_0`. Each step draws fresh samples, estimates a distance between
:math:`P_0` and :math:`P_\theta` and its gradient in :math:`\theta`, and takes a plain gradient
step :math:`\theta \leftarrow \theta - \eta\, \partial_\theta \hat d` (plain, so that the size
of the gradient shows: an adaptive optimiser would rescale a vanishing gradient). Three
estimates (``method``):

``"pot"``
    The exact :math:`W_1` between the two empirical samples, by POT's network simplex on torch
    tensors (:func:`sample_w1`). The optimal plan :math:`\gamma^\star` does not move under a small
    change of the points, so :math:`\partial_\theta \hat W = \sum_{ij} \gamma^\star_{ij}\,
    \partial_\theta \|x_i - g_\theta(z_j)\|`: autograd through the cost matrix.
``"wgan"``
    A WGAN critic :math:`f` (MLP, gradient penalty or clipping), trained for ``critic_steps``
    steps at every :math:`\theta` (warm-started), then Theorem 3 of the paper:
    :math:`\nabla_\theta W = -\mathbb E_z[\nabla_\theta f(g_\theta(z))]`.
``"gan"``
    A GAN discriminator trained the same way; the gradient is that of the minimax generator
    loss :math:`\mathbb E_z \log(1 - D(g_\theta(z)))`, which for the optimal :math:`D` is
    :math:`2\,JS - 2\log 2`. The estimate recorded is the JS lower bound
    :math:`\tfrac12 L(D, g) + \log 2`.
``"nsgan"``
    The same discriminator with the "non-saturating" generator loss
    :math:`-\mathbb E_z \log D(g_\theta(z))`.

The critic updates are :func:`wganlib.steps.critic_step`, the trainer's own.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from wganlib import toy
from wganlib.build import make_optimizer
from wganlib.lipschitz import get_lipschitz
from wganlib.models import MLPCritic, ShiftGenerator
from wganlib.objectives import get_objective
from wganlib.steps import critic_step

__all__ = ["METHODS", "ThetaPath", "descend_theta", "sample_w1"]

METHODS: tuple[str, ...] = ("pot", "wgan", "gan", "nsgan")


def sample_w1(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    r"""Exact :math:`W_1` between two equal-weight samples, differentiable in the points.

    .. math::

        \hat W = \min_{\gamma \in \Pi(a, b)} \sum_{ij} \gamma_{ij} \|x_i - y_j\|_2 ,

    solved by POT's ``ot.emd2`` with the torch backend, which returns a tensor whose gradient
    is :math:`\sum_{ij} \gamma^\star_{ij} \nabla \|x_i - y_j\|` (the envelope theorem).

    Parameters
    ----------
    real : Tensor, shape (n, d)
    fake : Tensor, shape (m, d)
        Either may require gradients.

    Returns
    -------
    Tensor, shape ()
    """
    import ot

    if real.ndim != 2 or fake.ndim != 2 or real.shape[1] != fake.shape[1]:
        raise ValueError(
            f"real and fake must be samples of shape (n, d) and (m, d) with the same d; "
            f"got {tuple(real.shape)} and {tuple(fake.shape)}."
        )
    real64, fake64 = real.double(), fake.double()  # the simplex wants float64
    a = torch.full((real.shape[0],), 1.0 / real.shape[0], dtype=torch.float64, device=real.device)
    b = torch.full((fake.shape[0],), 1.0 / fake.shape[0], dtype=torch.float64, device=real.device)
    cost = torch.cdist(real64, fake64)  # (n, m); cdist has a finite gradient at distance 0
    return ot.emd2(a, b, cost).to(real.dtype)


@dataclass(frozen=True)
class ThetaPath:
    r"""One gradient-descent run on :math:`\theta`.

    Attributes
    ----------
    method : str
        One of :data:`METHODS`.
    theta : numpy.ndarray, shape (steps + 1,)
        :math:`\theta_0, \dots, \theta_T`.
    grad : numpy.ndarray, shape (steps,)
        The gradient used at each step, :math:`\partial_\theta \hat d(\theta_t)`.
    estimate : numpy.ndarray, shape (steps,)
        The distance estimate at :math:`\theta_t` (:math:`\hat W` for ``pot``/``wgan``, the JS
        lower bound for ``gan``/``nsgan``).
    """

    method: str
    theta: np.ndarray
    grad: np.ndarray
    estimate: np.ndarray


def descend_theta(
    method: str,
    *,
    theta0: float = 1.0,
    lr: float = 0.1,
    steps: int = 30,
    batch_size: int = 256,
    critic_steps: int = 20,
    warmup_steps: int = 300,
    width: int = 128,
    depth: int = 2,
    lipschitz: str = "gp",
    critic_lr: float = 1e-3,
    seed: int = 0,
    device: torch.device | str | None = None,
) -> ThetaPath:
    r"""Plain gradient descent on :math:`\theta` (parallel lines) under a sample-based distance.

    Parameters
    ----------
    method : {"pot", "wgan", "gan", "nsgan"}
        How the distance and its gradient are estimated (see the module docstring).
    theta0, lr, steps : float, float, int
        Start, step size :math:`\eta` and number of steps.
    batch_size : int
        Samples of :math:`P_0` and of :math:`P_\theta` per estimate (fresh at every step).
    critic_steps, warmup_steps : int
        Critic (discriminator) updates at every :math:`\theta`, and extra ones before the
        first step (``wgan``/``gan`` only).
    width, depth : int
        The critic MLP (:class:`wganlib.models.MLPCritic`).
    lipschitz : str
        The WGAN critic's constraint (``"gp"``, ``"clip"``, ...); the GAN discriminator has none.
    critic_lr : float
        Adam step size of the critic, betas (0.5, 0.9) as in WGAN-GP.
    seed : int
        Seeds the critic's initial weights and every sample.
    device : torch.device or str, optional

    Returns
    -------
    ThetaPath
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    if steps < 1 or batch_size < 2 or lr <= 0:
        raise ValueError(
            f"need steps >= 1, batch_size >= 2 and lr > 0; got {steps}, {batch_size}, {lr}"
        )
    device = torch.device(device or "cpu")
    gen = torch.Generator(device=device).manual_seed(int(seed))
    model = ShiftGenerator(dim=2, init=float(theta0), axis=0).to(device)

    def draw(n: int) -> torch.Tensor:  # (n, 2) samples of P_0 = law of (0, Z)
        return toy.sample("parallel_lines", n, generator=gen, device=device, theta=0.0)

    if method != "pot":
        objective = get_objective(method)
        constraint = get_lipschitz(lipschitz if method == "wgan" else "none")
        with torch.random.fork_rng(devices=[]):  # weights from the seed, global RNG untouched
            torch.manual_seed(int(seed))
            critic = constraint.prepare(MLPCritic(2, width=width, depth=depth).to(device))
        opt = make_optimizer(
            critic.parameters(), {"name": "adam", "lr": critic_lr, "betas": (0.5, 0.9)}
        )

        def fit(n_steps: int) -> None:
            for _ in range(n_steps):
                real = draw(batch_size)
                with torch.no_grad():
                    fake = model(draw(batch_size))
                critic_step(critic, opt, objective, constraint, real, fake, penalty_generator=gen)

        fit(warmup_steps)

    thetas, grads, estimates = [float(theta0)], [], []
    for _ in range(steps):
        real, z = draw(batch_size), draw(batch_size)
        if method == "pot":
            loss = sample_w1(real, model(z))
            value = loss
        else:
            fit(critic_steps)
            for p in critic.parameters():
                p.requires_grad_(False)
            fake_scores = critic(model(z))
            loss = objective.generator_loss(fake_scores)  # WGAN: -E f(g(z)) (Theorem 3)
            with torch.no_grad():
                value = objective.estimate(critic(real), fake_scores)
            for p in critic.parameters():
                p.requires_grad_(True)
        (grad,) = torch.autograd.grad(loss, model.theta)
        with torch.no_grad():
            model.theta -= lr * grad
        grads.append(float(grad.item()))
        estimates.append(float(value.detach().item()))
        thetas.append(float(model.theta.item()))
    return ThetaPath(method, np.array(thetas), np.array(grads), np.array(estimates))
