"""Tests for wganlib.thetafit: gradient descent on theta of the parallel lines."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from wganlib.distances import exact_w1
from wganlib.thetafit import descend_theta, sample_w1


def test_sample_w1_value_and_gradient():
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(64, 2, generator=gen)
    z = torch.rand(64, 2, generator=gen)
    theta = torch.tensor(0.7, requires_grad=True)
    fake = z + torch.stack([theta, torch.zeros(())])
    w = sample_w1(x, fake)
    assert w.item() == pytest.approx(exact_w1(x, fake.detach()), rel=1e-5)
    (grad,) = torch.autograd.grad(w, theta)
    # moving the fake sample right by h raises W by about h: the gradient is close to +1
    h = 1e-3
    fd = (
        exact_w1(x, z + torch.tensor([0.7 + h, 0])) - exact_w1(x, z + torch.tensor([0.7 - h, 0]))
    ) / (2 * h)
    assert grad.item() == pytest.approx(fd, abs=1e-3)
    assert 0.5 < grad.item() <= 1.0 + 1e-6
    with pytest.raises(ValueError):
        sample_w1(x, torch.zeros(5, 3))


def test_pot_descent_reaches_zero_and_is_seeded():
    path = descend_theta("pot", theta0=0.8, lr=0.1, steps=15, batch_size=64, seed=1)
    assert path.theta.shape == (16,) and path.grad.shape == path.estimate.shape == (15,)
    assert abs(path.theta[-1]) < 0.15 < abs(path.theta[0])
    assert np.allclose(np.diff(path.theta), -0.1 * path.grad)  # plain gradient steps
    again = descend_theta("pot", theta0=0.8, lr=0.1, steps=15, batch_size=64, seed=1)
    assert np.array_equal(path.theta, again.theta)


def test_wgan_critic_moves_theta_and_gan_does_not():
    kw = dict(theta0=1.0, lr=0.1, steps=4, batch_size=64, critic_steps=10, warmup_steps=500,
              width=64, depth=2, seed=0)  # fmt: skip
    w = descend_theta("wgan", **kw)
    g = descend_theta("gan", **kw)
    assert np.all(w.grad > 0.3)  # Theorem 3: the critic's gradient points theta home
    assert w.theta[-1] < 0.9
    assert np.all(np.abs(g.grad) < 1e-3)  # a saturated discriminator: (almost) no gradient
    assert abs(g.theta[-1] - 1.0) < 1e-4
    assert np.all(g.estimate > 0.6)  # the JS lower bound sits near log 2


def test_bad_method_raises():
    with pytest.raises(ValueError, match="unknown method"):
        descend_theta("js")
    with pytest.raises(ValueError):
        descend_theta("pot", steps=0)
