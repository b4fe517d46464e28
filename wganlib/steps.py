r"""The updates: one critic step, one generator step, and critic-only training.

:func:`critic_step` and :func:`generator_step` are the only places where weights move; the
trainer (:mod:`wganlib.train`) and :func:`fit_critic` both call them. :func:`fit_critic` trains a
critic alone between two fixed distributions (the duality chapter, the paper's Figure 3, the
meaningful-loss chapter): with the WGAN objective and a 1-Lipschitz critic its estimate
:math:`\frac1m\sum f(x_i) - \frac1m\sum f(y_i)` approaches :math:`W_1(P, Q)` from below.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import nn

from wganlib import fastpaths
from wganlib.config import TrainConfig, optimizer_settings
from wganlib.history import Callback, History, Recorder, as_callbacks
from wganlib.lipschitz import LipschitzMethod, clipped_parameters, get_lipschitz
from wganlib.objectives import Objective, get_objective
from wganlib.precision import Precision

_FULL = Precision("none")

__all__ = [
    "CriticStep",
    "critic_step",
    "generator_step",
    "critic_steps_at",
    "make_optimizer",
    "make_lipschitz",
    "weight_max_abs",
    "fit_critic",
    "FIT_HOST_COLUMNS",
    "FIT_DEVICE_COLUMNS",
]

FIT_HOST_COLUMNS = ("step", "wall_time")
FIT_DEVICE_COLUMNS = (
    "critic_estimate",
    "critic_loss",
    "penalty",
    "critic_grad_norm",
    "weight_max_abs",
)


def critic_steps_at(config: TrainConfig, iteration: int) -> int:
    """Critic steps for generator iteration ``iteration`` (0-based; ``official``: 100 early/every 500)."""
    if config.schedule == "official" and (iteration < 25 or iteration % 500 == 0):
        return 100
    return config.n_critic


def make_optimizer(
    params: Iterable[nn.Parameter], settings: dict[str, Any]
) -> torch.optim.Optimizer:
    """RMSProp / Adam / SGD from :func:`wganlib.config.optimizer_settings` (Adam fused where
    :func:`wganlib.fastpaths.fused_adam_ok` allows)."""
    name, lr = settings["name"], settings["lr"]
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr)
    if name == "adam":
        params = list(params)
        fused = fastpaths.fused_adam_ok(params)  # one kernel per tensor (wganlib.fastpaths)
        return torch.optim.Adam(params, lr=lr, betas=settings["betas"], fused=fused or None)
    return torch.optim.SGD(params, lr=lr, momentum=settings["momentum"])


def make_lipschitz(config: TrainConfig) -> LipschitzMethod:
    """The Lipschitz method the config names, with its parameters."""
    if config.lipschitz == "clip":
        return get_lipschitz(
            "clip", c=config.clip_value, when=config.clip_when,
            include_batch_norm=config.clip_batch_norm,
        )  # fmt: skip
    if config.lipschitz in ("gp", "lp"):
        return get_lipschitz(config.lipschitz, lam=config.gp_weight)
    return get_lipschitz(config.lipschitz)


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


def weight_max_abs(params: list[torch.Tensor]) -> torch.Tensor:
    """:math:`\\max_i |w_i|` over a list of parameters, as a 0-d tensor on their device."""
    return torch.stack([p.detach().abs().max() for p in params]).max()


def _sampler(
    source: str | torch.Tensor | Callable[[int], torch.Tensor],
    batch_size: int | None,
    generator: torch.Generator,
    device: torch.device,
) -> Callable[[], torch.Tensor]:
    if isinstance(source, str):
        from wganlib import toy

        if batch_size is None:
            raise ValueError("batch_size=None needs tensors for real and fake, not a toy name")
        return lambda: toy.sample(source, batch_size, generator=generator)
    if isinstance(source, torch.Tensor):
        data = source.to(device)
        if batch_size is None:  # the whole set at every step
            return lambda: data
        return lambda: data[
            torch.randint(len(data), (batch_size,), generator=generator, device=device)
        ]
    if callable(source):
        if batch_size is None:
            raise ValueError("batch_size=None needs tensors for real and fake, not samplers")
        return lambda: source(batch_size).to(device)
    raise TypeError(
        f"real/fake must be a toy name, a tensor or a function n -> tensor, got {type(source)}"
    )


def fit_critic(
    critic: nn.Module,
    real: str | torch.Tensor | Callable[[int], torch.Tensor],
    fake: str | torch.Tensor | Callable[[int], torch.Tensor],
    *,
    objective: str = "wgan",
    lipschitz: str = "clip",
    steps: int = 1000,
    batch_size: int | None = 256,
    optimizer: str = "auto",
    lr: float | None = None,
    betas: tuple[float, float] | None = None,
    clip_value: float = 0.01,
    clip_when: str = "after",
    gp_weight: float = 10.0,
    seed: int = 0,
    generator: torch.Generator | None = None,
    log_every: int = 100,
    callbacks: Iterable[Callback | Callable] = (),
) -> History:
    r"""Train ``critic`` alone to tell ``real`` from ``fake`` (both fixed); returns its history.

    Each step draws a batch of each and calls :func:`critic_step`, the trainer's own update.

    Parameters
    ----------
    critic : nn.Module
        Trained in place, on the device of its parameters (``lipschitz="sn"`` parametrises it).
    real, fake : str, Tensor or callable
        A toy name (:func:`wganlib.toy.sample`, seeded from ``seed``), a tensor of samples
        (batches drawn with replacement; the whole tensor when ``batch_size`` is None), or a
        function ``n -> Tensor`` (seeded by the caller).
    objective, lipschitz, optimizer, lr, betas, clip_value, clip_when, gp_weight
        As in :class:`wganlib.config.TrainConfig`; the optimiser defaults to the method's
        (RMSProp 5e-5 for WGAN-clip, Adam 1e-4 (0.5, 0.9) for WGAN-GP, Adam 2e-4 for GANs).
    seed, generator
        Randomness (batches drawn from names or tensors, the penalty's :math:`t`): three
        streams seeded from ``seed``, or all from ``generator`` when one is given.
    callbacks : Callback or callable
        ``fn(critic, step)`` every ``every`` steps.

    Returns
    -------
    History
        One row per step: ``step``, ``wall_time``, ``critic_estimate`` (WGAN: the estimate of
        :math:`K\cdot W_1` before the step), ``critic_loss``, ``penalty``,
        ``critic_grad_norm``, ``weight_max_abs`` (after the step).
    """
    b1, b2 = (None, None) if betas is None else betas
    cfg = TrainConfig(
        objective=objective, lipschitz=lipschitz, optimizer=optimizer, lr=lr, beta1=b1,
        beta2=b2, clip_value=clip_value, clip_when=clip_when, gp_weight=gp_weight,
        log_every=log_every, seed=seed,
    )  # fmt: skip
    if steps <= 0:
        raise ValueError(f"steps must be positive, got {steps}")
    device = next(critic.parameters()).device
    obj, lip = get_objective(objective), make_lipschitz(cfg)
    critic = lip.prepare(critic)
    opt = make_optimizer(critic.parameters(), optimizer_settings(cfg))
    seeds = np.random.SeedSequence(int(seed)).generate_state(3)
    gens = [torch.Generator(device).manual_seed(int(s)) for s in seeds]
    if generator is not None:
        gens = [generator] * 3
    draw_real = _sampler(real, batch_size, gens[0], device)
    draw_fake = _sampler(fake, batch_size, gens[1], device)
    bn = clip_value > 0 and (cfg.clip_batch_norm or lipschitz != "clip")
    params = [p for _, p in clipped_parameters(critic, include_batch_norm=bn)]
    history = History(FIT_HOST_COLUMNS + FIT_DEVICE_COLUMNS)
    recorder = Recorder(history, FIT_HOST_COLUMNS, FIT_DEVICE_COLUMNS)
    cbs = as_callbacks(callbacks)
    start = time.perf_counter()
    for step in range(1, steps + 1):
        x, y = draw_real(), draw_fake()
        out = critic_step(critic, opt, obj, lip, x, y, penalty_generator=gens[2], stats=True)
        row = torch.stack(
            [out.estimate, out.loss, out.penalty, out.grad_norm, weight_max_abs(params)]
        )
        recorder.record((step, time.perf_counter() - start), row.float())
        if step % log_every == 0:
            recorder.flush()
        for cb in cbs:
            if cb.due(step) or (cb.at_end and step == steps):
                cb.fn(critic, step)
    recorder.flush()
    return history
