from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from wganlib.monitoring import (
    StepCosineRecorder,
    W1Tracker,
    negative_fraction,
    step_direction,
    step_gradient_cosine,
)


def _one_step(opt_factory, steps: int = 3, seed: int = 0):
    """A small linear model; returns (model, optimizer, delta of the last step)."""
    g = torch.Generator().manual_seed(seed)
    model = nn.Linear(4, 3)
    opt = opt_factory(model.parameters())
    for _ in range(steps):
        x = torch.randn(16, 4, generator=g)
        before = [p.detach().clone() for p in model.parameters()]
        opt.zero_grad()
        (model(x) ** 2).mean().backward()
        opt.step()
    delta = torch.cat(
        [(p.detach() - b).reshape(-1) for p, b in zip(model.parameters(), before, strict=True)]
    )
    return model, opt, delta


@pytest.mark.parametrize(
    "factory",
    [
        lambda p: torch.optim.Adam(p, lr=1e-2, betas=(0.9, 0.999)),
        lambda p: torch.optim.Adam(p, lr=1e-2, betas=(0.0, 0.9), foreach=True),
        lambda p: torch.optim.RMSprop(p, lr=1e-2),
        lambda p: torch.optim.SGD(p, lr=1e-2, momentum=0.9),
        lambda p: torch.optim.SGD(p, lr=1e-2),
    ],
)
def test_step_direction_matches_the_applied_update(factory):
    model, opt, delta = _one_step(factory)
    d = torch.cat([t.reshape(-1) for t in step_direction(opt)])
    lr = opt.param_groups[0]["lr"]
    torch.testing.assert_close(delta, -lr * d, rtol=1e-4, atol=1e-7)
    # and the cosine is the one between the actual update and the descent direction -grad
    g = torch.cat([p.grad.reshape(-1) for p in model.parameters()])
    expected = float(torch.dot(-delta, g) / (delta.norm() * g.norm()))
    assert step_gradient_cosine(opt) == pytest.approx(expected, abs=1e-5)


def test_rmsprop_cosine_is_positive_and_momentum_can_turn_negative():
    _, opt, _ = _one_step(lambda p: torch.optim.RMSprop(p, lr=1e-2), steps=5)
    assert step_gradient_cosine(opt) > 0
    # momentum built on one gradient, then a gradient pointing the other way: the Adam step
    # still follows the old momentum, so it goes against the new gradient
    w = nn.Parameter(torch.ones(5))
    opt = torch.optim.Adam([w], lr=0.1, betas=(0.9, 0.999))
    for sign in (1.0, 1.0, 1.0, -1.0):
        opt.zero_grad()
        (sign * w.sum()).backward()
        opt.step()
    assert step_gradient_cosine(opt) < -0.9


def test_step_direction_errors():
    w = nn.Parameter(torch.ones(2))
    opt = torch.optim.Adam([w])
    w.grad = torch.ones(2)
    with pytest.raises(ValueError, match="no Adam step"):
        step_direction(opt)
    with pytest.raises(ValueError, match="not Adagrad"):
        step_direction(torch.optim.Adagrad([w]))
    w.grad = None
    with pytest.raises(ValueError, match="no parameter has a gradient"):
        step_gradient_cosine(opt)


def test_negative_fraction():
    assert negative_fraction([-1, 1, 2, -3]) == 0.5
    assert negative_fraction([-1, 1, 2, -3], [True, True, False, False]) == 0.5
    assert negative_fraction([1.0, math.nan]) == 0.0
    assert math.isnan(negative_fraction([]))
    with pytest.raises(ValueError, match="mask"):
        negative_fraction([1, 2], [True])


def test_callbacks_on_a_short_run():
    from wganlib.config import TrainConfig
    from wganlib.history import Callback
    from wganlib.train import train

    cfg = TrainConfig(
        data="8gaussians", width=16, depth=2, batch_size=32, iterations=6, n_critic=2,
        optimizer="adam", lr=1e-3, log_every=3,
    )  # fmt: skip
    rec, tracker = StepCosineRecorder(), W1Tracker("8gaussians", n=50, seed=3)
    run = train(cfg, callbacks=[Callback(1, rec, sync=False), Callback(3, tracker)])
    its, cos = rec.as_arrays()
    assert its.tolist() == [1, 2, 3, 4, 5, 6]
    assert np.all(np.abs(cos) <= 1 + 1e-9)
    assert tracker.iterations == [3, 6]
    assert all(w > 0 for w in tracker.w1)
    est = run.history["critic_estimate"]
    assert tracker.estimate[1] == pytest.approx(float(np.median(est[3:6])))
    assert set(tracker.as_dict()) == {"iteration", "w1", "estimate"}


def test_w1_tracker_sees_a_perfect_generator_as_close():
    """W1 of target vs target is small next to W1 of target vs a far-off sample."""

    class Fake:
        def __init__(self, shift):
            self.shift = shift
            self.history = {"critic_estimate": np.zeros(1), "iteration": np.ones(1)}

        def sample(self, n, seed=0):
            from wganlib import toy

            g = torch.Generator().manual_seed(seed + 7)
            return toy.sample("8gaussians", n, generator=g) + self.shift

    near, far = W1Tracker("8gaussians", n=200), W1Tracker("8gaussians", n=200)
    near(Fake(0.0), 1)
    far(Fake(torch.tensor([1.0, 0.0])), 1)
    assert far.w1[0] <= 1.0 + 0.05  # moving every point by the shift costs 1
    assert far.w1[0] > 3 * near.w1[0] and near.w1[0] < 0.3
    with pytest.raises(ValueError, match="n >= 2"):
        W1Tracker("8gaussians", n=1)


def test_attach_records_every_critic_step():
    from wganlib.config import TrainConfig
    from wganlib.train import Run

    cfg = TrainConfig(
        data="8gaussians", width=16, depth=2, batch_size=32, iterations=4, n_critic=3,
        optimizer="adam", lr=1e-3,
    )  # fmt: skip
    run = Run(cfg)
    rec = StepCosineRecorder().attach(run.opt_critic, run)
    run.fit()
    assert rec.steps == 12  # 4 iterations x 3 critic steps; generator steps not counted
    assert rec.iterations == [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3]
    rec.detach()
    run.fit(until=5)
    assert rec.steps == 12
