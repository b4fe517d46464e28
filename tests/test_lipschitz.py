"""Tests for wganlib.lipschitz: clipping, gradient penalty, spectral norm, empirical constants."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from wganlib.lipschitz import (
    GradientPenalty,
    WeightClipping,
    apply_spectral_norm,
    clip_weights_,
    clipped_parameters,
    empirical_lipschitz,
    get_lipschitz,
    gradient_penalty,
    interpolates,
)


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


class Linear(nn.Module):
    """f(x) = <a, x> summed over all non-batch dims."""

    def __init__(self, a: torch.Tensor):
        super().__init__()
        self.a = nn.Parameter(a.clone())

    def forward(self, x):
        return (x * self.a).flatten(1).sum(1)


class HalfSquare(nn.Module):
    """f(x) = ||x||^2 / 2, whose gradient is x itself."""

    def forward(self, x):
        return 0.5 * x.flatten(1).pow(2).sum(1)


def net_with_bn() -> nn.Module:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(2, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 1))
    with torch.no_grad():
        for p in net.parameters():
            p.mul_(0).add_(5.0)  # far outside any clipping box
    return net


def test_clip_bounds_hold_including_batch_norm():
    net = net_with_bn()
    clip_weights_(net, 0.01)
    assert all(p.abs().max() <= 0.01 for p in net.parameters())
    assert len(clipped_parameters(net)) == 6


def test_clip_can_skip_norm_layers():
    net = net_with_bn()
    names = [n for n, _ in clipped_parameters(net, include_batch_norm=False)]
    assert names == ["0.weight", "0.bias", "3.weight", "3.bias"]
    clip_weights_(net, 0.01, include_batch_norm=False)
    assert net[0].weight.abs().max() <= 0.01 and net[3].bias.abs().max() <= 0.01
    assert torch.all(net[1].weight == 5.0) and torch.all(net[1].bias == 5.0)


def test_clip_strategy_before_and_after():
    net = net_with_bn()
    before = get_lipschitz("clip", c=0.1, when="before")
    before.after_critic_step(net)
    assert net[0].weight.max() == 5.0  # nothing happens after the step
    before.before_critic_step(net)
    assert net[0].weight.max() <= 0.1
    after = WeightClipping(c=0.05)
    after.before_critic_step(net)
    assert net[0].weight.max().item() == pytest.approx(0.1)
    after.after_critic_step(net)
    assert net[0].weight.max() <= 0.05
    with pytest.raises(ValueError):
        get_lipschitz("clip", when="during")


def test_gradient_penalty_linear_critic_by_hand():
    a = torch.tensor([3.0, 4.0])  # |a| = 5
    real, fake = torch.randn(16, 2, generator=gen(0)), torch.randn(16, 2, generator=gen(1))
    gp = gradient_penalty(Linear(a), real, fake, generator=gen(2))
    assert gp.item() == pytest.approx((5.0 - 1.0) ** 2)
    method = get_lipschitz("gp", **{"lambda": 10.0})
    assert method.penalty(Linear(a), real, fake).item() == pytest.approx(160.0)


def test_gradient_penalty_norm_is_over_all_non_batch_dims():
    a = torch.zeros(3, 4, 4)
    a[0] = 0.25  # channel 0: 16 entries of 0.25 -> |a| = 1 over (C, H, W); channel norms 1, 0, 0
    a[1, 0, 0] = 1.0  # now |a| = sqrt(2) over all dims
    real, fake = torch.randn(8, 3, 4, 4), torch.randn(8, 3, 4, 4)
    gp = gradient_penalty(Linear(a), real, fake, generator=gen(0))
    assert gp.item() == pytest.approx((2**0.5 - 1) ** 2, rel=1e-5)


def test_interpolation_is_per_example_not_per_pixel():
    real, fake = torch.ones(6, 3, 4, 4), torch.zeros(6, 3, 4, 4)
    x_hat = interpolates(real, fake, generator=gen(5))
    t = torch.rand(6, 1, 1, 1, generator=gen(5))
    assert torch.allclose(x_hat, t.expand_as(x_hat))
    # f = |x|^2/2 has gradient x_hat, so ||grad|| = t_i * sqrt(48) for example i
    gp = gradient_penalty(HalfSquare(), real, fake, generator=gen(5))
    expected = ((t.flatten() * 48**0.5 - 1) ** 2).mean()
    assert gp.item() == pytest.approx(expected.item(), rel=1e-5)
    t_pixel = torch.rand(6, 3, 4, 4, generator=gen(5))  # what a per-pixel draw would give
    per_pixel = ((t_pixel.flatten(1).norm(dim=1) - 1) ** 2).mean()
    assert abs(per_pixel.item() - gp.item()) > 0.1


def test_gradient_penalty_backpropagates_into_the_critic():
    critic = Linear(torch.tensor([3.0, 4.0]))
    gp = gradient_penalty(critic, torch.randn(4, 2), torch.randn(4, 2))
    gp.backward()
    # d/da (|a| - 1)^2 = 2 (|a| - 1) a / |a|
    assert torch.allclose(critic.a.grad, 2 * 4 * torch.tensor([3.0, 4.0]) / 5)


def test_one_sided_penalty():
    small = Linear(torch.tensor([0.3, 0.4]))  # |a| = 0.5
    real, fake = torch.randn(8, 2), torch.randn(8, 2)
    assert gradient_penalty(small, real, fake, one_sided=True).item() == 0.0
    assert gradient_penalty(small, real, fake).item() == pytest.approx(0.25)
    lp = get_lipschitz("lp", lam=2.0)
    assert isinstance(lp, GradientPenalty) and lp.one_sided and lp.name == "lp"
    big = Linear(torch.tensor([3.0, 4.0]))
    assert lp.penalty(big, real, fake).item() == pytest.approx(2.0 * 16.0)


def test_spectral_norm_brings_top_singular_value_to_one():
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Linear(5, 32), nn.ReLU(), nn.Conv1d(1, 4, 3), nn.Flatten(), nn.Linear(120, 1)
    )
    with torch.no_grad():
        net[0].weight.mul_(10)
    method = get_lipschitz("sn")
    net = method.prepare(net)
    net.train()
    x = torch.randn(7, 5)
    for _ in range(30):  # each training-mode forward runs one power iteration
        net[4](net[3](net[2](net[1](net[0](x)).unsqueeze(1))))
    for layer in (net[0], net[2], net[4]):
        w = layer.weight.reshape(layer.weight.shape[0], -1)
        assert torch.linalg.matrix_norm(w, ord=2).item() == pytest.approx(1.0, abs=0.02)
    apply_spectral_norm(net)  # idempotent: a second call adds nothing
    assert len(net[0].parametrizations.weight) == 1


def test_empirical_lipschitz_of_a_linear_map():
    a = torch.tensor([3.0, -4.0])
    f = Linear(a)
    x = torch.randn(200, 2, generator=gen(0))
    assert empirical_lipschitz(f, x) == pytest.approx(5.0)
    y = torch.randn(200, 2, generator=gen(1))
    lower = empirical_lipschitz(f, x, y)
    assert 4.5 < lower <= 5.0 + 1e-5  # pairs along a give the full constant, others less


def test_empirical_lipschitz_of_a_nonlinear_critic():
    x = torch.randn(100, 3, generator=gen(0))
    # |grad| of |x|^2/2 is |x|: the max over the sample
    assert empirical_lipschitz(HalfSquare(), x) == pytest.approx(x.norm(dim=1).max().item())


def test_get_lipschitz_names_and_errors():
    assert get_lipschitz("none").penalty(None, torch.ones(2, 2), torch.ones(2, 2)).item() == 0.0
    assert not get_lipschitz("clip").has_penalty and get_lipschitz("gp").has_penalty
    with pytest.raises(ValueError, match="choose one of"):
        get_lipschitz("orthogonal")
    with pytest.raises(ValueError, match="bad parameters"):
        get_lipschitz("sn", c=0.01)
