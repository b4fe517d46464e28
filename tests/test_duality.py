"""Tests for the dual (Kantorovich) potentials of wganlib.distances."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from wganlib.distances import (
    exact_w1,
    kantorovich_potential,
    potential_1d,
    potential_agreement,
    w1_1d,
)


def _pair(n=120, m=90, d=2, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)), rng.normal(size=(m, d)) * 0.5 + 1.0


@pytest.mark.parametrize("d", [1, 2, 3])
def test_potential_attains_w1(d):
    x, y = _pair(d=d)
    pot = kantorovich_potential(x, y)
    assert pot.w1 == pytest.approx(exact_w1(x, y), abs=1e-9)
    # Kantorovich-Rubinstein: E_P f - E_Q f equals W1 for the c-transform of POT's v
    assert pot.dual_value() == pytest.approx(pot.w1, abs=1e-7)


def test_potential_is_one_lipschitz_and_respects_the_dual_constraints():
    x, y = _pair(seed=1)
    pot = kantorovich_potential(x, y)
    rng = np.random.default_rng(2)
    p, q = rng.normal(size=(400, 2)) * 2, rng.normal(size=(400, 2)) * 2
    ratio = np.abs(pot(p) - pot(q)) / np.linalg.norm(p - q, axis=1)
    assert ratio.max() <= 1 + 1e-9
    assert np.all(pot(x) >= pot.u - 1e-9)  # f(x_i) >= u_i
    assert np.all(pot(y) <= -pot.v + 1e-9)  # f(y_j) <= -v_j
    # a translation: the optimal potential is linear, slope -1 along the shift, between supports
    z = rng.normal(size=(100, 2))
    shifted = kantorovich_potential(z, z + np.array([3.0, 0.0]))
    assert shifted.w1 == pytest.approx(3.0, abs=1e-9)
    assert shifted.dual_value() == pytest.approx(3.0, abs=1e-7)


def test_potential_chunks_and_torch_module_agree():
    x, y = _pair(seed=3)
    pot = kantorovich_potential(torch.as_tensor(x), y)  # tensors are accepted
    pts = np.random.default_rng(4).normal(size=(50, 2))
    assert np.allclose(pot(pts, chunk=7), pot(pts))
    module = pot.as_module()
    t = torch.as_tensor(pts, dtype=torch.float32).requires_grad_(True)
    out = module(t)
    assert out.shape == (50,)
    assert np.allclose(out.detach().numpy(), pot(pts), atol=1e-4)
    (grad,) = torch.autograd.grad(out.sum(), t)
    assert torch.allclose(grad.norm(dim=1), torch.ones(50), atol=1e-4)  # |grad f| = 1 a.e.


def test_potential_1d_closed_form():
    rng = np.random.default_rng(5)
    for x, y in [
        (rng.normal(0, 1, 300), rng.normal(0.3, 2, 250)),  # CDFs cross: slope changes sign
        (rng.normal(-2.5, 0.5, 200), rng.normal(2.5, 0.5, 200)),
    ]:
        f = potential_1d(x, y, np.concatenate([x, y]))
        assert f[: x.size].mean() - f[x.size :].mean() == pytest.approx(w1_1d(x, y), abs=1e-9)
        grid = np.linspace(-8, 8, 2001)
        slopes = np.diff(potential_1d(x, y, grid)) / np.diff(grid)
        assert np.all(np.abs(slopes) <= 1 + 1e-9)
    # far-apart Gaussians: real on the left, so f decreases with slope -1 between the two
    grid = np.linspace(-1, 1, 21)
    assert np.allclose(np.diff(potential_1d(x, y, grid)), -0.1)
    # agrees with the POT potential between the samples, up to a constant
    pot = kantorovich_potential(x, y)
    between = np.linspace(-2.4, 2.4, 50)
    agree = potential_agreement(pot(between), potential_1d(x, y, between))
    assert agree["corr"] > 0.999 and agree["rel_l2"] < 1e-6


def test_potential_agreement_removes_constants_and_detects_mismatch():
    g = np.linspace(0, 1, 20)
    assert potential_agreement(g + 5.0, g) == pytest.approx({"corr": 1.0, "rel_l2": 0.0}, abs=1e-12)
    bad = potential_agreement(-g, g)
    assert bad["corr"] == pytest.approx(-1.0) and bad["rel_l2"] == pytest.approx(2.0)


@pytest.mark.parametrize(
    "call",
    [
        lambda: kantorovich_potential(np.zeros((3, 2)), np.zeros((3, 3))),
        lambda: kantorovich_potential(np.zeros((0, 2)), np.zeros((3, 2))),
        lambda: kantorovich_potential(np.zeros((3, 2)), np.zeros((3, 2)))(np.zeros((2, 3))),
        lambda: potential_1d(np.zeros((3, 2)), np.zeros(3), np.zeros(4)),
        lambda: potential_agreement(np.zeros(3), np.zeros(4)),
        lambda: potential_agreement(np.arange(3.0), np.ones(3)),
    ],
)
def test_bad_input_raises(call):
    with pytest.raises(ValueError):
        call()
