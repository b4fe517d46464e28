r"""Critic-only training between two fixed distributions (:func:`fit_critic`).

The duality chapter, the paper's Figure 3 and the meaningful-loss chapter train a critic alone:
with the WGAN objective and a 1-Lipschitz critic its estimate
:math:`\frac1m\sum f(x_i) - \frac1m\sum f(y_i)` approaches :math:`W_1(P, Q)` from below. Each
step is the trainer's own :func:`wganlib.steps.critic_step`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

import numpy as np
import torch
from torch import nn

from wganlib.build import make_lipschitz, make_optimizer
from wganlib.config import TrainConfig, optimizer_settings
from wganlib.history import Callback, History, Recorder, as_callbacks
from wganlib.lipschitz import clipped_parameters, weight_max_abs
from wganlib.objectives import get_objective
from wganlib.steps import critic_step

__all__ = ["fit_critic", "FIT_HOST_COLUMNS", "FIT_DEVICE_COLUMNS"]

FIT_HOST_COLUMNS = ("step", "wall_time")
FIT_DEVICE_COLUMNS = (
    "critic_estimate",
    "critic_loss",
    "penalty",
    "critic_grad_norm",
    "weight_max_abs",
)


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
