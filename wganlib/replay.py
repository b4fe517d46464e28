r"""One member of an ensemble run, replayed as a separate run: the check that batching is exact.

A run with ``members = K`` (:mod:`wganlib.ensemble`) draws each random batch for all members at
once: ``K * B`` real samples, ``K * B`` priors, ``K * B`` interpolation weights, block
:math:`k` for member :math:`k`. :func:`replay_member` trains member :math:`k` alone -- its
initial weights (:func:`member_module`), its blocks of the same draws -- with a plain loop
(the readable references of :mod:`wganlib.reference` for WGAN-clip and WGAN-GP, the library's
:func:`~wganlib.steps.critic_step` and :func:`~wganlib.steps.generator_step` for the other
methods), so its parameters can be compared with member :math:`k` of the ensemble run
(``benchmarks/bench_sweep.py``, ``tests/test_fastpaths.py``).

The interpolation weights :math:`t` are drawn by ``torch.rand`` from a CPU generator, one
32-bit draw per value in order, so member :math:`k`'s block is what the same generator gives
after skipping :math:`kB` values; the replay sets its penalty generator to that state before
each critic step (the comparison itself shows that this holds).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch
from torch import nn

from wganlib.config import TrainConfig, optimizer_settings
from wganlib.ensemble import EnsembleLinear, EnsembleMLPCritic, EnsembleMLPGenerator
from wganlib.models import MLPCritic, MLPGenerator
from wganlib.objectives import get_objective
from wganlib.reference import reference_algorithm1, reference_wgan_gp
from wganlib.steps import (
    critic_step,
    critic_steps_at,
    generator_step,
    make_lipschitz,
    make_optimizer,
)

__all__ = ["member_module", "record_draws", "replay_member", "member_parameters"]


def member_module(module: nn.Module, k: int) -> nn.Module:
    """Member ``k`` of an ensemble MLP as a plain :class:`~wganlib.models.MLPGenerator` or
    :class:`~wganlib.models.MLPCritic` (weights copied; spectral norm with its ``u``, ``v``)."""
    from torch.nn.utils import parametrize
    from torch.nn.utils.parametrizations import spectral_norm

    if not isinstance(module, EnsembleMLPGenerator | EnsembleMLPCritic):
        raise TypeError(f"member_module needs an ensemble MLP, got {type(module).__name__}")
    if not 0 <= k < module.members:
        raise ValueError(f"member {k} out of range for {module.members} members")
    lins = [m for m in module.net if isinstance(m, EnsembleLinear)]
    width, depth, act = lins[0].out_features, len(lins) - 1, module.activation
    with torch.random.fork_rng(devices=[]):
        if isinstance(module, EnsembleMLPGenerator):
            plain = MLPGenerator(module.nz, module.out_dim, width, depth, activation=act)
        else:
            plain = MLPCritic(module.in_dim, width, depth, activation=act)
        plain_lins = [m for m in plain.net if isinstance(m, nn.Linear)]
        with torch.no_grad():
            for e, p in zip(lins, plain_lins, strict=True):
                p.bias.copy_(e.bias[k, 0].detach())
                if parametrize.is_parametrized(e, "weight"):
                    sn = e.parametrizations.weight[0]
                    spectral_norm(p, n_power_iterations=sn.n_power_iterations)
                    p.parametrizations.weight.original.copy_(
                        e.parametrizations.weight.original[k].T
                    )
                    p.parametrizations.weight[0]._u.copy_(sn.u[k])
                    p.parametrizations.weight[0]._v.copy_(sn.v[k])
                else:
                    p.weight.copy_(e.weight[k].detach().T)
    return plain.to(next(module.parameters()).device)


def member_parameters(module: nn.Module) -> list[torch.Tensor]:
    """Parameters of a plain MLP in a fixed order (weights as ``(out, in)``), detached."""
    return [p.detach() for p in module.parameters()]


def record_draws(config: TrainConfig, iterations: int) -> dict[str, Any]:
    """The random draws of ``iterations`` generator iterations of a run of ``config``.

    Returns ``real`` and ``z`` (lists of ``(K * B, ...)`` batches in the order the trainer
    draws them), ``penalty`` (the penalty generator's state before each critic step) and the
    freshly made ``run`` they came from (iteration 0: its nets are the initial weights).
    """
    from wganlib.train import Run

    run = Run(config)
    probe = Run(config)  # draws from a twin, so ``run`` keeps its initial state
    b = config.batch_size * config.members
    draws: dict[str, Any] = {"real": [], "z": [], "penalty": [], "run": run}
    has_penalty = probe.lipschitz.has_penalty
    for it in range(iterations):
        for _ in range(critic_steps_at(config, it)):
            real = probe.sample_real()
            draws["real"].append(real)
            draws["z"].append(probe.sample_prior(b))
            draws["penalty"].append(probe.penalty_generator.get_state())
            if has_penalty:  # as interpolates() draws: one t per row
                shape = (b,) + (1,) * (real.dim() - 1)
                torch.rand(shape, generator=probe.penalty_generator, device=real.device)
        draws["z"].append(probe.sample_prior(b))
    return draws


def _skip_state(state: torch.Tensor, n: int, ndim: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    g.set_state(state)
    if n:
        torch.rand((n,) + (1,) * (ndim - 1), generator=g)
    return g.get_state()


def replay_member(
    config: TrainConfig, draws: dict[str, Any], k: int, iterations: int
) -> tuple[nn.Module, nn.Module]:
    """Train member ``k`` of ``config``'s ensemble alone on its blocks of ``draws``.

    WGAN-clip with RMSProp and WGAN-GP with Adam run through :mod:`wganlib.reference`; other
    methods through :func:`~wganlib.steps.critic_step` / :func:`~wganlib.steps.generator_step`.
    Returns the plain ``(generator, critic)`` after ``iterations`` generator iterations.
    """
    run, b = draws["run"], config.batch_size
    gen, critic = member_module(run.generator, k), member_module(run.critic, k)
    blocks = {
        name: [x[k * b : (k + 1) * b] for x in draws[name]] for name in ("real", "z")
    }  # fmt: skip
    pen = torch.Generator().manual_seed(0)
    state = {"real": 0, "z": 0}

    def sample_real(m: int) -> torch.Tensor:
        i = state["real"]
        real = blocks["real"][i]
        pen.set_state(_skip_state(draws["penalty"][i], k * b, real.dim()))
        state["real"] += 1
        return real

    def sample_prior(m: int) -> torch.Tensor:
        state["z"] += 1
        return blocks["z"][state["z"] - 1]

    settings = optimizer_settings(config)
    plain = config.schedule != "official" and config.objective == "wgan"
    if plain and config.lipschitz == "clip" and settings["name"] == "rmsprop":
        if config.clip_when == "after" and config.clip_batch_norm:
            reference_algorithm1(
                gen, critic, sample_real, sample_prior, iterations=iterations,
                alpha=settings["lr"], c=config.clip_value, m=b, n_critic=config.n_critic,
            )  # fmt: skip
            return gen, critic
    if plain and config.lipschitz == "gp" and settings["name"] == "adam":
        reference_wgan_gp(
            gen, critic, sample_real, sample_prior, iterations=iterations, lr=settings["lr"],
            betas=settings["betas"], lam=config.gp_weight, m=b, n_critic=config.n_critic,
            penalty_generator=pen,
        )  # fmt: skip
        return gen, critic
    cfg1 = dataclasses.replace(config, members=1)
    lip, obj = make_lipschitz(cfg1), get_objective(config.objective)
    critic = lip.prepare(critic)
    opt_c = make_optimizer(critic.parameters(), settings)
    opt_g = make_optimizer(gen.parameters(), settings)
    for it in range(iterations):
        for _ in range(critic_steps_at(config, it)):
            real, z = sample_real(b), sample_prior(b)
            with torch.no_grad():
                fake = gen(z)
            critic_step(critic, opt_c, obj, lip, real, fake, penalty_generator=pen)
        generator_step(gen, critic, opt_g, obj, sample_prior(b))
    return gen, critic
