"""Tests for wganlib.steps: the critic and generator steps, the schedule, fit_critic."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from wganlib import toy
from wganlib.config import ConfigError, TrainConfig
from wganlib.history import Callback
from wganlib.lipschitz import clipped_parameters
from wganlib.models import MLPCritic
from wganlib.steps import critic_steps_at, fit_critic, generator_step, make_optimizer
from wganlib.train import Run, train


def tiny(**kw) -> TrainConfig:
    base = dict(width=16, depth=2, batch_size=32, iterations=6, log_every=4)
    return TrainConfig(**{**base, **kw})


def test_official_schedule():
    cfg = tiny(schedule="official", n_critic=5)
    assert [critic_steps_at(cfg, i) for i in (0, 24, 25, 499, 500, 501, 1000)] == [
        100, 100, 5, 5, 100, 5, 100,
    ]  # fmt: skip
    assert critic_steps_at(tiny(n_critic=3), 0) == 3
    run = train(tiny(schedule="official", iterations=2, width=8))
    np.testing.assert_array_equal(run.history["n_critic"], [100, 100])
    assert run.critic_steps == 200


def test_generator_step_touches_only_the_generator():
    run = Run(tiny())
    before = [p.clone() for p in run.critic.parameters()]
    loss, norm = generator_step(
        run.generator, run.critic, run.opt_generator, run.objective, run.sample_prior()
    )
    assert loss.dim() == 0 and norm > 0
    assert all(p.grad is None and p.requires_grad for p in run.critic.parameters())
    assert all(torch.equal(a, b) for a, b in zip(before, run.critic.parameters(), strict=True))


def test_optimizers():
    p = [torch.nn.Parameter(torch.ones(2))]
    assert isinstance(make_optimizer(p, {"name": "rmsprop", "lr": 1e-3}), torch.optim.RMSprop)
    adam = make_optimizer(p, {"name": "adam", "lr": 1e-3, "betas": (0.5, 0.9)})
    assert adam.param_groups[0]["betas"] == (0.5, 0.9)
    sgd = make_optimizer(p, {"name": "sgd", "lr": 1e-3, "momentum": 0.5})
    assert sgd.param_groups[0]["momentum"] == 0.5


def test_fit_critic_estimates_w1_between_two_gaussians():
    # 1-D Gaussians N(-2.5, 0.5^2) and N(2.5, 0.5^2): W1 = 5. With the penalty
    # lam * (|f'| - 1)^2 on the segment between them, the best critic has slope s maximising
    # 5 s - lam (s - 1)^2, i.e. s = 1 + 5 / (2 lam): its estimate is 5 s, not 5 (6.25 at
    # lam = 10, 5.125 at lam = 100). A clipped critic's estimate is far smaller (K << 1).
    gen = torch.Generator().manual_seed(0)
    real = toy.sample("gaussian1d", 2000, which="real", generator=gen)
    fake = toy.sample("gaussian1d", 2000, which="fake", generator=gen)
    for lam in (10.0, 100.0):
        with torch.random.fork_rng():
            torch.manual_seed(0)
            critic = MLPCritic(1, width=32, depth=2)
        h = fit_critic(
            critic, fake, real, lipschitz="gp", gp_weight=lam, steps=300, lr=1e-2, batch_size=256
        )
        assert len(h) == 300 and h.columns[:2] == ["step", "wall_time"]
        est = h["critic_estimate"]
        assert est[0] < 1.0  # it had to learn
        assert np.median(est[-50:]) == pytest.approx(5 * (1 + 5 / (2 * lam)), rel=0.03)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        clipped = MLPCritic(1, width=32, depth=2)
    hc = fit_critic(clipped, fake, real, lipschitz="clip", steps=50, lr=1e-3)
    assert hc["weight_max_abs"].max() <= 0.01
    assert all(p.abs().max() <= 0.01 for _, p in clipped_parameters(clipped))
    assert 0 < np.median(hc["critic_estimate"][-10:]) < 0.5


def test_fit_critic_callbacks_and_errors():
    steps = []
    critic = MLPCritic(2, width=8, depth=1)
    fit_critic(
        critic, "8gaussians", "25gaussians", steps=6, batch_size=16,
        callbacks=[Callback(2, lambda c, s: steps.append(s))],
    )  # fmt: skip
    assert steps == [2, 4, 6]
    a, b = (torch.Generator().manual_seed(5) for _ in range(2))
    c1, c2 = MLPCritic(2, width=8, depth=1), MLPCritic(2, width=8, depth=1)
    c2.load_state_dict(c1.state_dict())
    h1 = fit_critic(c1, "8gaussians", "25gaussians", steps=3, batch_size=8, generator=a)
    h2 = fit_critic(c2, "8gaussians", "25gaussians", steps=3, batch_size=8, generator=b)
    np.testing.assert_array_equal(h1["critic_loss"], h2["critic_loss"])
    with pytest.raises(ValueError, match="steps must be positive"):
        fit_critic(critic, "8gaussians", "25gaussians", steps=0)
    with pytest.raises(ConfigError, match="unknown lipschitz"):
        fit_critic(critic, "8gaussians", "25gaussians", lipschitz="clipping", steps=1)
