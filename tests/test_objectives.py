"""Tests for wganlib.objectives: hand-computed losses on tiny score tensors."""

from __future__ import annotations

import math

import pytest
import torch

from wganlib.objectives import get_objective

REAL = torch.tensor([1.0, 3.0])
FAKE = torch.tensor([-2.0, 0.0])


def sig(s: float) -> float:
    return 1 / (1 + math.exp(-s))


def test_wgan_values_and_signs():
    obj = get_objective("wgan")
    est = obj.estimate(REAL, FAKE)
    assert est.item() == pytest.approx(2.0 - (-1.0))
    assert obj.critic_loss(REAL, FAKE).item() == pytest.approx(-est.item())
    assert obj.generator_loss(FAKE).item() == pytest.approx(1.0)


def test_gan_values_by_hand():
    obj = get_objective("gan")
    L = 0.5 * (math.log(sig(1)) + math.log(sig(3))) + 0.5 * (
        math.log(1 - sig(-2)) + math.log(1 - sig(0))
    )
    assert obj.critic_loss(REAL, FAKE).item() == pytest.approx(-L, rel=1e-6)
    assert obj.estimate(REAL, FAKE).item() == pytest.approx(0.5 * L + math.log(2), rel=1e-6)
    g = 0.5 * (math.log(1 - sig(-2)) + math.log(1 - sig(0)))
    assert obj.generator_loss(FAKE).item() == pytest.approx(g, rel=1e-6)


def test_nsgan_generator_loss_and_shared_discriminator():
    ns, gan = get_objective("nsgan"), get_objective("gan")
    g = -0.5 * (math.log(sig(-2)) + math.log(sig(0)))
    assert ns.generator_loss(FAKE).item() == pytest.approx(g, rel=1e-6)
    assert ns.critic_loss(REAL, FAKE).item() == pytest.approx(gan.critic_loss(REAL, FAKE).item())


def test_js_bound_zero_for_constant_half_and_log2_for_perfect_discriminator():
    obj = get_objective("gan")
    zeros = torch.zeros(5)
    assert obj.estimate(zeros, zeros).item() == pytest.approx(0.0, abs=1e-7)
    big = torch.full((5,), 50.0)  # D(x) -> 1 on real, D(g(z)) -> 0 on fake: saturated
    assert obj.estimate(big, -big).item() == pytest.approx(math.log(2), abs=1e-6)


def test_saturation_gradients():
    # when D confidently rejects fakes, the minimax generator gradient vanishes, -log D does not
    s = torch.tensor([-10.0], requires_grad=True)
    (gm,) = torch.autograd.grad(get_objective("gan").generator_loss(s), s)
    (gn,) = torch.autograd.grad(get_objective("nsgan").generator_loss(s), s)
    assert abs(gm.item()) < 1e-4 < abs(gn.item())


def test_stable_for_large_logits():
    obj = get_objective("gan")
    s = torch.tensor([1e4, -1e4])
    assert torch.isfinite(obj.critic_loss(s, -s)) and torch.isfinite(obj.generator_loss(s))


def test_unknown_name():
    with pytest.raises(ValueError, match="choose one of"):
        get_objective("lsgan")
