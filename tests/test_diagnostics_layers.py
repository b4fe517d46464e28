"""Tests for wganlib.diagnostics: weight values at the clipping bound, per-layer gradient norms,
gradient norms on interpolates."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from wganlib.diagnostics import (
    fraction_at_bound,
    interpolate_grad_norms,
    layer_grad_norms,
    summarize_critic,
    weight_values,
    weighted_layers,
)
from wganlib.lipschitz import apply_spectral_norm, clip_weights_
from wganlib.models import MLPCritic


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def critic(seed: int = 0, depth: int = 3) -> MLPCritic:
    torch.manual_seed(seed)  # test-local: the models draw from the global RNG
    return MLPCritic(2, width=16, depth=depth)


def test_weight_values_and_fraction_at_bound():
    f = critic()
    n = sum(p.numel() for p in f.parameters())
    assert weight_values(f).shape == (n,)
    assert fraction_at_bound(f, 10.0) == 0.0  # nothing near a far bound
    clip_weights_(f, 1e-4)  # init weights are much larger: almost all end at +-c
    assert fraction_at_bound(f, 1e-4) > 0.95
    assert np.abs(weight_values(f)).max() <= 1e-4 + 1e-12
    with pytest.raises(ValueError):
        fraction_at_bound(f, 0.0)


def test_layer_grad_norms_match_manual_backward():
    f = critic(1)
    real = torch.randn(32, 2, generator=gen(0))
    fake = torch.randn(32, 2, generator=gen(1)) + 1.0
    norms = layer_grad_norms(f, real, fake)
    assert [n for n, _ in norms] == [n for n, _ in weighted_layers(f)]
    assert len(norms) == 4  # 3 hidden layers + output
    assert all(p.grad is None for p in f.parameters())  # .grad left untouched
    (f(fake).mean() - f(real).mean()).backward()
    manual = [float(m.weight.grad.norm()) for _, m in weighted_layers(f)]
    np.testing.assert_allclose([v for _, v in norms], manual, rtol=1e-5)


def test_layer_grad_norms_vanish_with_small_clipping():
    """Clipping at a tiny c shrinks every layer's gradient by orders of magnitude."""
    real = torch.randn(64, 2, generator=gen(0))
    fake = torch.randn(64, 2, generator=gen(1)) + 1.0
    big, small = critic(2, depth=6), critic(2, depth=6)
    clip_weights_(big, 0.1)
    clip_weights_(small, 0.001)
    gb = np.array([v for _, v in layer_grad_norms(big, real, fake)])
    gs = np.array([v for _, v in layer_grad_norms(small, real, fake)])
    assert (gs < 1e-3 * gb).all()


def test_layer_grad_norms_under_spectral_norm():
    f = apply_spectral_norm(critic(3))
    real, fake = torch.randn(8, 2, generator=gen(0)), torch.randn(8, 2, generator=gen(1))
    norms = layer_grad_norms(f, real, fake)
    assert len(norms) == 4 and all(v > 0 for _, v in norms)


class Linear(nn.Module):
    def __init__(self, a):
        super().__init__()
        self.a = nn.Parameter(a)

    def forward(self, x):
        return (x * self.a).flatten(1).sum(1)


def test_interpolate_grad_norms_of_a_linear_critic():
    """f(x) = <a, x> has gradient a everywhere: every norm is ||a||."""
    a = torch.tensor([[3.0, -4.0], [0.0, 1.0]])
    real = torch.randn(10, 2, 2, generator=gen(0))
    fake = torch.randn(10, 2, 2, generator=gen(1))
    g = interpolate_grad_norms(Linear(a), real, fake, generator=gen(2))
    assert g.shape == (10,)
    torch.testing.assert_close(g, torch.full((10,), float(a.norm())))


def test_interpolate_grad_norms_follow_interpolation_weights():
    """f(x) = ||x||^2 / 2 has gradient x: the norm at t*x + (1-t)*0 is t*||x||."""

    class HalfSquare(nn.Module):
        def forward(self, x):
            return 0.5 * x.pow(2).flatten(1).sum(1)

    real = torch.ones(1000, 3)
    g = interpolate_grad_norms(HalfSquare(), real, torch.zeros(1000, 3), generator=gen(0))
    t = g / 3**0.5
    assert 0.0 <= t.min() and t.max() <= 1.0
    assert abs(float(t.mean()) - 0.5) < 0.05  # t ~ U[0, 1]


def test_summarize_critic_of_a_linear_critic():
    """For f(x) = <a, x>: estimate <a, mean(real) - mean(fake)>, every gradient norm ||a||."""
    a = torch.tensor([0.6, -0.8])
    real = torch.randn(200, 2, generator=gen(0)) + torch.tensor([1.0, 0.0])
    fake = torch.randn(200, 2, generator=gen(1))
    s = summarize_critic(Linear(a), real, fake, c=0.7)
    expected = float((real.mean(0) - fake.mean(0)) @ a)
    assert s.estimate == pytest.approx(expected, rel=1e-5)
    assert s.lipschitz == pytest.approx(1.0, rel=1e-5)
    np.testing.assert_allclose(s.interpolate_norms, 1.0, rtol=1e-5)
    assert s.layer_norms == ()  # no Linear/Conv layers: nothing per layer
    assert s.at_bound == 0.5  # |0.8| >= 0.99 * 0.7, |0.6| is not
